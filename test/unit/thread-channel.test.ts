import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ThreadChannel } from '../../src/threads/channel.ts';

type Call = { op: 'echo' | 'fail' | 'exit' | 'hang'; value?: unknown };
const channel = (opts: { idleUnref?: boolean; closeMessage?: boolean } = {}) =>
  new ThreadChannel<Call>({ callerUrl: import.meta.url, name: '../fixtures/echo-thread', what: 'the echo thread', ...opts });

test('a call is answered with its value; a failure keeps its message and name', async () => {
  const c = channel();
  try {
    assert.deepEqual(await c.call({ op: 'echo', value: { a: [1, 'x'] } }), { a: [1, 'x'] });
    const calls = await Promise.all([1, 2, 3].map((value) => c.call<number>({ op: 'echo', value })));
    assert.deepEqual(calls, [1, 2, 3], 'each reply reaches its own call');
    await assert.rejects(c.call({ op: 'fail' }), { name: 'Boom', message: 'it failed' });
    assert.equal(c.inFlight, 0);
  } finally {
    await c.close();
  }
});

test('a thread that stops fails every call it held; the next call starts another', async () => {
  const c = channel();
  try {
    const held = c.call({ op: 'hang' });
    const dying = c.call({ op: 'exit' });
    await assert.rejects(held, /the echo thread stopped \(exit code 3\)/);
    await assert.rejects(dying, /the echo thread stopped \(exit code 3\)/);
    assert.equal(c.inFlight, 0);
    assert.equal(await c.call({ op: 'echo', value: 'again' }), 'again');
  } finally {
    await c.close();
  }
});

test('close: by message, the thread ends itself and calls still held fail; without, it is terminated', async () => {
  for (const closeMessage of [true, false]) {
    const c = channel({ closeMessage });
    assert.equal(await c.call({ op: 'echo', value: 1 }), 1);
    const held = c.call({ op: 'hang' });
    await c.close();
    await assert.rejects(held, /the echo thread stopped/, `closeMessage ${closeMessage}`);
    await c.close();
  }
});

test('an idle thread keeps no process alive when idleUnref is set; one with a call in flight does', () => {
  const script = (hang: boolean) => `
    import { ThreadChannel } from ${JSON.stringify(new URL('../../src/threads/channel.ts', import.meta.url).href)};
    const c = new ThreadChannel({ callerUrl: ${JSON.stringify(import.meta.url)}, name: '../fixtures/echo-thread', what: 'the echo thread', idleUnref: true });
    console.log(await c.call({ op: 'echo', value: 'answered' }));
    ${hang ? "void c.call({ op: 'hang' });" : ''}`;
  const run = (hang: boolean) =>
    spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script(hang)], { cwd: fileURLToPath(new URL('../..', import.meta.url)), encoding: 'utf8', timeout: 8000 });
  const idle = run(false);
  assert.equal(idle.status, 0, idle.stderr);
  assert.equal(idle.stdout.trim(), 'answered', 'the process exits on its own once the call is answered');
  const busy = run(true);
  assert.equal(busy.status, null, 'a call in flight keeps the process running (ended by the timeout)');
  assert.equal(busy.signal, 'SIGTERM');
});
