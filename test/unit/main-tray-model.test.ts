import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TunnelState, TunnelSummary } from '../../engine/helper/protocol.js';
import type { HelperAvailability } from '../../main/ipc-schema.js';
import { trayModel, trayStatesChanged, type TrayItem } from '../../main/tray-model.js';

const running: HelperAvailability = { state: 'running', socketPath: '/run/wirelane/helper.sock', helperVersion: '0.1.0', platform: 'linux' };

function tunnel(name: string, status: TunnelState): TunnelSummary {
  return {
    name,
    publicKey: 'x'.repeat(43) + '=',
    addresses: ['10.0.0.2/32'],
    endpoints: ['192.0.2.1:51820'],
    hasScripts: false,
    fullTunnel: false,
    killSwitch: false,
    status: { name, status, latestHandshake: null, rxBytes: 0, txBytes: 0, endpoint: null },
  };
}

const states: TunnelState[] = [
  { state: 'disconnected' },
  { state: 'connecting', since: 1 },
  { state: 'connected', since: 1 },
  { state: 'reconnecting', since: 1, unansweredSince: 2 },
  { state: 'failed', reason: 'cannot resolve vpn.example.com' },
];

const labels = (items: TrayItem[]) => items.map((i) => (i.kind === 'separator' ? '---' : i.label));

test('no tunnels: the menu says so and still offers import, manage, launch at login and quit', () => {
  const model = trayModel({ helper: running, tunnels: [], launchAtLogin: false, platform: 'linux' });
  assert.equal(model.icon, 'disconnected');
  assert.equal(model.iconFile, 'tray-disconnected.png');
  assert.deepEqual(labels(model.items), ['No tunnels yet', '---', 'Import tunnel from file…', 'Manage tunnels…', '---', 'Launch at login', 'Quit Wirelane']);
  const launch = model.items.find((i) => i.kind === 'checkbox' && i.label === 'Launch at login');
  assert.deepEqual(launch && launch.kind === 'checkbox' ? [launch.checked, launch.action] : null, [false, { type: 'toggle-launch-at-login', enabled: true }]);
});

test('one tunnel in every state: icon, toggle direction, checked mark and state word', () => {
  const expected = {
    disconnected: { icon: 'disconnected', checked: false, action: 'connect', word: 'off' },
    connecting: { icon: 'connecting', checked: true, action: 'disconnect', word: 'connecting…' },
    connected: { icon: 'connected', checked: true, action: 'disconnect', word: 'connected' },
    reconnecting: { icon: 'reconnecting', checked: true, action: 'disconnect', word: 'reconnecting…' },
    failed: { icon: 'failed', checked: false, action: 'connect', word: 'failed' },
  } as const;
  for (const state of states) {
    const model = trayModel({ helper: running, tunnels: [tunnel('office', state)], launchAtLogin: true, platform: 'linux' });
    const want = expected[state.state];
    assert.equal(model.icon, want.icon, state.state);
    const toggle = model.items[0];
    assert.ok(toggle && toggle.kind === 'checkbox', state.state);
    assert.equal(toggle.label, `office — ${want.word}`);
    assert.equal(toggle.checked, want.checked);
    assert.deepEqual(toggle.action, { type: want.action, name: 'office' });
  }
});

test('many tunnels: one toggle each in order; the icon shows a reconnecting tunnel first, then the most connected state', () => {
  const tunnels = states.map((s, i) => tunnel(`t${i}`, s));
  const model = trayModel({ helper: running, tunnels, launchAtLogin: false, platform: 'linux' });
  assert.equal(model.icon, 'reconnecting');
  assert.equal(model.tooltip, 'Wirelane: connected to t2; t3 not answering, reconnecting');
  const withoutReconnecting = trayModel({ helper: running, tunnels: tunnels.filter((t) => t.name !== 't3'), launchAtLogin: false, platform: 'linux' });
  assert.equal(withoutReconnecting.icon, 'connected');
  assert.equal(withoutReconnecting.tooltip, 'Wirelane: connected to t2');
  const onlyFailed = trayModel({ helper: running, tunnels: [tunnels[0]!, tunnels[4]!], launchAtLogin: false, platform: 'linux' });
  assert.deepEqual([onlyFailed.icon, onlyFailed.tooltip], ['failed', 'Wirelane: t4 failed']);
  const toggles = model.items.filter((i) => i.kind === 'checkbox' && i.label !== 'Launch at login');
  assert.deepEqual(labels(toggles), ['t0 — off', 't1 — connecting…', 't2 — connected', 't3 — reconnecting…', 't4 — failed']);

  const noneConnected = trayModel({ helper: running, tunnels: [tunnel('a', states[0]!), tunnel('b', states[1]!)], launchAtLogin: false, platform: 'linux' });
  assert.equal(noneConnected.icon, 'connecting');
  assert.equal(noneConnected.tooltip, 'Wirelane: connecting');
});

test('macOS gets template images', () => {
  const model = trayModel({ helper: running, tunnels: [tunnel('a', { state: 'connected', since: 1 })], launchAtLogin: false, platform: 'darwin' });
  assert.equal(model.iconFile, 'tray-connectedTemplate.png');
});

test('a left click opens the window on Windows and Linux; on macOS it opens the menu', () => {
  const model = (platform: NodeJS.Platform) => trayModel({ helper: running, tunnels: [], launchAtLogin: false, platform });
  assert.equal(model('win32').clickOpensWindow, true);
  assert.equal(model('linux').clickOpensWindow, true);
  assert.equal(model('darwin').clickOpensWindow, false);
});

test('helper not running: no toggles, a line saying so, import still offered', () => {
  const helper: HelperAvailability = { state: 'not_running', socketPath: '/run/wirelane/helper.sock', detail: 'nothing listens on its socket' };
  const model = trayModel({ helper, tunnels: [], launchAtLogin: false, platform: 'linux' });
  assert.equal(model.items[0]?.kind, 'label');
  assert.equal(labels(model.items)[0], 'Wirelane service not running');
  assert.equal(model.tooltip, 'Wirelane: Wirelane service not running');
  assert.deepEqual([model.icon, model.iconFile], ['helper-down', 'tray-helper-down.png']);
  for (const state of ['not_installed', 'refused'] as const) {
    const down = trayModel({ helper: { ...helper, state }, tunnels: [], launchAtLogin: false, platform: 'darwin' });
    assert.equal(down.iconFile, 'tray-helper-downTemplate.png');
  }
  assert.ok(!model.items.some((i) => i.kind === 'checkbox' && i.action.type === 'connect'));
});

test('a status update redraws the tray when a state changes, not for the live counters', () => {
  const before = [tunnel('home', { state: 'connected', since: 1 }).status, tunnel('office', { state: 'disconnected' }).status];
  const counters = before.map((s) => ({ ...s, rxBytes: s.rxBytes + 1000, latestHandshake: 5 }));
  assert.equal(trayStatesChanged(before, counters), false);
  const dropped = [before[0]!, { ...before[1]!, status: { state: 'connecting', since: 1 } as TunnelState }];
  assert.equal(trayStatesChanged(before, dropped), true);
  assert.equal(trayStatesChanged(before, before.slice(0, 1)), true);
});
