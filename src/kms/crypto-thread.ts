// A thread of the KMS crypto pool (crypto-pool.ts): it runs the slow asymmetric operations so that the event loop
// serving requests does not wait for them.
import { createHash } from 'node:crypto';
import { constants, setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import { dataKeyPair, rsaDecrypt, rsaEncrypt, signMessage, verifyMessage } from './asymmetric.ts';
import type { PoolCall, PoolReply } from './crypto-pool.ts';

/**
 * Key material arrives as a fresh copy with every call; asymmetric.ts keeps parsed KeyObjects per Buffer (parsing is a
 * quarter of an RSA signature's cost), so each distinct material is kept here as one Buffer, found by its hash.
 */
const materials = new Map<string, Buffer>();
function material(m: Uint8Array): Buffer {
  const b = Buffer.from(m.buffer, m.byteOffset, m.byteLength);
  const id = createHash('sha256').update(b).digest('base64');
  let kept = materials.get(id);
  if (!kept) {
    if (materials.size >= 1000) materials.clear();
    kept = b;
    materials.set(id, kept);
  }
  return kept;
}
/**
 * This thread runs at the lowest scheduling priority (on Linux the nice value belongs to the thread, and pid 0 names
 * the calling one): when the cores are busy, the threads serving requests and recording them come first, so that a
 * flood of RSA signatures slows the signatures, not every other call. With idle cores, the signatures get them all.
 */
try {
  setPriority(0, constants.priority.PRIORITY_LOW);
} catch {
  // Not permitted here: the thread runs at the process's priority.
}

const buf = (m: Uint8Array) => Buffer.from(m.buffer, m.byteOffset, m.byteLength);

parentPort!.on('message', (m: PoolCall) => {
  let reply: PoolReply;
  try {
    switch (m.op) {
      case 'sign': {
        const [spec, mat, algorithm, message, digest, keySpec] = m.args;
        reply = { id: m.id, ok: true, value: signMessage(spec, material(mat), algorithm, buf(message), digest, keySpec) };
        break;
      }
      case 'verify': {
        const [spec, mat, algorithm, message, digest, signature, keySpec] = m.args;
        reply = { id: m.id, ok: true, value: verifyMessage(spec, material(mat), algorithm, buf(message), digest, buf(signature), keySpec) };
        break;
      }
      case 'rsaDecrypt': {
        const [mat, algorithm, ciphertext] = m.args;
        reply = { id: m.id, ok: true, value: rsaDecrypt(material(mat), algorithm, buf(ciphertext)) };
        break;
      }
      case 'rsaEncrypt': {
        const [mat, algorithm, plaintext] = m.args;
        reply = { id: m.id, ok: true, value: rsaEncrypt(material(mat), algorithm, buf(plaintext)) };
        break;
      }
      case 'dataKeyPair':
        reply = { id: m.id, ok: true, value: dataKeyPair(...m.args) };
        break;
    }
  } catch (err) {
    reply = { id: m.id, ok: false, message: (err as Error).message, name: (err as Error).name };
  }
  parentPort!.postMessage(reply);
});
