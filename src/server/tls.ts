import { readFile, stat } from 'node:fs/promises';
import { webcrypto, X509Certificate as NodeX509 } from 'node:crypto';
import { isIP } from 'node:net';
import { join } from 'node:path';
import 'reflect-metadata'; // @peculiar/x509's dependency injection needs it loaded first
import * as x509 from '@peculiar/x509';
import { writeFileAtomic } from '../store/atomic-file.ts';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 24 * 3600 * 1000;
/** Names every local server certificate carries. */
export const DEFAULT_SANS = ['localhost', '127.0.0.1', '::1'];

export interface TlsMaterial {
  key: Buffer;
  cert: Buffer;
  /** The CA a client must trust: Trent's local CA, or the operator's chain. */
  caPath: string;
  generated: boolean;
}

export interface TlsOptions {
  dataDir: string;
  /** Operator-supplied PEM certificate (chain) and key; when given, nothing is generated. */
  certPath?: string;
  keyPath?: string;
  caPath?: string;
  /** Extra DNS names or IP addresses for the generated server certificate. */
  extraSans?: string[];
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

function pem(label: string, der: ArrayBuffer): string {
  return x509.PemConverter.encode(der, label) + '\n';
}

function serial(): string {
  const b = webcrypto.getRandomValues(new Uint8Array(16));
  b[0] = b[0]! & 0x7f;
  return Buffer.from(b).toString('hex');
}

/**
 * The listener's certificate. By default Trent keeps a local CA (ECDSA P-256, ten years) in
 * tls/ and issues itself a server certificate for localhost, 127.0.0.1 and ::1 (plus any extra
 * names), renewed when it nears expiry or lacks a requested name.
 */
export async function ensureTlsMaterial(opts: TlsOptions): Promise<TlsMaterial> {
  if (opts.certPath || opts.keyPath) {
    if (!opts.certPath || !opts.keyPath) throw new Error('--tls-cert and --tls-key must be given together');
    return {
      cert: await readFile(opts.certPath),
      key: await readFile(opts.keyPath),
      caPath: opts.caPath ?? opts.certPath,
      generated: false,
    };
  }
  const dir = join(opts.dataDir, 'tls');
  const caCertPath = join(dir, 'ca.pem');
  const caKeyPath = join(dir, 'ca-key.pem');
  const certPath = join(dir, 'server.pem');
  const keyPath = join(dir, 'server-key.pem');
  const sans = [...new Set([...DEFAULT_SANS, ...(opts.extraSans ?? [])])];

  let caCert: x509.X509Certificate;
  let caKeys: CryptoKeyPair;
  if ((await exists(caCertPath)) && (await exists(caKeyPath))) {
    caCert = new x509.X509Certificate(await readFile(caCertPath, 'utf8'));
    const caKeyDer = x509.PemConverter.decodeFirst(await readFile(caKeyPath, 'utf8'));
    caKeys = {
      privateKey: await webcrypto.subtle.importKey('pkcs8', caKeyDer, ALG, false, ['sign']),
      publicKey: await caCert.publicKey.export(ALG, ['verify']),
    } as CryptoKeyPair;
  } else {
    caKeys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
    const now = Date.now();
    caCert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serial(),
      name: 'CN=Trent local CA, O=Trent',
      notBefore: new Date(now - DAY),
      notAfter: new Date(now + 3650 * DAY),
      keys: caKeys,
      signingAlgorithm: ALG,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
      ],
    });
    await writeFileAtomic(caKeyPath, pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', caKeys.privateKey)), 0o600);
    await writeFileAtomic(caCertPath, caCert.toString('pem') + '\n', 0o644);
  }

  if ((await exists(certPath)) && (await exists(keyPath))) {
    const current = new NodeX509(await readFile(certPath));
    const names = current.subjectAltName ?? '';
    const fresh = new Date(current.validTo).getTime() - Date.now() > 30 * DAY;
    const covers = sans.every((n) => names.includes(isIP(n) ? `IP Address:${n === '::1' ? '0:0:0:0:0:0:0:1' : n}` : `DNS:${n}`) || names.includes(`IP Address:${n}`));
    if (fresh && covers && current.checkIssued(new NodeX509(caCert.toString('pem')))) {
      return { cert: await readFile(certPath), key: await readFile(keyPath), caPath: caCertPath, generated: false };
    }
  }

  const leafKeys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
  const now = Date.now();
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: 'CN=localhost, O=Trent',
    issuer: caCert.subject,
    notBefore: new Date(now - DAY),
    notAfter: new Date(now + 397 * DAY),
    signingKey: caKeys.privateKey,
    publicKey: leafKeys.publicKey,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(sans.map((n) => (isIP(n) ? { type: 'ip' as const, value: n } : { type: 'dns' as const, value: n }))),
      await x509.SubjectKeyIdentifierExtension.create(leafKeys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  const key = pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', leafKeys.privateKey));
  const cert = leaf.toString('pem') + '\n';
  await writeFileAtomic(keyPath, key, 0o600);
  await writeFileAtomic(certPath, cert, 0o644);
  return { cert: Buffer.from(cert), key: Buffer.from(key), caPath: caCertPath, generated: true };
}
