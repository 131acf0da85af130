import { PassThrough, Readable, Transform, type TransformCallback } from 'node:stream';
import busboy from 'busboy';
import type { CallContext, RestRequest, RestResponse } from '../../server/service.ts';
import { algorithmForHeader, checksumHeaderName, parseChecksumAlgorithm, type ChecksumAlgorithm } from '../../wire/checksums.ts';
import { AwsError } from '../../wire/errors.ts';
import { buildXml, parseXml } from '../../wire/xml.ts';
import { checkObjectWriteAcl } from '../acl.ts';
import { s3ConditionKeys, type S3Context } from '../context.ts';
import { AccessDenied, InvalidArgument, InvalidRequest, MalformedXML, NotImplemented } from '../errors.ts';
import { sseAudit, sseEchoHeaders, storedHeaders } from '../object-data.ts';
import { checkFileSize, checkPostPolicy, maxFileSize, parsePostPolicy, PolicyEntityTooLarge } from '../post-policy.ts';
import type { ObjectRecord, Tag } from '../objects.ts';
import type { S3Route } from '../routing.ts';
import { objectArn, parseSseHeaders, type KeyProtection, type SseRequest } from '../sse.ts';
import { checkObjectTags, requestTagKeys, tagsOfDocument } from '../tagging.ts';
import { writeObject } from './objects.ts';

/**
 * POST Object: an upload from an HTML form (multipart/form-data), as browsers send it and as the SDKs' presigned POSTs
 * (createPresignedPost, generate_presigned_post) prepare it. The form's fields come first, the file last; the fields
 * (at most 20 KB with their boundaries) carry the key, the object's headers and SSE, and a SigV4-signed policy that
 * authenticates the request and bounds what it may store. The file streams into the encryptor like a PutObject body,
 * through the same write (writeObject), never held whole; fields after the file are ignored, as S3 ignores them.
 */

/** What S3 allows of the form before the file: fields and boundaries together. */
const MAX_PRE_DATA = 20 * 1024;
/** While the fields are read, the body is fed to the parser in slices this small, so the 20 KB bound is kept exactly enough. */
const SLICE = 256;
const MAX_OBJECT = 5 * 1024 ** 3;
/** After a file over its size limit, at most this much more is read to tell its size (then the connection closes). */
const MAX_SIZE_PROBE = 64 * 1024 * 1024;

const SIGV4_FIELDS = ['x-amz-algorithm', 'x-amz-credential', 'x-amz-date', 'x-amz-signature', 'policy'];
/** How S3 names a missing field in its refusal. */
const FIELD_NAMES: Record<string, string> = {
  'x-amz-algorithm': 'X-Amz-Algorithm',
  'x-amz-credential': 'X-Amz-Credential',
  'x-amz-date': 'X-Amz-Date',
  'x-amz-signature': 'X-Amz-Signature',
  policy: 'Policy',
};

class MaxPostPreDataLengthExceeded extends AwsError {
  constructor() {
    super('MaxPostPreDataLengthExceeded', 400, 'Your POST request fields preceeding the upload file was too large.', { MaxPostPreDataLengthBytes: String(MAX_PRE_DATA) });
  }
}

function malformed(): AwsError {
  return new AwsError('MalformedPOSTRequest', 400, 'The body of your POST request is not well-formed multipart/form-data.');
}

function missingField(name: string): InvalidArgument {
  return new InvalidArgument(`Bucket POST must contain a field named '${name}'.  If it is specified, please check the order of the fields.`, name, '');
}

interface Form {
  /** The fields before the file, names lower-cased (the first of a repeated name counts). */
  fields: Map<string, string>;
  file: Readable;
  filename: string | undefined;
  /** Settles once the whole body has been parsed (fields after the file ignored), or fails with the parse. */
  done: Promise<void>;
  /** Stop parsing: what is left of the body is the pipeline's to drain or cut off. */
  stop: () => void;
}

/** Counts what goes to the parser and, until the file begins, passes it in small slices. */
class PreDataMeter extends Transform {
  bytes = 0;
  fileStarted = false;
  override _transform(chunk: Buffer, _e: BufferEncoding, done: TransformCallback): void {
    if (this.fileStarted) {
      this.bytes += chunk.length;
      return done(null, chunk);
    }
    for (let i = 0; i < chunk.length; i += SLICE) {
      if (this.fileStarted) {
        this.bytes += chunk.length - i;
        this.push(chunk.subarray(i));
        break;
      }
      const piece = chunk.subarray(i, i + SLICE);
      this.bytes += piece.length;
      this.push(piece);
    }
    done();
  }
}

/** Read the form up to its file: the fields before it, and the file as a stream. */
function readForm(req: RestRequest): Promise<Form> {
  return new Promise<Form>((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({ headers: { 'content-type': req.headers['content-type'] }, limits: { fieldSize: MAX_PRE_DATA, fieldNameSize: 1024 }, defParamCharset: 'utf8' });
    } catch {
      reject(malformed());
      return;
    }
    const meter = new PreDataMeter();
    const fields = new Map<string, string>();
    let form: Form | undefined;
    let settleDone: (err?: unknown) => void = () => {};
    const done = new Promise<void>((res, rej) => {
      settleDone = (err) => (err ? rej(err) : res());
    });
    done.catch(() => {});
    const stop = () => {
      req.body.unpipe(meter);
      meter.unpipe(bb);
    };
    const fail = (err: unknown) => {
      stop();
      if (!form) reject(err);
      else {
        form.file.emit('error', err instanceof Error ? err : malformed());
        settleDone(err);
      }
    };
    const overLimit = () => !meter.fileStarted && meter.bytes > MAX_PRE_DATA;
    bb.on('field', (name, value, info) => {
      if (form) return; // after the file: ignored
      if (overLimit() || info.valueTruncated) return fail(new MaxPostPreDataLengthExceeded());
      const lower = name.toLowerCase();
      if (lower === 'file') {
        // The file's contents may come as a plain field too.
        meter.fileStarted = true;
        form = { fields, file: Readable.from([Buffer.from(value, 'utf8')]), filename: undefined, done, stop };
        resolve(form);
        return;
      }
      if (!fields.has(lower)) fields.set(lower, value);
    });
    bb.on('file', (name, stream, info) => {
      if (form || name.toLowerCase() !== 'file') {
        // A second file, or a file under another field's name: S3 reads one file, named 'file'.
        stream.resume();
        return;
      }
      if (overLimit()) {
        stream.resume();
        return fail(new MaxPostPreDataLengthExceeded());
      }
      meter.fileStarted = true;
      // A parse failure reaches the file's reader through the stream; none may go unheard meanwhile.
      stream.on('error', () => {});
      form = { fields, file: stream, filename: info.filename, done, stop };
      resolve(form);
    });
    bb.on('error', () => fail(malformed()));
    bb.on('close', () => {
      if (!form) {
        if (overLimit()) return reject(new MaxPostPreDataLengthExceeded());
        reject(new InvalidArgument('POST requires exactly one file upload per request.', 'file', '0'));
      } else settleDone();
    });
    meter.on('data', () => {
      if (overLimit()) fail(new MaxPostPreDataLengthExceeded());
    });
    req.body.on('error', (err) => fail(err));
    req.body.pipe(meter).pipe(bb);
  });
}

/** The credential scope of x-amz-credential: <access key>/<YYYYMMDD>/<region>/s3/aws4_request. */
function credentialOf(value: string): { accessKeyId: string; date: string; region: string; service: string } {
  const p = value.split('/');
  if (p.length !== 5 || !p[0] || !/^\d{8}$/.test(p[1]!) || !p[2] || p[3] !== 's3' || p[4] !== 'aws4_request') {
    throw new InvalidArgument(
      `Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`,
      'X-Amz-Credential',
      value,
    );
  }
  return { accessKeyId: p[0], date: p[1]!, region: p[2]!, service: p[3]! };
}

/**
 * The file's bytes for the encryptor, stopped at `limit`: past it nothing more is stored, and the rest of the file is
 * read (up to a bound) only to tell its size, which the refusal names.
 */
function gated(file: Readable, limit: number): { body: Readable; over: () => boolean; size: () => Promise<{ bytes: number; complete: boolean; over: boolean }> } {
  const body = new PassThrough();
  let bytes = 0;
  let over = false;
  const size = new Promise<{ bytes: number; complete: boolean; over: boolean }>((resolve) => {
    file.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (!over && bytes > limit) {
        over = true;
        body.end();
      }
      if (!over) {
        if (!body.write(chunk)) file.pause();
      } else if (bytes > limit + MAX_SIZE_PROBE) {
        file.destroy();
        resolve({ bytes, complete: false, over });
      }
    });
    body.on('drain', () => file.resume());
    file.on('end', () => {
      if (!over) body.end();
      resolve({ bytes, complete: true, over });
    });
    file.on('error', (err) => {
      body.destroy(err);
      resolve({ bytes, complete: false, over });
    });
  });
  return { body, over: () => over, size: () => size };
}

/** Where the new object can be fetched: the bucket's URL as the form reached it, and the key. */
function objectUrl(req: RestRequest, bucket: string, key: string): string {
  const host = req.headers['host'] ?? '';
  const virtualHost = host.toLowerCase().startsWith(`${bucket}.`);
  return `https://${host}/${virtualHost ? '' : `${bucket}/`}${encodeURIComponent(key)}`;
}

export async function postObject(s3: S3Context, ctx: CallContext, r: S3Route, req: RestRequest): Promise<RestResponse> {
  const bucket = r.bucket!;
  s3.touchBucket(ctx, bucket);
  if (!/^multipart\/form-data\s*;/i.test(req.headers['content-type'] ?? '')) {
    throw new AwsError('PreconditionFailed', 412, 'At least one of the pre-conditions you specified did not hold', { Condition: 'Bucket POST must be of the enclosure-type multipart/form-data' });
  }
  if (!ctx.signIn) throw new NotImplemented('an Authorization header or presigned query on a POST form upload (its signed policy authenticates it)');
  const signIn = ctx.signIn;
  await s3.bucketOf(bucket);
  const form = await readForm(req);
  const { fields } = form;
  try {
    const rawKey = fields.get('key');
    if (rawKey === undefined || rawKey === '') throw missingField('key');
    const key = rawKey.replaceAll('${filename}', form.filename ?? '');
    // The event names the object, as for a PutObject.
    r.key = key;
    const { key: checkedKey } = s3.requireKey({ ...r, key });
    s3.touchObject(ctx, bucket, checkedKey);

    // Authentication: the SigV4 fields sign the policy. Without them the upload is anonymous, which Trent never allows.
    if (fields.has('awsaccesskeyid') || fields.has('signature')) {
      throw new InvalidRequest('The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.');
    }
    if (!SIGV4_FIELDS.some((f) => fields.has(f))) throw new AccessDenied();
    for (const f of SIGV4_FIELDS) if (!fields.get(f)) throw missingField(FIELD_NAMES[f]!);
    if (fields.get('x-amz-algorithm') !== 'AWS4-HMAC-SHA256') {
      throw new InvalidArgument('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"', 'X-Amz-Algorithm', fields.get('x-amz-algorithm')!);
    }
    const credential = credentialOf(fields.get('x-amz-credential')!);
    const policyText = fields.get('policy')!;
    const token = fields.get('x-amz-security-token');
    await signIn({ ...credential, ...(token !== undefined ? { sessionToken: token } : {}), stringToSign: policyText, signature: fields.get('x-amz-signature')! });
    const policy = parsePostPolicy(policyText);
    checkPostPolicy(policy, new Map([...fields, ['key', key]]), bucket, s3.now());

    // The form's fields stand for the headers a PutObject would carry.
    const headers: Record<string, string | undefined> = Object.create(null) as Record<string, string | undefined>;
    for (const [name, value] of fields) if (!SIGV4_FIELDS.includes(name)) headers[name] = value;
    if (fields.has('acl')) headers['x-amz-acl'] = fields.get('acl');
    // The tagging field: a <Tagging> document, as PutObjectTagging's body; its tags reach policies as s3:RequestObjectTag/<key>.
    const tagging = fields.get('tagging');
    const tags = tagging === undefined ? undefined : tagsOfField(tagging);
    delete headers['tagging'];
    const b = await s3.bucketOf(bucket);
    await ctx.authorize({
      action: 's3:PutObject',
      resource: objectArn(bucket, key),
      resourcePolicy: b.policy,
      mode: 'resource-or-identity',
      context: { ...s3ConditionKeys({ headers, query: req.query }), ...requestTagKeys(tags), 's3:authType': 'POST', 's3:x-amz-content-sha256': undefined },
    });
    if (tags !== undefined) {
      await s3.authorizeObject(ctx, req, 's3:PutObjectTagging', bucket, key, requestTagKeys(tags));
      checkObjectTags(tags);
    }
    checkObjectWriteAcl(headers, s3.owner);
    const sse = parseSseHeaders(headers);
    const stored = storedHeaders({ ...headers, 'content-encoding': fields.get('content-encoding') });

    // Integrity fields: Content-MD5, and x-amz-checksum-<algorithm> (with x-amz-checksum-algorithm, if given, agreeing).
    const md5 = fields.get('content-md5');
    const sent = [...fields.keys()].filter((n) => algorithmForHeader(n) !== undefined && n !== 'x-amz-checksum-algorithm' && n !== 'x-amz-checksum-type');
    if (sent.length > 1) throw new InvalidRequest('Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.');
    const declaredAlg = fields.get('x-amz-checksum-algorithm');
    let alg: ChecksumAlgorithm | undefined = sent.length ? algorithmForHeader(sent[0]!) : undefined;
    if (declaredAlg !== undefined) {
      const a = parseChecksumAlgorithm(declaredAlg);
      if (!a || (alg && a !== alg)) throw new InvalidRequest(`Checksum algorithm ${declaredAlg} is not supported.`);
      alg = a;
    }
    const expectedChecksum = alg ? fields.get(checksumHeaderName(alg)) : undefined;

    const limit = Math.min(MAX_OBJECT, maxFileSize(policy) ?? MAX_OBJECT);
    const gate = gated(form.file, limit);
    let written: Awaited<ReturnType<typeof writeObject>>;
    try {
      written = await writeObject(s3, ctx, {
        bucket,
        key,
        headers: stored,
        sse,
        checksum: alg,
        body: gate.body,
        limit,
        ...(tags !== undefined ? { settings: { tags, lock: {} } } : {}),
        // Only the whole file, as the form declared it, becomes the object: checked before the row is written.
        accept: (file) => {
          if (gate.over()) throw new FileTooLarge();
          checkFileSize(policy, file.size);
          if (md5 !== undefined && md5 !== file.md5.toString('base64')) throw new AwsError('BadDigest', 400, 'The Content-MD5 you specified did not match what we received.');
          if (expectedChecksum !== undefined && file.checksum !== expectedChecksum) {
            throw new AwsError('BadDigest', 400, `The ${alg!.toLowerCase()} you specified did not match the calculated checksum.`);
          }
        },
      });
    } catch (err) {
      if (!(err instanceof FileTooLarge)) throw err;
      const size = await gate.size();
      throw new PolicyEntityTooLarge(size.complete ? size.bytes : undefined, limit);
    }
    await form.done;
    return answer(req, fields, bucket, key, written.record, written.protection, sse);
  } catch (err) {
    form.stop();
    throw err;
  }
}

class FileTooLarge extends Error {}

/** The tags of a form's tagging field (a <Tagging><TagSet> document), not yet checked. */
function tagsOfField(text: string): Tag[] {
  let doc;
  try {
    doc = parseXml(text);
  } catch {
    throw new MalformedXML();
  }
  return tagsOfDocument(doc);
}

/**
 * The answer S3 gives a form: a 303 to success_action_redirect (with bucket, key and etag added to its query) when it
 * is a URL, else the success_action_status asked for: 200 or 204 empty, 201 a PostResponse document; 204 otherwise.
 */
function answer(
  req: RestRequest,
  fields: ReadonlyMap<string, string>,
  bucket: string,
  key: string,
  record: ObjectRecord,
  protection: KeyProtection,
  sse: SseRequest,
): RestResponse {
  const etag = `"${record.etag}"`;
  const location = objectUrl(req, bucket, key);
  const headers: Record<string, string | number> = {
    etag,
    location,
    ...sseEchoHeaders(protection, sse),
    ...(record.checksum ? { [checksumHeaderName(record.checksum.algorithm)]: record.checksum.value } : {}),
  };
  const audit = sseAudit(protection);
  const redirect = fields.get('success_action_redirect') ?? fields.get('redirect');
  if (redirect !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(redirect);
    } catch {
      url = undefined;
    }
    if (url && (url.protocol === 'http:' || url.protocol === 'https:')) {
      url.searchParams.append('bucket', bucket);
      url.searchParams.append('key', key);
      url.searchParams.append('etag', etag);
      return { status: 303, headers: { ...headers, location: url.toString(), 'content-length': 0 }, audit };
    }
  }
  const status = fields.get('success_action_status');
  if (status === '201') {
    const body = Buffer.from(buildXml({ PostResponse: { Location: location, Bucket: bucket, Key: key, ETag: etag } }));
    return { status: 201, headers: { ...headers, 'content-type': 'application/xml', 'content-length': body.length }, body, audit };
  }
  return { status: status === '200' ? 200 : 204, headers: { ...headers, 'content-length': 0 }, audit };
}
