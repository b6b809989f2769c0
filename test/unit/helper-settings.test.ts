/**
 * The helper's own settings (log level) as helper state: getSettings / setSettings over the
 * control socket, `wirelane settings` on the command line, stored atomically in the store so a
 * restarted helper starts at the stored level, and nothing accepted that the schema refuses.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHelper, type RunningHelper } from '../../engine/helper/helper.js';
import { HelperClient, HelperRequestError } from '../../engine/helper/client.js';
import { PREFERENCES_FILE } from '../../engine/helper/store.js';
import { TUNNEL_NAME_PATTERN, requestSchema, type LogLevel } from '../../engine/helper/protocol.js';
import { nobleBackend } from '../../engine/crypto/index.js';
import { silentLogger } from '../../engine/logger.js';
import { runWirelane, type CliIo } from '../../engine/cli/wirelane.js';
import { noOs } from '../support/helper-fakes.js';

const root = mkdtempSync(join(tmpdir(), 'wirelane-settings-'));
const running: RunningHelper[] = [];
after(async () => {
  for (const helper of running) await helper.stop();
  rmSync(root, { recursive: true, force: true });
});

async function start(store: string, applied: LogLevel[]): Promise<{ socket: string; helper: RunningHelper }> {
  const socket = join(root, `run-${running.length}`, 'helper.sock');
  const helper = await startHelper({
    socketPath: socket,
    storeDir: store,
    logger: silentLogger,
    crypto: nobleBackend,
    os: noOs,
    openTun: () => {
      throw new Error('not used');
    },
    createBind: () => {
      throw new Error('not used');
    },
    launcher: { up: () => Promise.reject(new Error('not used')) },
    watchNetwork: false,
    groupFile: join(root, 'no-such-group-file'),
    applyLogLevel: (level) => applied.push(level),
  });
  running.push(helper);
  return { socket, helper };
}

function io(): CliIo & { out: string; err: string } {
  const sink = {
    out: '',
    err: '',
    stdout(text: string) {
      sink.out += text;
    },
    stderr(text: string) {
      sink.err += text;
    },
    readStdin: () => Promise.resolve(''),
    now: () => 0,
  };
  return sink;
}

test('log level: read and changed over the socket and by wirelane settings, stored, and applied at start', async () => {
  const store = join(root, 'store');
  const applied: LogLevel[] = [];
  const first = await start(store, applied);
  assert.deepEqual(applied, ['info'], 'the default level is applied at start');

  const client = await HelperClient.connect(first.socket);
  try {
    assert.deepEqual(await client.request('getSettings', {}), { settings: { logLevel: 'info' } });
    assert.deepEqual(await client.request('setSettings', {}), { settings: { logLevel: 'info' } }, 'an empty change keeps everything');
  } finally {
    client.close();
  }

  const read = io();
  assert.equal(await runWirelane(['--socket', first.socket, 'settings'], read), 0);
  assert.equal(read.out, 'log-level: info\n');
  const changed = io();
  assert.equal(await runWirelane(['--socket', first.socket, 'settings', 'log-level', 'debug'], changed), 0, changed.err);
  assert.equal(changed.out, 'log-level: debug\n');
  assert.deepEqual(applied, ['info', 'debug'], 'the new level is applied at once');

  const file = join(store, PREFERENCES_FILE);
  assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { logLevel: 'debug' });
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.ok(!TUNNEL_NAME_PATTERN.test(PREFERENCES_FILE.replace(/\.json$/, '')), 'no tunnel metadata file can be the settings file');

  // A restarted helper starts at the stored level.
  await first.helper.stop();
  running.splice(running.indexOf(first.helper), 1);
  const restartedLevels: LogLevel[] = [];
  const second = await start(store, restartedLevels);
  assert.deepEqual(restartedLevels, ['debug']);
  const again = io();
  assert.equal(await runWirelane(['--socket', second.socket, 'settings'], again), 0);
  assert.equal(again.out, 'log-level: debug\n');
});

test('settings the schema refuses are refused whole, by the helper and by the command line', async () => {
  assert.equal(requestSchema.safeParse({ id: 1, type: 'setSettings', logLevel: 'verbose' }).success, false);
  assert.equal(requestSchema.safeParse({ id: 1, type: 'setSettings', allowScripts: true }).success, false, 'no admin setting through this door');
  const store = join(root, 'store-refused');
  const applied: LogLevel[] = [];
  const { socket } = await start(store, applied);
  const client = await HelperClient.connect(socket);
  try {
    const refused = await client.request('setSettings', { logLevel: 'verbose' as LogLevel }).catch((e: unknown) => e);
    assert.ok(refused instanceof HelperRequestError);
    assert.equal(refused.error.code, 'bad_request');
    assert.deepEqual(await client.request('getSettings', {}), { settings: { logLevel: 'info' } });
  } finally {
    client.close();
  }
  for (const args of [['settings', 'log-level'], ['settings', 'log-level', 'loud'], ['settings', 'colour', 'red'], ['settings', 'log-level', 'info', 'extra']]) {
    const sink = io();
    assert.equal(await runWirelane(['--socket', socket, ...args], sink), 2, args.join(' '));
    assert.match(sink.err, /^usage: wirelane settings/);
  }
  assert.deepEqual(applied, ['info']);
});

test('a settings file of the wrong shape reads as the defaults instead of stopping the helper', async () => {
  const store = join(root, 'store-garbled');
  const applied: LogLevel[] = [];
  const first = await start(store, applied);
  await first.helper.stop();
  running.splice(running.indexOf(first.helper), 1);
  writeFileSync(join(store, PREFERENCES_FILE), '{"logLevel": "shouting"', { mode: 0o600 });
  const { socket } = await start(store, applied);
  const client = await HelperClient.connect(socket);
  try {
    assert.deepEqual(await client.request('getSettings', {}), { settings: { logLevel: 'info' } });
  } finally {
    client.close();
  }
});
