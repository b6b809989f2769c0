import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { silentLogger } from '../../engine/logger.js';
import type { HelperEvent } from '../../engine/helper/protocol.js';
import { HelperClient } from '../../main/helper-client.js';
import type { HelperAvailability } from '../../main/ipc-schema.js';
import { FakeHelper } from '../e2e/fake-helper.js';

/** Waits (bounded) until check() holds. */
async function until(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function scratch() {
  const dir = mkdtempSync(join(tmpdir(), 'wirelane-client-'));
  return { dir, socketPath: join(dir, 'helper.sock'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

test('connects, subscribes, relays requests and fans events out to every listener', async () => {
  const { socketPath, cleanup } = scratch();
  const fake = new FakeHelper(socketPath);
  await fake.listen();
  const client = new HelperClient({ socketPath, logger: silentLogger, reconnectDelaysMs: [20] });
  try {
    client.start();
    await until(() => client.availability.state === 'running', 'running');
    assert.deepEqual(
      fake.received.map((r) => r.type),
      ['version', 'subscribe'],
    );
    const first: HelperEvent[] = [];
    const second: HelperEvent[] = [];
    client.onEvent(() => {
      throw new Error('a broken listener must not stop the others');
    });
    client.onEvent((e) => first.push(e));
    const stopSecond = client.onEvent((e) => second.push(e));

    const imported = await client.request('import', { name: 'office', confText: '[Interface]\nPrivateKey = x\n' });
    assert.deepEqual(imported, { ok: true, value: { name: 'office', hasScripts: false, fullTunnel: false } });
    const refused = await client.request('import', { name: 'broken', confText: 'nonsense\n' });
    assert.equal(refused.ok, false);
    assert.deepEqual(!refused.ok && refused.error.problems, [{ line: 1, message: 'expected [Interface] or [Peer]' }]);

    await until(() => first.length === 1 && second.length === 1, 'the tunnels event at both listeners');
    assert.equal(first[0]?.event, 'tunnels');
    stopSecond();
    await client.request('connect', { name: 'office' });
    await until(() => first.length === 2, 'the status event');
    assert.equal(second.length, 1, 'an unsubscribed listener hears nothing more');
    const event = first[1];
    assert.ok(event?.event === 'status');
    assert.equal(event.tunnels[0]?.status.state, 'connected');
  } finally {
    client.stop();
    await fake.close();
    cleanup();
  }
});

test('when the helper goes away: pending requests end, state says not running, and it reconnects and resubscribes', async () => {
  const { dir, socketPath, cleanup } = scratch();
  let fake = new FakeHelper(socketPath);
  await fake.listen();
  const seen: HelperAvailability['state'][] = [];
  const client = new HelperClient({ socketPath, logger: silentLogger, reconnectDelaysMs: [20, 40], isInstalled: () => true });
  client.onAvailability((a) => seen.push(a.state));
  try {
    client.start();
    await until(() => client.availability.state === 'running', 'running');
    await fake.close();
    rmSync(socketPath, { force: true });
    await until(() => client.availability.state === 'not_running', 'not_running');
    // First the open connection closes; the next attempts find no socket at all.
    await until(() => client.availability.state === 'not_running' && client.availability.detail === 'its socket does not exist', 'ENOENT verdict');
    const whileDown = await client.request('list', {});
    assert.deepEqual(whileDown, { ok: false, error: { code: 'helper_unavailable', message: 'the Wirelane helper is not running' } });

    fake = new FakeHelper(socketPath);
    await fake.listen();
    await until(() => client.availability.state === 'running', 'running again');
    assert.deepEqual(
      fake.received.map((r) => r.type),
      ['version', 'subscribe'],
      'a new connection subscribes again',
    );
    assert.equal(seen[0], 'running');
    assert.equal(seen.at(-1), 'running');
    assert.ok(seen.slice(1, -1).length > 0 && seen.slice(1, -1).every((s) => s === 'not_running'), seen.join(','));
    assert.ok(dir);
  } finally {
    client.stop();
    await fake.close();
    cleanup();
  }
});

test('a request the helper drops mid-flight resolves as helper_unavailable, never hangs', async () => {
  const { socketPath, cleanup } = scratch();
  // A helper that answers the handshake, then hangs up on the first real request.
  const server = createServer((socket) => {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      for (const line of chunk.split('\n').filter(Boolean)) {
        const request = JSON.parse(line) as { id: number; type: string };
        if (request.type === 'version') socket.write(JSON.stringify({ id: request.id, ok: true, result: { helperVersion: 'x', protocolVersion: 1, platform: 'linux' } }) + '\n');
        else if (request.type === 'subscribe') socket.write(JSON.stringify({ id: request.id, ok: true, result: {} }) + '\n');
        else socket.destroy();
      }
    });
  });
  await new Promise<void>((r) => server.listen(socketPath, () => r()));
  const client = new HelperClient({ socketPath, logger: silentLogger, reconnectDelaysMs: [1000] });
  try {
    client.start();
    await until(() => client.availability.state === 'running', 'running');
    const result = await client.request('connect', { name: 'office' });
    assert.equal(result.ok, false);
    assert.equal(!result.ok && result.error.code, 'helper_unavailable');
  } finally {
    client.stop();
    await new Promise<void>((r) => server.close(() => r()));
    cleanup();
  }
});

test('garbage and protocol-breaking lines from the helper are dropped; the reply after them still arrives', async () => {
  const { socketPath, cleanup } = scratch();
  const server = createServer((socket) => {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      for (const line of chunk.split('\n').filter(Boolean)) {
        const request = JSON.parse(line) as { id: number; type: string };
        if (request.type === 'version') socket.write(JSON.stringify({ id: request.id, ok: true, result: { helperVersion: 'x', protocolVersion: 1, platform: 'linux' } }) + '\n');
        else if (request.type === 'subscribe') socket.write(JSON.stringify({ id: request.id, ok: true, result: {} }) + '\n');
        else socket.write(`not json\n{"event":"nope"}\n{"id":${request.id},"ok":true,"result":{"tunnels":[]}}\n`);
      }
    });
  });
  await new Promise<void>((r) => server.listen(socketPath, () => r()));
  const client = new HelperClient({ socketPath, logger: silentLogger });
  try {
    client.start();
    await until(() => client.availability.state === 'running', 'running');
    assert.deepEqual(await client.request('list', {}), { ok: true, value: { tunnels: [] } });
  } finally {
    client.stop();
    await new Promise<void>((r) => server.close(() => r()));
    cleanup();
  }
});

test('no socket folder means not installed', async () => {
  const { socketPath, cleanup } = scratch();
  const client = new HelperClient({ socketPath, logger: silentLogger, isInstalled: () => false, reconnectDelaysMs: [1000] });
  try {
    client.start();
    await until(() => client.availability.state !== 'connecting', 'a verdict');
    assert.equal(client.availability.state, 'not_installed');
  } finally {
    client.stop();
    cleanup();
  }
});

test('a user the helper refuses by peer credentials sees the helper\'s reason, not "not running"', async () => {
  const { socketPath, cleanup } = scratch();
  const reason = 'uid 1000 is not root and not in the group wirelane: ask an administrator to add you to it';
  // What the helper does for a refused peer: one forbidden reply with no id, then it closes.
  const server = createServer((socket) => {
    socket.on('error', () => {});
    socket.end(`${JSON.stringify({ id: null, ok: false, error: { code: 'forbidden', message: reason } })}\n`);
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  const seen: HelperAvailability[] = [];
  const client = new HelperClient({ socketPath, logger: silentLogger, reconnectDelaysMs: [50] });
  try {
    client.onAvailability((a) => seen.push(a));
    client.start();
    await until(() => client.availability.state === 'refused', 'the refused state');
    assert.equal(client.availability.state === 'refused' && client.availability.detail, reason);
    assert.ok(!seen.some((a) => a.state === 'not_running'), 'never shown as not running');
  } finally {
    client.stop();
    server.close(); // its last refused connections may still be closing; nothing waits on them
    cleanup();
  }
});
