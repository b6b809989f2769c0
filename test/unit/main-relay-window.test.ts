/** The relay calls the window's per-peer detail, helper log, copy and save use. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRelay, formatLogText } from '../../main/relay.js';
import { TunnelStoreView } from '../../main/tunnel-store-view.js';

function relayWith(replies: Record<string, unknown>) {
  const requests: [string, unknown][] = [];
  const copied: string[] = [];
  const written: [string, string][] = [];
  let savePath: string | null = '/home/me/wirelane-helper.log';
  const client = {
    request: async (type: string, params: unknown) => {
      requests.push([type, params]);
      return { ok: true, value: replies[type] };
    },
  };
  const relay = createRelay({
    client: client as never,
    view: new TunnelStoreView({ state: 'connecting', socketPath: '/x' }, 'linux'),
    requestedDisconnects: new Set(),
    desktop: {
      pickImportFiles: async () => null,
      chooseSavePath: async (name, kind) => (savePath === null ? null : (assert.equal(kind, 'log'), assert.match(name, /\.log$/), savePath)),
      writeFile: async (path, bytes) => void written.push([path, new TextDecoder().decode(bytes)]),
      copyText: (text) => void copied.push(text),
    },
  });
  return { relay, requests, copied, written, cancelSave: () => (savePath = null) };
}

const entries = [
  { time: Date.UTC(2026, 11, 2, 15, 0, 0), level: 'info', message: 'helper listening', name: null },
  { time: Date.UTC(2026, 11, 2, 15, 0, 1), level: 'warn', message: 'handshake did not complete', name: 'office' },
];

test('getTunnelDetails is the helper’s show; getHelperLog its helperLog', async () => {
  const { relay, requests } = relayWith({ show: { status: {}, device: null }, helperLog: { entries } });
  assert.deepEqual(await relay.getTunnelDetails('office'), { ok: true, value: { status: {}, device: null } });
  assert.deepEqual(await relay.getHelperLog(), { ok: true, value: { entries } });
  assert.deepEqual(requests, [['show', { name: 'office' }], ['helperLog', {}]]);
});

test('copyLog and saveLog write the log main reads from the helper, as text, never text from the window', async () => {
  const { relay, copied, written, requests, cancelSave } = relayWith({ helperLog: { entries }, logs: { name: 'office', entries: [entries[1]] } });
  assert.deepEqual(await relay.copyLog(null), { ok: true, value: null });
  assert.equal(copied[0], '2026-12-02T15:00:00.000Z INFO  helper: helper listening\n2026-12-02T15:00:01.000Z WARN  office: handshake did not complete\n');
  assert.deepEqual(await relay.saveLog('office'), { ok: true, value: { savedTo: '/home/me/wirelane-helper.log' } });
  assert.deepEqual(requests.at(-1), ['logs', { name: 'office' }]);
  assert.equal(written[0]?.[1], '2026-12-02T15:00:01.000Z WARN  office: handshake did not complete\n');
  cancelSave();
  const result = await relay.saveLog(null);
  assert.equal(result.ok, false);
  assert.equal(!result.ok && result.error.code, 'cancelled');
  assert.equal(written.length, 1);
});

test('formatLogText of a tunnel’s own log leaves the name out', () => {
  assert.equal(formatLogText([{ time: 0, level: 'error', message: 'x' }]), '1970-01-01T00:00:00.000Z ERROR x\n');
});
