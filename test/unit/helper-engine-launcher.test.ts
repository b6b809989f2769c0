/**
 * The engine launcher (engine/helper/engine-launcher.ts) with a fake operating system and an
 * in-memory TUN and UDP bind: the scripts gate (a .conf's PreUp/PostUp/PreDown/PostDown run only
 * when root approved exactly these scripts of this tunnel), endpoint host names resolved before anything is created, and the rollback of a
 * connect that fails half way (what was done is undone in reverse; nothing is left open).
 *
 * The scripts really run (/bin/sh -c, as wg-quick): each writes a marker file into a temporary
 * directory, so "not run" is a file that does not exist, not a log line.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBind, MemoryNetwork } from '../../engine/conn/memory-bind.js';
import { parseConf } from '../../engine/conf/parse.js';
import { Device } from '../../engine/device/device.js';
import { createConfInspector } from '../../engine/helper/conf-info.js';
import { createEngineLauncher, reresolveDue, RERESOLVE_INTERVAL_MS } from '../../engine/helper/engine-launcher.js';
import { scriptsDigest, type ScriptsApproval } from '../../engine/helper/script-approval.js';
import type { EngineDevice } from '../../engine/device/api.js';
import { keyToBase64 } from '../../engine/keys.js';
import type { Logger } from '../../engine/logger.js';
import type { AppliedTunnel, OsConfigurator, OsTunnelInput, OsTunnelPlan, SystemFacts, UndoReport } from '../../engine/os/types.js';
import { MemoryTun } from '../../engine/tun/memory-tun.js';
import { crypto } from '../support/device-harness.js';

const scratch = mkdtempSync(join(tmpdir(), 'wirelane-launcher-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const ownKey = keyToBase64(crypto.generatePrivateKey());
const peerKey = keyToBase64(crypto.publicKey(crypto.generatePrivateKey()));

function conf(options: { endpoint?: string; scripts?: Partial<Record<'PreUp' | 'PostUp' | 'PreDown' | 'PostDown', string>>; mtu?: number } = {}): string {
  const scripts = Object.entries(options.scripts ?? {}).map(([hook, command]) => `${hook} = ${command}`);
  return [
    '[Interface]',
    `PrivateKey = ${ownKey}`,
    'Address = 10.9.0.2/24',
    ...(options.mtu !== undefined ? [`MTU = ${options.mtu}`] : []),
    ...scripts,
    '',
    '[Peer]',
    `PublicKey = ${peerKey}`,
    'AllowedIPs = 10.9.0.0/24',
    `Endpoint = ${options.endpoint ?? '192.0.2.9:51820'}`,
    '',
  ].join('\n');
}

/** Everything the launcher did to the fake system, in order. */
type Event = string;

interface Fakes {
  events: Event[];
  /** Tunnel name -> its stored approval, as the store's metadata would give it. */
  approvals: Map<string, ScriptsApproval>;
  /** Makes one step fail: the OS apply, the device's configuration, the TUN's creation. */
  fail: { apply?: boolean; applySet?: boolean; openTun?: boolean; probe?: boolean };
  osInputs: OsTunnelInput[];
  tuns: MemoryTun[];
  devices: Device[];
  resolved: string[];
  warnings: string[];
  logger: Logger;
  launcher: ReturnType<typeof createEngineLauncher>;
  resolveAnswers: Map<string, string>;
  /** What onEndpointsChanging was called with. */
  endpointsChanging: Array<Array<{ address: string; port: number }>>;
}

function fakes(): Fakes {
  const f: Fakes = {
    events: [],
    approvals: new Map(),
    fail: {},
    osInputs: [],
    tuns: [],
    devices: [],
    resolved: [],
    warnings: [],
    resolveAnswers: new Map(),
    endpointsChanging: [],
    logger: {
      debug() {},
      info() {},
      warn: (message: string) => void f.warnings.push(message),
      error: (message: string) => void f.events.push(`log error: ${message}`),
    },
    launcher: undefined as unknown as ReturnType<typeof createEngineLauncher>,
  };
  const network = new MemoryNetwork();
  let binds = 0;
  const os: OsConfigurator = {
    platform: 'linux',
    async probe(input): Promise<SystemFacts> {
      f.events.push('os probe');
      f.osInputs.push(input);
      if (f.fail.probe) throw new Error('probe failed');
      return {};
    },
    plan(input, facts): OsTunnelPlan {
      return {
        platform: 'linux', interfaceName: input.interfaceName, ownsInterface: true, addresses: input.addresses, mtu: input.mtu ?? 1420,
        routes: [], rules: [], endpointRoutes: [], dns: null, fwmark: null, srcValidMark: false, facts,
      };
    },
    steps: () => [],
    async apply(plan): Promise<AppliedTunnel> {
      f.events.push('os apply');
      // A real apply undoes its own partial steps before rejecting: the launcher must not revert it again.
      if (f.fail.apply) throw new Error('ip: RTNETLINK answers: File exists');
      return { plan, journalPath: join(scratch, `${plan.interfaceName}.journal`) };
    },
    async revert(applied): Promise<UndoReport> {
      f.events.push(`os revert ${applied.plan.interfaceName}`);
      return { journals: [applied.journalPath], undone: [], failures: [] };
    },
    async recover(): Promise<UndoReport> {
      return { journals: [], undone: [], failures: [] };
    },
  };
  f.launcher = createEngineLauncher({
    inspector: createConfInspector(parseConf, (key) => crypto.publicKey(key)),
    os,
    crypto,
    scriptsApproval: (name) => f.approvals.get(name),
    openTun(name, mtu) {
      f.events.push(`open tun ${name} mtu ${mtu}`);
      if (f.fail.openTun) throw new Error('Device or resource busy');
      const tun = new MemoryTun(name, mtu);
      const close = tun.close.bind(tun);
      tun.close = () => {
        f.events.push(`tun closed ${name}`);
        close();
      };
      f.tuns.push(tun);
      return tun;
    },
    createBind: () => new MemoryBind(network, `192.0.2.${100 + binds++}`),
    createDevice(options) {
      const device = new Device(options);
      f.devices.push(device);
      const close = device.close.bind(device);
      const wrapped: EngineDevice = Object.assign(device, {
        close: () => {
          f.events.push('device close');
          close();
        },
        applySet: (request: Parameters<Device['applySet']>[0]) =>
          f.fail.applySet ? { errno: 22, message: 'allowed_ip: not a valid prefix' } : Device.prototype.applySet.call(device, request),
      });
      return wrapped;
    },
    resolve: async (host) => {
      f.events.push(`resolve ${host}`);
      f.resolved.push(host);
      const answer = f.resolveAnswers.get(host);
      if (answer === undefined) throw new Error('NXDOMAIN');
      return answer;
    },
    onEndpointsChanging: async (_name, endpoints) => {
      f.endpointsChanging.push(endpoints);
    },
  });
  return f;
}

/** Scripts that leave a marker per hook, with %i (the interface name) in the marker's content. */
function markerScripts(dir: string) {
  const mark = (hook: string) => `echo ${hook} %i >> ${join(dir, 'ran')}`;
  return { PreUp: mark('PreUp'), PostUp: mark('PostUp'), PreDown: mark('PreDown'), PostDown: mark('PostDown') };
}

/** Root's approval of `text`'s scripts for tunnel `name`, as `wirelane scripts allow` stores it. */
function approve(f: Fakes, name: string, text: string): void {
  const parsed = parseConf(text);
  assert.ok(parsed.ok);
  f.approvals.set(name, { sha256: scriptsDigest(name, parsed.config), by: 0, at: 1 });
}

test('scripts gate: without an approval no hook runs at up or down, and the log says why and how to approve', async () => {
  const f = fakes();
  const dir = mkdtempSync(join(scratch, 'gate-off-'));
  const tunnel = await f.launcher.up('office', conf({ scripts: markerScripts(dir) }), f.logger);
  await tunnel.down();
  assert.equal(existsSync(join(dir, 'ran')), false, 'no script ran');
  assert.ok(
    f.warnings.some((w) => /not run/.test(w) && /PostUp/.test(w) && /sudo wirelane scripts allow office/.test(w)),
    `a warning says the scripts were not run and what to do: ${JSON.stringify(f.warnings)}`,
  );
});

test('scripts gate: approved for exactly these scripts, PreUp and PostUp run at up and PreDown and PostDown at down, in order, with %i', async () => {
  const f = fakes();
  const dir = mkdtempSync(join(scratch, 'gate-on-'));
  const text = conf({ scripts: markerScripts(dir) });
  approve(f, 'office', text);
  const tunnel = await f.launcher.up('office', text, f.logger);
  assert.equal(readFileSync(join(dir, 'ran'), 'utf8'), 'PreUp office\nPostUp office\n');
  await tunnel.down();
  assert.equal(readFileSync(join(dir, 'ran'), 'utf8'), 'PreUp office\nPostUp office\nPreDown office\nPostDown office\n');
  assert.deepEqual(f.warnings, []);
});

test('scripts gate: an approval is void once a script changes, moves to another hook, or the tunnel is another name', async () => {
  const dir = mkdtempSync(join(scratch, 'gate-void-'));
  const marker = join(dir, 'ran');
  const approvedText = conf({ scripts: { PostUp: `echo up >> ${marker}` } });
  const variants: Array<[string, string, string]> = [
    ['one character of the command', 'office', conf({ scripts: { PostUp: `echo up  >> ${marker}` } })],
    ['the command moved to PreUp', 'office', conf({ scripts: { PreUp: `echo up >> ${marker}` } })],
    ['a command added', 'office', conf({ scripts: { PostUp: `echo up >> ${marker}`, PostDown: `echo down >> ${marker}` } })],
    ['the same file under another name (%i changes)', 'home', approvedText],
  ];
  for (const [what, name, text] of variants) {
    const f = fakes();
    approve(f, 'office', approvedText);
    if (name !== 'office') f.approvals.set(name, f.approvals.get('office')!);
    await (await f.launcher.up(name, text, f.logger)).down();
    assert.equal(existsSync(marker), false, `${what}: no script ran`);
    assert.ok(f.warnings.some((w) => /not run/.test(w)), what);
  }
});

test('scripts gate: the approval is read at each connect, so withdrawing it stops the next connect\'s scripts', async () => {
  const f = fakes();
  const dir = mkdtempSync(join(scratch, 'gate-flip-'));
  const text = conf({ scripts: { PostUp: `echo up >> ${join(dir, 'ran')}` } });
  approve(f, 'office', text);
  await (await f.launcher.up('office', text, f.logger)).down();
  f.approvals.delete('office');
  await (await f.launcher.up('office', text, f.logger)).down();
  assert.equal(readFileSync(join(dir, 'ran'), 'utf8'), 'up\n', 'only the first connect ran PostUp');
});

test('endpoint host names are resolved before anything is created, and the device and OS get the address', async () => {
  const f = fakes();
  f.resolveAnswers.set('vpn.example.test', '192.0.2.77');
  const tunnel = await f.launcher.up('office', conf({ endpoint: 'vpn.example.test:51999' }), f.logger);
  try {
    assert.deepEqual(f.resolved, ['vpn.example.test']);
    assert.equal(f.events.indexOf('resolve vpn.example.test'), 0, 'resolving comes first');
    assert.equal(tunnel.details().peers[0]!.endpoint, '192.0.2.77:51999', 'the device sends to the resolved address');
    assert.deepEqual(f.osInputs[0]!.endpoints, ['192.0.2.77'], 'the OS layer routes the resolved address around the tunnel');
  } finally {
    await tunnel.down();
  }
});

test('an IP literal endpoint is used as written; a name that does not resolve fails before the TUN exists', async () => {
  const literal = fakes();
  const tunnel = await literal.launcher.up('office', conf({ endpoint: '192.0.2.9:51820' }), literal.logger);
  assert.equal(tunnel.details().peers[0]!.endpoint, '192.0.2.9:51820');
  await tunnel.down();

  const f = fakes();
  const dir = mkdtempSync(join(scratch, 'nxdomain-'));
  const unresolvable = conf({ endpoint: 'nowhere.example.test:51820', scripts: markerScripts(dir) });
  approve(f, 'office', unresolvable);
  await assert.rejects(f.launcher.up('office', unresolvable, f.logger), {
    message: /^cannot resolve the endpoint host 'nowhere\.example\.test': NXDOMAIN$/,
  });
  assert.deepEqual(f.events, ['resolve nowhere.example.test'], 'no TUN, no device, no OS change');
  assert.equal(existsSync(join(dir, 'ran')), false, 'not even PreUp ran');
});

test('rollback: the OS refusing the plan closes the device and its TUN; apply undid itself, so no revert', async () => {
  const f = fakes();
  f.fail.apply = true;
  await assert.rejects(f.launcher.up('office', conf(), f.logger), { message: /^cannot configure the system: ip: RTNETLINK answers: File exists$/ });
  assert.deepEqual(f.events, ['open tun office mtu 1420', 'os probe', 'os apply', 'device close', 'tun closed office']);
});

test('rollback: a failing PostUp reverts the OS and then closes the device, in reverse order of up', async () => {
  const f = fakes();
  const failing = conf({ scripts: { PostUp: 'exit 3' } });
  approve(f, 'office', failing);
  await assert.rejects(f.launcher.up('office', failing, f.logger), { message: /PostUp command failed \(exit status 3\): exit 3/ });
  assert.deepEqual(f.events, ['open tun office mtu 1420', 'os probe', 'os apply', 'os revert office', 'device close', 'tun closed office']);
});

test('rollback: the engine refusing the configuration, or the probe failing, closes the device; the OS is not touched', async () => {
  const refused = fakes();
  refused.fail.applySet = true;
  await assert.rejects(refused.launcher.up('office', conf(), refused.logger), { message: /^the engine refused the configuration: allowed_ip/ });
  assert.deepEqual(refused.events, ['open tun office mtu 1420', 'device close', 'tun closed office']);

  const probe = fakes();
  probe.fail.probe = true;
  await assert.rejects(probe.launcher.up('office', conf(), probe.logger), { message: /probe failed/ });
  assert.deepEqual(probe.events, ['open tun office mtu 1420', 'os probe', 'device close', 'tun closed office']);
});

test('a TUN that cannot be created fails the connect with the interface named; a failing PreUp stops before it', async () => {
  const f = fakes();
  f.fail.openTun = true;
  await assert.rejects(f.launcher.up('office', conf({ mtu: 1380 }), f.logger), { message: /^cannot create the interface office: Device or resource busy$/ });
  assert.deepEqual(f.events, ['open tun office mtu 1380']);

  const pre = fakes();
  const failingPreUp = conf({ scripts: { PreUp: 'exit 7' } });
  approve(pre, 'office', failingPreUp);
  await assert.rejects(pre.launcher.up('office', failingPreUp, pre.logger), { message: /PreUp command failed \(exit status 7\)/ });
  assert.deepEqual(pre.events, [], 'nothing was created');
});

test('down reverts the OS before closing the device, once, even when called twice', async () => {
  const f = fakes();
  const tunnel = await f.launcher.up('office', conf(), f.logger);
  f.events.length = 0;
  await Promise.all([tunnel.down(), tunnel.down()]);
  assert.deepEqual(f.events, ['os revert office', 'device close', 'tun closed office']);
  assert.equal(f.tuns[0]!.isClosed(), true);
});

test('a stored configuration that does not parse is refused with its line, before anything runs', async () => {
  const f = fakes();
  await assert.rejects(f.launcher.up('office', conf().replace('AllowedIPs = 10.9.0.0/24', 'AllowedIPs = 10.9.0.0/33'), f.logger), {
    message: /^the stored configuration is invalid: line \d+: /,
  });
  assert.deepEqual(f.events, []);
});

test('a re-resolved endpoint hostname with a new address: the hook runs first with the new endpoints, then the device sends there', async () => {
  const f = fakes();
  f.resolveAnswers.set('vpn.example.test', '192.0.2.77');
  const tunnel = await f.launcher.up('office', conf({ endpoint: 'vpn.example.test:51999' }), f.logger);
  try {
    assert.deepEqual(await tunnel.reresolveEndpoints!(false), [], 'a peer that was not left unanswered is not asked about');
    assert.deepEqual(await tunnel.reresolveEndpoints!(true), [], 'same answer: nothing moves');
    f.resolveAnswers.set('vpn.example.test', '192.0.2.88');
    const changes = await tunnel.reresolveEndpoints!(true);
    assert.deepEqual(changes, [{ publicKey: peerKey, host: 'vpn.example.test', from: '192.0.2.77', to: '192.0.2.88' }]);
    assert.deepEqual(f.endpointsChanging, [[{ address: '192.0.2.88', port: 51999 }]], 'the kill switch hook hears of it first');
    assert.equal(tunnel.details().peers[0]!.endpoint, '192.0.2.88:51999');
    f.resolveAnswers.delete('vpn.example.test');
    assert.deepEqual(await tunnel.reresolveEndpoints!(true), [], 'a failed lookup keeps the address');
    assert.equal(tunnel.details().peers[0]!.endpoint, '192.0.2.88:51999');
    assert.ok(f.warnings.some((w) => w.includes("cannot resolve the endpoint host 'vpn.example.test' again")));
  } finally {
    await tunnel.down();
  }
});

test('re-resolving is due once a peer has left us unanswered 15 s, at most every 30 s', () => {
  const now = 1_700_000_000_000;
  assert.equal(reresolveDue(null, 0, now), false, 'answered (or nothing waits): never');
  assert.equal(reresolveDue(now - 14_000, 0, now), false);
  assert.equal(reresolveDue(now - 15_000, 0, now), true);
  assert.equal(reresolveDue(now - 60_000, now - 10_000, now), false, 'asked 10 s ago');
  assert.equal(reresolveDue(now - 60_000, now - RERESOLVE_INTERVAL_MS, now), true);
});
