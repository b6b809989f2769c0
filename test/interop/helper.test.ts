/**
 * The helper for real, against wireguard-go: as root, in namespaces this file creates.
 *
 *   client ns (wirelane-helper, 192.0.2.1) --veth-- server ns (wireguard-go via wg-quick, 192.0.2.2,
 *                                                   10.0.0.2, HTTP on :9090) --veth-- outside ns
 *                                                   (198.51.100.10, routes back only to 10.0.0.0/24)
 *
 * The helper runs inside the client namespace (ip netns exec), so its interface, routes and DNS
 * changes live there; /etc/netns/<client>/resolv.conf is bind-mounted over /etc/resolv.conf there.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NetnsLab, netnsUnavailableReason, run, waitFor } from '../support/netns.js';
import { repoPath } from '../support/paths.js';

const skip = netnsUnavailableReason(['wg', 'wg-quick', 'wireguard-go', 'curl']);
const compiled = fileURLToPath(import.meta.url).includes(`${'/'}dist${'/'}`);

/** argv to run one of our commands, compiled (dist) or from source (tsx). */
function command(tool: 'wirelane' | 'wirelane-helper'): string[] {
  if (compiled) return [process.execPath, repoPath('engine', 'bin', tool)];
  // From source: a one-line wrapper calling the module's main(), as engine/bin/* do for dist/.
  const wrapper = join(work, `run-${tool}.mjs`);
  if (!existsSync(wrapper)) {
    const source = repoPath('engine', 'cli', `${tool}.ts`);
    writeFileSync(wrapper, `import(${JSON.stringify(source)}).then((m) => m.main());\n`);
  }
  return [process.execPath, '--import', 'tsx', wrapper];
}

const lab = new NetnsLab('hlp');
let client = '';
let server = '';
let outside = '';
let work = '';
let socket = '';
let store = '';
let helper: ChildProcess | null = null;
let keys = { client: '', clientPub: '', server: '', serverPub: '' };
const resolvMarker = '# wirelane helper test resolv.conf\nnameserver 192.0.2.53\n';

function wirelane(...args: string[]): { status: number; stdout: string; stderr: string } {
  const [file, ...rest] = command('wirelane');
  const r = spawnSync(file!, [...rest, '--socket', socket, ...args], { encoding: 'utf8', timeout: 60_000, cwd: repoPath() });
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

async function startHelper(): Promise<void> {
  const [file, ...rest] = command('wirelane-helper');
  const child = lab.spawn(client, file!, [...rest, '--socket', socket, '--store', store]);
  let log = '';
  child.stderr?.on('data', (c: Buffer) => (log += c.toString()));
  helper = child;
  await waitFor('the helper to listen', () => wirelane('list').status === 0, 30_000, 250).catch((err: Error) => {
    throw new Error(`${err.message}\nhelper log:\n${log}`);
  });
}

function clientState(): string {
  const parts = [
    ['addr', ['-o', 'addr']],
    ['route', ['route']],
    ['route6', ['-6', 'route']],
    ['rule', ['rule']],
    ['rule6', ['-6', 'rule']],
    ['link', ['-o', 'link']],
  ] as const;
  const out = parts.map(([label, args]) => `${label}:\n${lab.exec(client, 'ip', [...args]).replace(/ +\\? +link\/\S+ [0-9a-f:]+ brd [0-9a-f:]+/g, '')}`);
  out.push(`resolv:\n${lab.exec(client, 'cat', ['/etc/resolv.conf'])}`);
  return out.join('\n');
}

function writeConf(name: string, body: string): string {
  const path = join(work, `${name}.conf`);
  writeFileSync(path, body, { mode: 0o600 });
  return path;
}

function clientConf(extraInterface: string, allowedIps: string): string {
  return `[Interface]\nPrivateKey = ${keys.client}\nAddress = 10.0.0.1/32\n${extraInterface}\n[Peer]\nPublicKey = ${keys.serverPub}\nEndpoint = 192.0.2.2:51820\nAllowedIPs = ${allowedIps}\n`;
}

before(async () => {
  if (skip) return;
  work = mkdtempSync(join(tmpdir(), 'wirelane-helper-interop-'));
  socket = join(work, 'run', 'helper.sock');
  store = join(work, 'store');
  client = lab.addNamespace('c');
  server = lab.addNamespace('s');
  outside = lab.addNamespace('o');
  lab.connect(client, server, { nameA: 'hc0', nameB: 'hs0', addressesA: ['192.0.2.1/24'], addressesB: ['192.0.2.2/24'] });
  lab.connect(server, outside, { nameA: 'hs1', nameB: 'ho0', addressesA: ['198.51.100.1/24'], addressesB: ['198.51.100.10/24'] });
  lab.exec(client, 'ip', ['route', 'add', 'default', 'via', '192.0.2.2']);
  lab.exec(server, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
  // The outside host answers the tunnel's address only: a reply to a cleartext packet from
  // 192.0.2.1 has no way back, so a working ping proves the traffic went through the tunnel.
  lab.exec(outside, 'ip', ['route', 'add', '10.0.0.0/24', 'via', '198.51.100.1']);

  const etcNetns = join('/etc/netns', client);
  mkdirSync(etcNetns, { recursive: true });
  writeFileSync(join(etcNetns, 'resolv.conf'), resolvMarker);
  lab.onCleanup(() => rmSync(etcNetns, { recursive: true, force: true }));

  keys = { client: run('wg', ['genkey']).trim(), clientPub: '', server: run('wg', ['genkey']).trim(), serverPub: '' };
  keys.clientPub = run('wg', ['pubkey'], { input: keys.client }).trim();
  keys.serverPub = run('wg', ['pubkey'], { input: keys.server }).trim();
  const serverConf = join(work, 'hsrv.conf');
  writeFileSync(
    serverConf,
    `[Interface]\nPrivateKey = ${keys.server}\nAddress = 10.0.0.2/24\nListenPort = 51820\n\n[Peer]\nPublicKey = ${keys.clientPub}\nAllowedIPs = 10.0.0.1/32\n`,
    { mode: 0o600 },
  );
  lab.exec(server, 'wg-quick', ['up', serverConf], {
    env: { ...process.env, WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1', WG_QUICK_USERSPACE_IMPLEMENTATION: 'wireguard-go' },
  });
  lab.spawn(server, process.execPath, [
    '-e',
    "require('http').createServer((q,r)=>r.end('hello, wireguard\\n')).listen(9090,'10.0.0.2')",
  ]);
  await startHelper();
});

after(() => {
  if (helper?.pid && helper.exitCode === null) {
    try {
      process.kill(helper.pid, 'SIGTERM');
    } catch {
      // gone
    }
  }
  lab.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('wirelane up FILE: ping and HTTP through the tunnel; show reports handshake and transfer; down leaves nothing', { skip: skip ?? false, timeout: 120_000 }, async () => {
  const baseline = clientState();
  const file = writeConf('office', clientConf('', '10.0.0.2/32'));
  const up = wirelane('up', file);
  assert.equal(up.status, 0, up.stderr);
  assert.match(up.stdout, /tunnel 'office' is connected/);

  lab.exec(client, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', '10.0.0.2']);
  const page = lab.exec(client, 'curl', ['-s', '--max-time', '10', 'http://10.0.0.2:9090/']);
  assert.equal(page, 'hello, wireguard\n');

  const show = wirelane('show', 'office');
  assert.equal(show.status, 0, show.stderr);
  assert.match(show.stdout, /^interface: office\n {2}state: connected/);
  assert.match(show.stdout, new RegExp(`peer: ${keys.serverPub.replace(/[+/=]/g, '\\$&')}`));
  assert.match(show.stdout, /endpoint: 192\.0\.2\.2:51820/);
  assert.match(show.stdout, /latest handshake: .*(ago|Now)/);
  assert.match(show.stdout, /transfer: .* received, .* sent/);
  assert.ok(!show.stdout.includes(keys.client), 'show must not print the private key');

  const down = wirelane('down', 'office');
  assert.equal(down.status, 0, down.stderr);
  assert.equal(clientState(), baseline);
  const again = wirelane('down', 'office');
  assert.equal(again.status, 1);
  assert.equal(again.stderr, "tunnel 'office' is not connected\n");
});

test('full tunnel: outside traffic goes only through the tunnel, the endpoint stays reachable, DNS is restored', { skip: skip ?? false, timeout: 120_000 }, async () => {
  const baseline = clientState();
  const inNamespace = lab.exec(client, 'cat', ['/etc/resolv.conf']);
  assert.equal(inNamespace, resolvMarker, 'the namespace must have its own resolv.conf before DNS is touched');
  const file = writeConf('full', clientConf('DNS = 10.0.0.2, corp.example', '0.0.0.0/0'));
  const up = wirelane('up', file);
  assert.equal(up.status, 0, up.stderr);
  try {
    const rxBefore = Number(lab.exec(server, 'cat', ['/sys/class/net/hsrv/statistics/rx_packets']));
    lab.exec(client, 'ping', ['-c', '5', '-i', '0.2', '-W', '2', '198.51.100.10']);
    const rxAfter = Number(lab.exec(server, 'cat', ['/sys/class/net/hsrv/statistics/rx_packets']));
    assert.ok(rxAfter - rxBefore >= 5, `the server's tunnel interface received ${rxAfter - rxBefore} packets for 5 pings`);
    // Handshakes keep working: the endpoint is not routed into the tunnel itself.
    assert.equal(lab.exec(client, 'curl', ['-s', '--max-time', '10', 'http://10.0.0.2:9090/']), 'hello, wireguard\n');
    const resolv = lab.exec(client, 'cat', ['/etc/resolv.conf']);
    assert.match(resolv, /nameserver 10\.0\.0\.2/);
  } finally {
    const down = wirelane('down', 'full');
    assert.equal(down.status, 0, down.stderr);
  }
  assert.equal(clientState(), baseline);
});

/**
 * The client's network state without what the kernel picks afresh for a new TUN: its interface
 * index and its stable-privacy IPv6 link-local address.
 */
const withoutIndices = (state: string) => state.replace(/^\d+: /gm, '').replace(/inet6 fe80:[0-9a-f:]+\/64 scope link stable-privacy/g, 'inet6 fe80::(link-local)/64 scope link stable-privacy');

test('kill -9 of the helper with a tunnel up: the new start undoes what it left, then brings the tunnel back as it was', { skip: skip ?? false, timeout: 120_000 }, async () => {
  const baseline = clientState();
  const up = wirelane('up', 'full');
  assert.equal(up.status, 0, up.stderr);
  const connectedState = withoutIndices(clientState());
  assert.notEqual(connectedState, withoutIndices(baseline));
  const pid = helper!.pid!;
  process.kill(pid, 'SIGKILL');
  await waitFor('the helper to die', () => helper!.exitCode !== null || helper!.signalCode !== null, 10_000);
  await startHelper();
  await waitFor('the tunnel to be connected again', () => /^full\tconnected/m.test(wirelane('list').stdout), 15_000, 250);
  lab.exec(client, 'ping', ['-c', '1', '-W', '2', '198.51.100.10']);
  assert.equal(withoutIndices(clientState()), connectedState, 'the same addresses, routes, rules and DNS as at the first connect');
  assert.equal(wirelane('down', 'full').status, 0);
  assert.equal(clientState(), baseline);
});

test('PostUp runs only once root approved this tunnel\'s scripts, and an edit voids the approval', { skip: skip ?? false, timeout: 120_000 }, async () => {
  const marker = join(work, 'postup-marker');
  const file = writeConf('scripted', clientConf(`PostUp = touch ${marker}-%i`, '10.0.0.2/32'));
  const up = wirelane('up', file);
  assert.equal(up.status, 0, up.stderr);
  assert.match(up.stderr, /has PreUp\/PostUp\/PreDown\/PostDown commands; they run only once an administrator approves them \('sudo wirelane scripts allow scripted'\)/);
  assert.equal(existsSync(`${marker}-scripted`), false, 'PostUp ran although nobody approved it');
  assert.equal(wirelane('down', 'scripted').status, 0);
  assert.match(wirelane('list').stdout, /^scripted\t.*scripts not approved/m);

  const allow = wirelane('scripts', 'allow', 'scripted');
  assert.equal(allow.status, 0, allow.stderr);
  assert.match(wirelane('list').stdout, /^scripted\t.*scripts approved/m);
  try {
    const again = wirelane('up', 'scripted');
    assert.equal(again.status, 0, again.stderr);
    assert.equal(existsSync(`${marker}-scripted`), true, 'PostUp did not run once approved');
  } finally {
    wirelane('down', 'scripted');
  }

  // The same tunnel with its PostUp edited: the approval is gone, the new command never runs.
  rmSync(`${marker}-scripted`, { force: true });
  const edited = writeConf('scripted', clientConf(`PostUp = touch ${marker}-edited-%i`, '10.0.0.2/32'));
  try {
    const third = wirelane('up', edited);
    assert.equal(third.status, 0, third.stderr);
    assert.equal(existsSync(`${marker}-edited-scripted`), false, 'an edited PostUp ran on an old approval');
    assert.match(wirelane('list').stdout, /^scripted\t.*scripts not approved/m);
  } finally {
    wirelane('down', 'scripted');
  }
});

test('errors say what to do', { skip: skip ?? false, timeout: 60_000 }, () => {
  const bad = writeConf('bad', clientConf('', '10.0.0.0/33'));
  const r = wirelane('import', bad);
  assert.equal(r.status, 1);
  assert.equal(r.stderr, "line 8: AllowedIPs: '10.0.0.0/33' is not a valid CIDR\n");
  assert.equal(wirelane('list').stdout.includes('bad'), false, 'a refused import must store nothing');
  const missing = wirelane('--socket', join(work, 'nope.sock'), 'list');
  assert.equal(missing.status, 1);
  assert.equal(missing.stderr, `cannot reach the helper at ${join(work, 'nope.sock')}: is wirelane-helper running?\n`);
  const unknown = wirelane('up', 'nosuch');
  assert.equal(unknown.status, 1);
  assert.match(unknown.stderr, /^no tunnel named 'nosuch'/);
});
