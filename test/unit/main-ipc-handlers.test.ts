import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../engine/logger.js';
import { buildBridge } from '../../main/bridge.js';
import { registerIpcHandlers, type InvokeEventLike, type IpcMainLike } from '../../main/ipc-handlers.js';
import { channelOf, invokeNames, pushNames, type IpcHandlers } from '../../main/ipc-schema.js';

const PAGE = 'file:///opt/Wirelane/resources/app.asar/renderer/dist/index.html';
const OUR_WINDOW = 7;

type Listener = (event: InvokeEventLike, ...args: unknown[]) => Promise<unknown>;

function setup() {
  const registered = new Map<string, Listener>();
  const ipcMain: IpcMainLike = {
    handle: (channel, listener) => void registered.set(channel, listener),
    removeHandler: (channel) => void registered.delete(channel),
  };
  const calls: unknown[][] = [];
  const handlers = Object.fromEntries(
    invokeNames.map((name) => [name, async (...args: unknown[]) => (calls.push([name, ...args]), { ok: true, value: null })]),
  ) as unknown as IpcHandlers;
  const unregister = registerIpcHandlers(ipcMain, handlers, { webContentsId: () => OUR_WINDOW, pageUrl: PAGE }, silentLogger);
  const call = (name: string, event: InvokeEventLike, ...args: unknown[]) => {
    const listener = registered.get(channelOf(name as never));
    assert.ok(listener, `no handler for ${name}`);
    return listener(event, ...args);
  };
  return { registered, calls, call, unregister };
}

const ours: InvokeEventLike = { sender: { id: OUR_WINDOW }, senderFrame: { url: `${PAGE}#/tunnels`, parent: null } };

test('one handler per invoke channel of the schema, and none for push channels', () => {
  const { registered, unregister } = setup();
  assert.deepEqual([...registered.keys()].sort(), invokeNames.map((n) => channelOf(n)).sort());
  for (const name of pushNames) assert.equal(registered.has(channelOf(name)), false);
  unregister();
  assert.equal(registered.size, 0);
});

test('our window with good arguments reaches the handler', async () => {
  const { call, calls } = setup();
  assert.deepEqual(await call('connectTunnel', ours, 'office'), { ok: true, value: null });
  assert.deepEqual(calls, [['connectTunnel', 'office']]);
});

test('a foreign sender is refused before the handler runs', async () => {
  const { call, calls } = setup();
  const foreign: InvokeEventLike[] = [
    { sender: { id: 99 }, senderFrame: { url: PAGE, parent: null } }, // another webContents
    { sender: { id: OUR_WINDOW }, senderFrame: { url: 'https://evil.example/', parent: null } }, // navigated away
    { sender: { id: OUR_WINDOW }, senderFrame: { url: PAGE, parent: {} } }, // a subframe
    { sender: { id: OUR_WINDOW }, senderFrame: { url: 'file:///tmp/other/index.html', parent: null } }, // another local page
    { sender: { id: OUR_WINDOW }, senderFrame: null },
  ];
  for (const event of foreign) {
    const result = (await call('deleteTunnel', event, 'office')) as { ok: boolean; error?: { code: string } };
    assert.equal(result.ok, false);
    assert.equal(result.error?.code, 'forbidden');
  }
  assert.deepEqual(calls, []);
});

test('bad arguments are refused with bad_arguments and never reach the handler', async () => {
  const { call, calls } = setup();
  const bad: [string, unknown[]][] = [
    ['connectTunnel', []],
    ['connectTunnel', [42]],
    ['connectTunnel', ['../../etc/passwd']],
    ['connectTunnel', ['a-name-longer-than-fifteen']],
    ['connectTunnel', ['office', 'extra']],
    ['importTunnel', ['office', 'x'.repeat(300 * 1024)]],
    ['importTunnel', ['office', '[Interface]\u0000']],
    ['copyPublicKey', ['rm -rf / && echo not a key']],
    ['exportTunnels', [[]]],
    ['renameTunnel', ['office', { toString: 'x' }]],
  ];
  for (const [name, args] of bad) {
    const result = (await call(name, ours, ...args)) as { ok: boolean; error?: { code: string } };
    assert.equal(result.ok, false, `${name}(${JSON.stringify(args).slice(0, 40)})`);
    assert.equal(result.error?.code, 'bad_arguments');
  }
  assert.deepEqual(calls, []);
});

test('a handler that throws returns internal, not a stack', async () => {
  const registered = new Map<string, Listener>();
  const handlers = Object.fromEntries(
    invokeNames.map((name) => [name, async () => { throw new Error('secret detail /home/x'); }]),
  ) as unknown as IpcHandlers;
  registerIpcHandlers({ handle: (c, l) => void registered.set(c, l), removeHandler: () => {} }, handlers, { webContentsId: () => OUR_WINDOW, pageUrl: PAGE }, silentLogger);
  const result = await registered.get(channelOf('getSnapshot'))!(ours);
  assert.deepEqual(result, { ok: false, error: { code: 'internal', message: 'getSnapshot failed inside the app' } });
});

test('the bridge the preload exposes has exactly the schema methods and unsubscribes on abort', async () => {
  const invoked: [string, unknown[]][] = [];
  const listeners = new Map<string, Set<(p: unknown) => void>>();
  const api = buildBridge({
    invoke: async (channel, args) => (invoked.push([channel, args]), { ok: true, value: null }),
    listen: (channel, listener) => {
      const set = listeners.get(channel) ?? new Set();
      set.add(listener);
      listeners.set(channel, set);
      return () => set.delete(listener);
    },
  });
  assert.deepEqual(Object.keys(api).sort(), [...invokeNames, ...pushNames].sort());
  assert.ok(Object.isFrozen(api));
  await api.connectTunnel('office');
  assert.deepEqual(invoked, [['wirelane:connectTunnel', ['office']]]);
  const seen: unknown[] = [];
  const controller = new AbortController();
  api.onStatus((s) => seen.push(s), { signal: controller.signal });
  for (const l of listeners.get('wirelane:onStatus') ?? []) l([]);
  controller.abort();
  for (const l of listeners.get('wirelane:onStatus') ?? []) l([]);
  assert.equal(seen.length, 1);
});
