import { createHash } from 'node:crypto';
import type { XmlObject, XmlValue } from '../wire/xml.ts';
import { AccessControlListNotSupported, InvalidArgument, InvalidBucketAclWithObjectOwnership, InvalidRequest, MalformedACLError, NotImplemented } from './errors.ts';

/**
 * Access control lists, as S3 has them on every bucket created since April 2023: Object Ownership is "bucket owner
 * enforced", so ACLs are disabled. The bucket owner owns and fully controls every object; reading an ACL answers
 * that (the owner's FULL_CONTROL); a request that sets an ACL is accepted only when the ACL it names says no more
 * than that (none, `private`, `bucket-owner-full-control`, or the owner's FULL_CONTROL alone), and is otherwise
 * refused as AWS refuses it, never silently ignored.
 */

/** The account's canonical user id (64 hex digits, as S3's are). */
export function canonicalUserId(accountId: string): string {
  return createHash('sha256').update(`trent:canonical-user:${accountId}`).digest('hex');
}

// A type, not an interface: it goes into XML documents as it is.
export type Owner = { ID: string; DisplayName: string };

/** Canned ACLs a request may name (x-amz-acl), and the ones that grant nothing beyond the owner's FULL_CONTROL. */
const CANNED = ['private', 'public-read', 'public-read-write', 'authenticated-read', 'aws-exec-read', 'bucket-owner-read', 'bucket-owner-full-control', 'log-delivery-write'];
const OWNER_ONLY_CANNED = new Set(['private', 'bucket-owner-full-control']);
const GRANT_HEADERS = ['x-amz-grant-full-control', 'x-amz-grant-read', 'x-amz-grant-read-acp', 'x-amz-grant-write', 'x-amz-grant-write-acp'];

/** The grantees of an x-amz-grant-* header: `id="..."`, `uri="..."`, `emailAddress="..."`, comma separated. */
function grantees(value: string): Array<{ type: string; value: string }> {
  return value.split(',').map((part) => {
    const eq = part.indexOf('=');
    if (eq < 0) throw new InvalidArgument('Invalid grant header: each grantee is type=value.', 'x-amz-grant', part.trim());
    return { type: part.slice(0, eq).trim().toLowerCase(), value: part.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1') };
  });
}

/**
 * Whether the ACL headers of a request (x-amz-acl, x-amz-grant-*) ask for more than the owner's FULL_CONTROL.
 * Undefined: no ACL asked for. Throws InvalidRequest for a canned ACL together with grants, InvalidArgument for an
 * unknown canned ACL.
 */
function headerAclGrantsOthers(headers: Record<string, string | undefined>, owner: Owner): boolean | undefined {
  const canned = headers['x-amz-acl']?.trim();
  const grants = GRANT_HEADERS.filter((h) => headers[h] !== undefined);
  if (canned === undefined && grants.length === 0) return undefined;
  if (canned !== undefined && grants.length > 0) throw new InvalidRequest('Specifying both Canned ACLs and Header Grants is not allowed');
  if (canned !== undefined) {
    if (!CANNED.includes(canned)) throw new InvalidArgument('The canned ACL specified is not valid.', 'x-amz-acl', canned);
    return !OWNER_ONLY_CANNED.has(canned);
  }
  if (grants.length !== 1 || grants[0] !== 'x-amz-grant-full-control') return true;
  return grantees(headers['x-amz-grant-full-control']!).some((g) => g.type !== 'id' || g.value !== owner.ID);
}

/**
 * A write that may carry an ACL (PutObject, CopyObject, CreateMultipartUpload): one granting anyone but the owner is
 * AccessControlListNotSupported (400), as on a bucket whose ACLs are disabled.
 */
export function checkObjectWriteAcl(headers: Record<string, string | undefined>, owner: Owner): void {
  if (headerAclGrantsOthers(headers, owner)) throw new AccessControlListNotSupported();
}

/**
 * CreateBucket: ACLs can be set on a new bucket only with another Object Ownership than the default, which Trent does
 * not have (NotImplemented); an ACL beyond the owner's is InvalidBucketAclWithObjectOwnership (400).
 */
export function checkCreateBucketAcl(headers: Record<string, string | undefined>, owner: Owner): void {
  const ownership = headers['x-amz-object-ownership']?.trim();
  if (ownership !== undefined && ownership !== 'BucketOwnerEnforced') {
    if (ownership === 'BucketOwnerPreferred' || ownership === 'ObjectWriter') throw new NotImplemented(`x-amz-object-ownership ${ownership} (ACLs are disabled on every Trent bucket)`);
    throw new InvalidArgument('Invalid x-amz-object-ownership header.', 'x-amz-object-ownership', ownership);
  }
  if (headerAclGrantsOthers(headers, owner)) throw new InvalidBucketAclWithObjectOwnership();
}

function child(v: XmlValue | undefined, name: string): XmlValue | undefined {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as XmlObject)[name] : undefined;
}

function list(v: XmlValue | undefined): XmlValue[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

function str(v: XmlValue | undefined): string | undefined {
  return v === undefined || v === null || typeof v === 'object' ? undefined : String(v).trim();
}

/**
 * PutBucketAcl / PutObjectAcl: the ACL from the headers or an <AccessControlPolicy> body (not both). Accepted (and
 * nothing changes) when it is the owner's FULL_CONTROL alone; anything else is AccessControlListNotSupported.
 */
export function checkPutAcl(headers: Record<string, string | undefined>, body: XmlObject | undefined, owner: Owner): void {
  const fromHeaders = headerAclGrantsOthers(headers, owner);
  if (body === undefined) {
    if (fromHeaders === undefined) throw new InvalidRequest('An ACL is required: x-amz-acl, an x-amz-grant-* header or an AccessControlPolicy document.');
    if (fromHeaders) throw new AccessControlListNotSupported();
    return;
  }
  if (fromHeaders !== undefined) throw new InvalidRequest('Specifying both the request body and ACL headers is not allowed');
  const policy = body['AccessControlPolicy'];
  if (policy === undefined || typeof policy !== 'object') throw new MalformedACLError();
  const ownerId = str(child(child(policy, 'Owner'), 'ID'));
  const grants = list(child(child(policy, 'AccessControlList'), 'Grant'));
  const ownerOnly =
    (ownerId === undefined || ownerId === owner.ID) &&
    grants.length > 0 &&
    grants.every((g) => {
      const grantee = child(g, 'Grantee');
      if (grantee === undefined) throw new MalformedACLError();
      return str(child(grantee, 'ID')) === owner.ID && str(child(grantee, 'URI')) === undefined && str(child(grantee, 'EmailAddress')) === undefined && str(child(g, 'Permission')) === 'FULL_CONTROL';
    });
  if (!ownerOnly) throw new AccessControlListNotSupported();
}

/** The ACL every bucket and object has: the owner's FULL_CONTROL (GetBucketAcl, GetObjectAcl). */
export function ownerAcl(owner: Owner, xmlns: string): XmlObject {
  return {
    AccessControlPolicy: {
      '@_xmlns': xmlns,
      Owner: { ID: owner.ID, DisplayName: owner.DisplayName },
      AccessControlList: {
        Grant: {
          Grantee: { '@_xmlns:xsi': 'http://www.w3.org/2001/XMLSchema-instance', '@_xsi:type': 'CanonicalUser', ID: owner.ID, DisplayName: owner.DisplayName },
          Permission: 'FULL_CONTROL',
        },
      },
    },
  };
}
