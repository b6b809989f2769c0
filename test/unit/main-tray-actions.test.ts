import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TunnelState, TunnelStatus } from '../../engine/helper/protocol.js';
import { applicationMenuTemplate, rolesOf } from '../../main/app-menu.js';
import { memoryAppSettings } from '../../main/app-settings.js';
import type { IpcResult } from '../../main/ipc-schema.js';
import { NotificationGate, notificationsFor, type TunnelNotification } from '../../main/notifications.js';
import { createTrayActions, type TrayActionDeps } from '../../main/tray-actions.js';

const status = (name: string, s: TunnelState): TunnelStatus => ({ name, status: s, latestHandshake: null, rxBytes: 0, txBytes: 0, endpoint: null });

function setup(connectResult: IpcResult<never>, beforeReply?: (gate: NotificationGate) => void) {
  const shown: TunnelNotification[] = [];
  const errors: string[] = [];
  const gate = new NotificationGate((note) => shown.push(note));
  const deps: TrayActionDeps = {
    relay: {
      connectTunnel: async () => {
        beforeReply?.(gate);
        return connectResult;
      },
      disconnectTunnel: async () => ({ ok: false, error: { code: 'helper_unavailable', message: 'the helper is not running' } }),
    },
    settings: memoryAppSettings(),
    notifications: gate,
    showWindow: async () => {},
    pickImportFiles: async () => [{ fileName: 'notes.txt', bytes: new Uint8Array([1]) }],
    importInWindow: async () => assert.fail('nothing to import'),
    showError: (title, body) => void errors.push(`${title}: ${body}`),
    quit: () => {},
  };
  return { shown, errors, gate, act: createTrayActions(deps) };
}

const connectFailed = { ok: false, error: { code: 'connect_failed', message: "tunnel 'office' failed to connect: no route to host" } } as const;
const toFailed = () => notificationsFor([status('office', { state: 'connecting', since: 1 })], [status('office', { state: 'failed', reason: 'no route to host' })], new Set());

test('a failed connect from the tray notifies once when the failed state arrives before the reply', async () => {
  const { shown, act } = setup(connectFailed, (gate) => toFailed().forEach((note) => gate.offer(note)));
  await act({ type: 'connect', name: 'office' });
  assert.deepEqual(shown.map((n) => n.title), ['office failed']);
});

test('a failed connect from the tray notifies once when the reply comes before the failed state', async () => {
  const { shown, gate, act } = setup(connectFailed);
  await act({ type: 'connect', name: 'office' });
  for (const note of toFailed()) gate.offer(note);
  assert.deepEqual(shown.map((n) => n.title), ['office did not connect']);
});

test('a connect the helper never saw (helper down) is still notified', async () => {
  const { shown, act } = setup({ ok: false, error: { code: 'helper_unavailable', message: 'the Wirelane service is not running' } });
  await act({ type: 'connect', name: 'office' });
  assert.deepEqual(shown.map((n) => [n.title, n.body]), [['office did not connect', 'the Wirelane service is not running']]);
});

test('tray: a failed disconnect and a file with nothing to import say so; launch at login goes through the settings', async () => {
  const { errors, act } = setup(connectFailed);
  await act({ type: 'disconnect', name: 'office' });
  await act({ type: 'import' });
  assert.equal(errors.length, 2);
  assert.match(errors[0]!, /^office was not disconnected: the helper is not running/);
  assert.match(errors[1]!, /^Nothing to import/);
  const settings = memoryAppSettings();
  const act2 = createTrayActions({ ...({} as TrayActionDeps), settings, showError: () => assert.fail() });
  await act2({ type: 'toggle-launch-at-login', enabled: true });
  assert.equal(settings.get().launchAtLogin, true);
});

test('the released app menu has no developer tools or reload; development has them', () => {
  for (const platform of ['darwin', 'win32', 'linux'] as const) {
    const released = rolesOf(applicationMenuTemplate({ platform, development: false, onImport: () => {}, onShowWindow: () => {} }));
    for (const role of ['toggleDevTools', 'reload', 'forceReload']) assert.ok(!released.includes(role), `${platform}: ${role}`);
    // The editor's shortcuts need the edit roles (on macOS nothing else provides copy and paste).
    for (const role of ['undo', 'redo', 'cut', 'copy', 'paste', 'selectAll']) assert.ok(released.includes(role), `${platform}: ${role}`);
    assert.ok(released.includes('quit'));
    const development = rolesOf(applicationMenuTemplate({ platform, development: true, onImport: () => {}, onShowWindow: () => {} }));
    assert.ok(development.includes('toggleDevTools'));
  }
  const mac = applicationMenuTemplate({ platform: 'darwin', development: false, onImport: () => {}, onShowWindow: () => {} });
  assert.equal(mac[0]?.label, 'Wirelane', 'the app menu comes first on macOS');
});
