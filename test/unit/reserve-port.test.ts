// The primary's hold on the port while its workers start (src/server/listener.ts, reservePort): it keeps another
// server's check from passing, resets any connection the kernel hands it instead of keeping it, and lets go at once
// even while clients are connecting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer } from 'node:net';
import { reservePort } from '../../src/server/listener.ts';

function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.setTimeout(5_000, () => {
      s.destroy();
      resolve('hung');
    });
    s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    s.on('close', () => resolve('closed'));
  });
}

test('the hold refuses another server the port, resets the connections it is given, and is released at once', async () => {
  const { port, release } = await reservePort('127.0.0.1', 0);
  try {
    // Another server checking the port (a bind without SO_REUSEPORT) finds it taken.
    const other = createServer();
    await assert.rejects(
      new Promise<void>((resolve, reject) => {
        other.once('error', reject);
        other.listen({ host: '127.0.0.1', port, exclusive: true }, () => resolve());
      }),
      { code: 'EADDRINUSE' },
    );
    // A client that reaches the hold is reset at once, not kept waiting for an answer that never comes.
    const outcomes = await Promise.all(Array.from({ length: 5 }, () => tryConnect(port)));
    assert.ok(
      outcomes.every((o) => o === 'ECONNRESET' || o === 'closed'),
      `every connection reset: ${outcomes.join(', ')}`,
    );
  } finally {
    const started = Date.now();
    await release();
    assert.ok(Date.now() - started < 1_000, 'released at once');
  }
  // Released: the port can be bound again.
  const again = createServer();
  await new Promise<void>((resolve) => again.listen({ host: '127.0.0.1', port, exclusive: true }, () => resolve()));
  await new Promise<void>((resolve) => again.close(() => resolve()));
});

test('a client connected to the hold does not keep it from being released', async () => {
  const { port, release } = await reservePort('127.0.0.1', 0);
  const pending = tryConnect(port);
  await new Promise((r) => setTimeout(r, 100));
  const started = Date.now();
  await release();
  assert.ok(Date.now() - started < 1_000, 'released at once');
  assert.notEqual(await pending, 'hung');
});
