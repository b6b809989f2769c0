/**
 * The kill switch for real, through `wirelane` and the helper, with Debian's wireguard-go as the
 * server: as root, in namespaces this file creates.
 *
 *   client ns (helper; 192.0.2.1, fd00:ca::1) --veth ksc0/kss0-- server ns (wireguard-go 10.77.0.2;
 *   192.0.2.2, fd00:ca::2; forwards) --veth kss1/kso0-- outside ns (198.51.100.10, fd00:cb::10)
 *
 * The outside host answers the client's underlay addresses too, so cleartext would get through
 * if the kill switch let it: the control case (kill switch off) proves the test can fail. What
 * leaves the client is counted where it arrives, by nft counters in the server namespace on the
 * underlay veth (kss0): packets to the outside host in clear (IPv4, IPv6), DNS queries leaving in
 * clear, and WireGuard UDP.
 *
 * The helper edits the client namespace's own resolv.conf (/etc/netns/NS/resolv.conf, which
 * `ip netns exec` puts over /etc/resolv.conf for it), never the host's.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NetnsLab, netnsUnavailableReason, run, waitFor } from '../support/netns.js';
import { repoPath } from '../support/paths.js';

const skip = netnsUnavailableReason(['wg', 'wg-quick', 'wireguard-go', 'nft', 'ping']);
const compiled = fileURLToPath(import.meta.url).includes(`${'/'}dist${'/'}`);

const lab = new NetnsLab('ks');
let client = '';
let server = '';
let outside = '';
let work = '';
let socket = '';
let store = '';
let helper: ChildProcess | null = null;
let helperLog = '';
let keys = { client: '', clientPub: '', server: '', serverPub: '' };

const OUTSIDE4 = '198.51.100.10';
const OUTSIDE6 = 'fd00:cb::10';
/** The client namespace's resolv.conf, odd bytes on purpose: restores must be exact. */
const ORIGINAL_RESOLV_CONF = '# the client namespace before any tunnel\nnameserver 198.51.100.10\nsearch  lan.example\toptions edns0';
let resolvConfPath = '';

function command(tool: 'wirelane' | 'wirelane-helper'): string[] {
  if (compiled) return [process.execPath, repoPath('engine', 'bin', tool)];
  const wrapper = join(work, `run-${tool}.mjs`);
  if (!existsSync(wrapper)) writeFileSync(wrapper, `import(${JSON.stringify(repoPath('engine', 'cli', `${tool}.ts`))}).then((m) => m.main());\n`);
  return [process.execPath, '--import', 'tsx', wrapper];
}

function wirelane(...args: string[]): { status: number; stdout: string; stderr: string } {
  const [file, ...rest] = command('wirelane');
  const r = spawnSync(file!, [...rest, '--socket', socket, ...args], { encoding: 'utf8', timeout: 60_000, cwd: repoPath() });
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

async function startHelper(): Promise<void> {
  const [file, ...rest] = command('wirelane-helper');
  const child = lab.spawn(client, file!, [...rest, '--socket', socket, '--store', store, '--linux-dns', 'resolv.conf']);
  helperLog = '';
  child.stderr?.on('data', (c: Buffer) => (helperLog += c.toString()));
  helper = child;
  await waitFor('the helper to listen', () => wirelane('list').status === 0, 30_000, 250).catch((err: Error) => {
    throw new Error(`${err.message}\nhelper log:\n${helperLog}`);
  });
}

async function killHelper(signal: 'SIGKILL' | 'SIGTERM' = 'SIGKILL'): Promise<void> {
  const child = helper!;
  process.kill(child.pid!, signal);
  await waitFor(`the helper to end on ${signal}`, () => child.exitCode !== null || child.signalCode !== null, 20_000);
}

/** Packets counted on the server's underlay veth since the last reset, by what they were. */
function arrived(): { clear4: number; clear6: number; wireguard: number } {
  const count = (name: string) => Number(/packets (\d+)/.exec(lab.exec(server, 'nft', ['list', 'counter', 'inet', 'kscount', name]))?.[1] ?? NaN);
  return { clear4: count('clear4'), clear6: count('clear6'), wireguard: count('wireguard') };
}

/** DNS queries that arrived in clear on the underlay since the last reset. */
function clearDns(): number {
  return Number(/packets (\d+)/.exec(lab.exec(server, 'nft', ['list', 'counter', 'inet', 'kscount', 'dns']))?.[1] ?? NaN);
}

/** Sends `count` UDP datagrams to HOST:53 from the client (a DNS query's shape is not needed to count it). */
function sendDns(host: string, count = 3): void {
  const script = `const s=require('node:dgram').createSocket('udp4');let n=0;s.on('error',()=>{});const go=()=>{if(n++>=${count}){s.close();return;}s.send(Buffer.from('wirelane-dns-probe'),53,${JSON.stringify(host)},()=>setTimeout(go,50));};go();`;
  lab.tryExec(client, process.execPath, ['-e', script], { timeoutMs: 10_000 });
}

/** The client's resolv.conf as a program in its namespace reads it. */
function resolvConf(): string {
  return readFileSync(resolvConfPath, 'utf8');
}

function clientRuleset(): string {
  return lab.exec(client, 'nft', ['list', 'ruleset']);
}

function resetCounters(): void {
  lab.exec(server, 'nft', ['reset', 'counters', 'table', 'inet', 'kscount']);
}

/** Pings the outside host from the client outside any tunnel's reach; true when it answered. */
function pingOutside(family: 4 | 6): boolean {
  const r = lab.tryExec(client, 'ping', [family === 4 ? '-4' : '-6', '-c', '3', '-i', '0.2', '-W', '1', family === 4 ? OUTSIDE4 : OUTSIDE6], {
    timeoutMs: 15_000,
  });
  return r.status === 0;
}

function writeConf(name: string, serverPub: string, allowedIps: string, extra = ''): string {
  const path = join(work, `${name}.conf`);
  writeFileSync(
    path,
    `[Interface]\nPrivateKey = ${keys.client}\nAddress = 10.77.0.1/32\n${extra}\n[Peer]\nPublicKey = ${serverPub}\nEndpoint = 192.0.2.2:51820\nAllowedIPs = ${allowedIps}\n`,
    { mode: 0o600 },
  );
  return path;
}

function wirelaneTable(): string {
  return lab.tryExec(client, 'nft', ['list', 'table', 'inet', 'wirelane']).stdout;
}

before(async () => {
  if (skip) return;
  work = mkdtempSync(join(tmpdir(), 'wirelane-killswitch-'));
  socket = join(work, 'run', 'helper.sock');
  store = join(work, 'store');
  mkdirSync(join(work, 'run'), { recursive: true });
  client = lab.addNamespace('c');
  server = lab.addNamespace('s');
  outside = lab.addNamespace('o');
  // Before the helper starts: `ip netns exec` mounts it over /etc/resolv.conf for the helper.
  mkdirSync(`/etc/netns/${client}`, { recursive: true });
  resolvConfPath = `/etc/netns/${client}/resolv.conf`;
  writeFileSync(resolvConfPath, ORIGINAL_RESOLV_CONF);
  lab.connect(client, server, {
    nameA: 'ksc0',
    nameB: 'kss0',
    addressesA: ['192.0.2.1/24', 'fd00:ca::1/64'],
    addressesB: ['192.0.2.2/24', 'fd00:ca::2/64'],
  });
  lab.connect(server, outside, {
    nameA: 'kss1',
    nameB: 'kso0',
    addressesA: ['198.51.100.1/24', 'fd00:cb::1/64'],
    addressesB: [`${OUTSIDE4}/24`, `${OUTSIDE6}/64`],
  });
  lab.exec(client, 'ip', ['route', 'add', 'default', 'via', '192.0.2.2']);
  lab.exec(client, 'ip', ['-6', 'route', 'add', 'default', 'via', 'fd00:ca::2']);
  lab.exec(server, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
  // The outside host answers the tunnel's address and the client's underlay alike.
  lab.exec(outside, 'ip', ['route', 'add', 'default', 'via', '198.51.100.1']);
  lab.exec(outside, 'ip', ['-6', 'route', 'add', 'default', 'via', 'fd00:cb::1']);
  lab.exec(server, 'nft', ['-f', '-'], {
    input: `table inet kscount {
	counter clear4 {}
	counter clear6 {}
	counter wireguard {}
	counter dns {}
	chain arrive {
		type filter hook prerouting priority -300; policy accept;
		iifname "kss0" ip daddr ${OUTSIDE4} counter name clear4
		iifname "kss0" ip6 daddr ${OUTSIDE6} counter name clear6
		iifname "kss0" udp dport 51820 counter name wireguard
		iifname "kss0" udp dport 53 counter name dns
	}
}
`,
  });

  keys = { client: run('wg', ['genkey']).trim(), clientPub: '', server: run('wg', ['genkey']).trim(), serverPub: '' };
  keys.clientPub = run('wg', ['pubkey'], { input: keys.client }).trim();
  keys.serverPub = run('wg', ['pubkey'], { input: keys.server }).trim();
  const serverConf = join(work, 'kssrv.conf');
  writeFileSync(
    serverConf,
    `[Interface]\nPrivateKey = ${keys.server}\nAddress = 10.77.0.2/24\nListenPort = 51820\n\n[Peer]\nPublicKey = ${keys.clientPub}\nAllowedIPs = 10.77.0.1/32\n`,
    { mode: 0o600 },
  );
  lab.exec(server, 'wg-quick', ['up', serverConf], {
    env: { ...process.env, WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1', WG_QUICK_USERSPACE_IMPLEMENTATION: 'wireguard-go' },
  });
  await startHelper();
});

after(() => {
  if (helper?.pid && helper.exitCode === null && helper.signalCode === null) {
    try {
      process.kill(helper.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  lab.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
  if (client) rmSync(`/etc/netns/${client}`, { recursive: true, force: true });
});

test('without a tunnel the outside host answers in clear (the capture sees it)', { skip: skip ?? false, timeout: 60_000 }, () => {
  resetCounters();
  assert.equal(pingOutside(4), true);
  assert.equal(pingOutside(6), true);
  const counted = arrived();
  assert.ok(counted.clear4 >= 3 && counted.clear6 >= 3, `counted ${JSON.stringify(counted)}`);
});

test('a v4-only full tunnel whose server never answers: kill switch on by default, 0 packets in clear, IPv6 included', { skip: skip ?? false, timeout: 90_000 }, async () => {
  // A wrong server key: wireguard-go drops every initiation, so the tunnel never gets further than connecting.
  const wrongKey = run('wg', ['pubkey'], { input: run('wg', ['genkey']) }).trim();
  const rulesetBefore = clientRuleset();
  const up = wirelane('up', writeConf('ksdead', wrongKey, '0.0.0.0/0'));
  assert.equal(up.status, 0, up.stderr);
  try {
    assert.match(wirelane('list').stdout, /^ksdead\t.*kill switch/m);
    assert.match(wirelaneTable(), /chain tunnel_ksdead/);
    resetCounters();
    assert.equal(pingOutside(4), false, 'IPv4 to the outside host got an answer');
    assert.equal(pingOutside(6), false, 'IPv6 to the outside host got an answer');
    const counted = arrived();
    assert.equal(counted.clear4, 0, 'IPv4 packets to the outside host in clear');
    assert.equal(counted.clear6, 0, 'IPv6 packets to the outside host in clear');
    // The helper initiates at connect and retries every 5 s (REKEY_TIMEOUT, plus jitter): the
    // kill switch must let those retries out to the endpoint.
    await waitFor('a handshake retry to reach the server', () => arrived().wireguard > 0, 15_000, 250);
    assert.equal(arrived().clear4 + arrived().clear6, 0);
  } finally {
    const down = wirelane('down', 'ksdead');
    assert.equal(down.status, 0, down.stderr);
  }
  assert.equal(wirelaneTable(), '', 'disconnect removes the table');
  assert.equal(clientRuleset(), rulesetBefore, 'disconnect leaves the firewall exactly as before');
  assert.equal(pingOutside(4), true, 'after disconnect the outside host answers again');
});

test('interface deleted under a connected full tunnel: still 0 in clear; kill switch off lets traffic out again', { skip: skip ?? false, timeout: 90_000 }, async () => {
  const up = wirelane('up', writeConf('ksfull', keys.serverPub, '0.0.0.0/0'));
  assert.equal(up.status, 0, up.stderr);
  try {
    // Through the tunnel the outside host answers (via the server's tunnel address).
    assert.equal(pingOutside(4), true, 'the outside host is not reachable through the tunnel');
    lab.exec(client, 'ip', ['link', 'del', 'dev', 'ksfull']);
    await waitFor('the helper to notice the interface is gone', () => !/^ksfull\tconnected/m.test(wirelane('list').stdout), 15_000, 250);
    resetCounters();
    assert.equal(pingOutside(4), false, 'IPv4 got out after the interface was deleted');
    assert.equal(pingOutside(6), false, 'IPv6 got out after the interface was deleted');
    assert.deepEqual({ ...arrived(), wireguard: 0 }, { clear4: 0, clear6: 0, wireguard: 0 });

    // The control: with the kill switch off the same pings get out in clear (so the test can fail).
    const off = wirelane('set', 'ksfull', 'kill-switch', 'off');
    assert.equal(off.status, 0, off.stderr);
    assert.match(off.stdout, /kill switch of 'ksfull' is off/);
    assert.equal(wirelaneTable(), '');
    resetCounters();
    assert.equal(pingOutside(4), true, 'with the kill switch off the outside host answers');
    assert.ok(arrived().clear4 >= 3);
    const on = wirelane('set', 'ksfull', 'kill-switch', 'on');
    assert.equal(on.status, 0, on.stderr);
    assert.equal(pingOutside(4), false, 'turned back on, it blocks again at once');
  } finally {
    wirelane('down', 'ksfull');
  }
  assert.equal(wirelaneTable(), '');
});

test('helper killed (kill -9) with a full tunnel up: 0 in clear until it is back; turning the tunnel off releases it', { skip: skip ?? false, timeout: 120_000 }, async () => {
  wirelane('set', 'ksfull', 'kill-switch', 'on');
  const up = wirelane('up', 'ksfull');
  assert.equal(up.status, 0, up.stderr);
  await killHelper();
  resetCounters();
  assert.equal(pingOutside(4), false, 'IPv4 got out while the helper was dead');
  assert.equal(pingOutside(6), false, 'IPv6 got out while the helper was dead');
  assert.deepEqual({ ...arrived(), wireguard: 0 }, { clear4: 0, clear6: 0, wireguard: 0 });
  await startHelper();
  // Back: a tunnel still on reconnects and keeps its kill switch; one the helper brought back off
  // has none. Either way, turning it off leaves the machine as it was.
  const state = /^ksfull\t(\S+)/m.exec(wirelane('list').stdout)?.[1];
  if (state !== 'disconnected') {
    assert.match(wirelaneTable(), /chain tunnel_ksfull/, `a tunnel that is ${state} must keep its kill switch`);
    assert.equal(wirelane('down', 'ksfull').status, 0);
  }
  assert.equal(wirelaneTable(), '');
  assert.equal(pingOutside(4), true);
});

test('helper stopped (SIGTERM: a restart or an update) with a full tunnel up: 0 in clear until it is back and reconnected', { skip: skip ?? false, timeout: 120_000 }, async () => {
  wirelane('set', 'ksfull', 'kill-switch', 'on');
  const up = wirelane('up', 'ksfull');
  assert.equal(up.status, 0, up.stderr);
  await killHelper('SIGTERM');
  assert.match(wirelaneTable(), /chain tunnel_ksfull/, 'a clean stop keeps the kill switch of a tunnel that is still on');
  resetCounters();
  assert.equal(pingOutside(4), false, 'IPv4 got out while the helper was stopped');
  assert.equal(pingOutside(6), false, 'IPv6 got out while the helper was stopped');
  assert.deepEqual({ ...arrived(), wireguard: 0 }, { clear4: 0, clear6: 0, wireguard: 0 });
  await startHelper();
  await waitFor('always-on to bring ksfull back', () => /^ksfull\t(connecting|connected|reconnecting)/m.test(wirelane('list').stdout), 20_000, 250);
  assert.match(wirelaneTable(), /chain tunnel_ksfull/);
  assert.equal(wirelane('down', 'ksfull').status, 0);
  assert.equal(wirelaneTable(), '', 'turning the tunnel off removes the kill switch exactly');
  assert.equal(pingOutside(4), true);
});

test('split tunnel with DNS and the kill switch on: DNS leaves only towards the tunnel\'s server; other traffic is left alone', { skip: skip ?? false, timeout: 90_000 }, () => {
  const rulesetBefore = clientRuleset();
  const conf = writeConf('kssplit', keys.serverPub, '10.77.0.0/24', 'DNS = 10.77.0.2\n');
  assert.equal(wirelane('import', conf).status, 0);
  const on = wirelane('set', 'kssplit', 'kill-switch', 'on');
  assert.equal(on.status, 0, on.stderr);
  const up = wirelane('up', 'kssplit');
  assert.equal(up.status, 0, up.stderr);
  try {
    assert.match(resolvConf(), /^nameserver 10\.77\.0\.2$/m);
    resetCounters();
    sendDns(OUTSIDE4);
    assert.equal(clearDns(), 0, 'DNS to a server that is not the tunnel\'s left in clear');
    // The tunnel's own DNS server is inside its AllowedIPs: through the tunnel, never in clear.
    sendDns('10.77.0.2');
    assert.equal(clearDns(), 0);
    assert.ok(arrived().wireguard > 0, 'the query to the tunnel\'s DNS server went through the tunnel');
    // A split tunnel's kill switch is about its AllowedIPs and DNS only.
    assert.equal(pingOutside(4), true, 'a split tunnel must not block the rest of the network');
  } finally {
    assert.equal(wirelane('down', 'kssplit').status, 0);
  }
  assert.equal(resolvConf(), ORIGINAL_RESOLV_CONF);
  assert.equal(clientRuleset(), rulesetBefore);
  // The control: without the kill switch the same query does leave in clear.
  resetCounters();
  sendDns(OUTSIDE4);
  assert.ok(clearDns() >= 3, `the capture must see clear DNS when nothing blocks it (saw ${clearDns()})`);
});

test('a tunnel whose route collides with a connected tunnel\'s refuses to connect, names it, and leaves nothing behind', { skip: skip ?? false, timeout: 90_000 }, () => {
  const wrongKey = run('wg', ['pubkey'], { input: run('wg', ['genkey']) }).trim();
  const first = wirelane('up', writeConf('ksroute1', wrongKey, '10.203.0.0/24, 10.204.0.0/24', 'DNS = 10.203.0.53\n'));
  assert.equal(first.status, 0, first.stderr);
  try {
    const before = { ruleset: clientRuleset(), resolv: resolvConf(), routes: lab.exec(client, 'ip', ['route', 'show', 'table', 'all']), links: lab.exec(client, 'ip', ['-o', 'link']) };
    const second = wirelane('up', writeConf('ksroute2', wrongKey, '10.204.0.0/24, 10.205.0.0/24', 'DNS = 10.204.0.53\n'));
    assert.notEqual(second.status, 0, 'the colliding tunnel connected');
    assert.match(second.stderr, /10\.204\.0\.0\/24 is already routed through tunnel 'ksroute1'/);
    assert.equal(second.stderr.trim().split('\n').length, 1, `one line: ${second.stderr}`);
    const after = { ruleset: clientRuleset(), resolv: resolvConf(), routes: lab.exec(client, 'ip', ['route', 'show', 'table', 'all']), links: lab.exec(client, 'ip', ['-o', 'link']) };
    assert.deepEqual(after, before, 'the refused tunnel left something behind');
  } finally {
    assert.equal(wirelane('down', 'ksroute1').status, 0);
    wirelane('down', 'ksroute2');
  }
  assert.equal(resolvConf(), ORIGINAL_RESOLV_CONF);
});

test('two DNS tunnels through the helper: down in both orders and after kill -9, resolv.conf is byte-identical', { skip: skip ?? false, timeout: 150_000 }, async () => {
  // Servers that never answer are enough here: DNS is set while the tunnel is on, answered or not.
  const wrongKey = run('wg', ['pubkey'], { input: run('wg', ['genkey']) }).trim();
  writeConf('ksdns1', wrongKey, '10.211.0.0/24', 'DNS = 10.211.0.53\n');
  writeConf('ksdns2', wrongKey, '10.212.0.0/24', 'DNS = 10.212.0.53\n');
  const upBoth = () => {
    for (const name of ['ksdns1', 'ksdns2']) {
      const up = wirelane('up', join(work, `${name}.conf`));
      assert.equal(up.status, 0, up.stderr);
    }
    assert.match(resolvConf(), /^nameserver 10\.212\.0\.53$/m, 'the tunnel connected last is in force');
  };
  for (const [first, second, stays] of [
    ['ksdns1', 'ksdns2', /^nameserver 10\.212\.0\.53$/m],
    ['ksdns2', 'ksdns1', /^nameserver 10\.211\.0\.53$/m],
  ] as const) {
    upBoth();
    assert.equal(wirelane('down', first).status, 0);
    assert.match(resolvConf(), stays, `${first} down, ${second} still up: its DNS stays (no fall back to the original)`);
    assert.equal(wirelane('down', second).status, 0);
    assert.equal(resolvConf(), ORIGINAL_RESOLV_CONF, `${first} then ${second} down: byte-identical`);
  }

  upBoth();
  await killHelper();
  await startHelper();
  // The new helper undid both journals (newest first); a tunnel it brings back on by itself is
  // turned off here, and then nothing of either may be left.
  for (const name of ['ksdns1', 'ksdns2']) {
    if (!/^\S+\tdisconnected/m.test(wirelane('list').stdout.split('\n').find((line) => line.startsWith(`${name}\t`)) ?? '')) wirelane('down', name);
  }
  assert.equal(resolvConf(), ORIGINAL_RESOLV_CONF, 'after kill -9 and recovery: byte-identical');
});

test('Table = main with 0.0.0.0/0 is refused with an explanation and leaves nothing behind, not even a kill switch', { skip: skip ?? false, timeout: 60_000 }, () => {
  const before = { ruleset: clientRuleset(), resolv: resolvConf(), routes: lab.exec(client, 'ip', ['route', 'show', 'table', 'all']), links: lab.exec(client, 'ip', ['-o', 'link']) };
  const up = wirelane('up', writeConf('ksmain', keys.serverPub, '0.0.0.0/0', 'Table = main\nDNS = 10.77.0.2\n'));
  try {
    assert.notEqual(up.status, 0, 'a Table = main full tunnel reported connected while nothing would be routed through it');
    assert.match(up.stderr, /Table = main cannot carry a full tunnel.*Remove the Table line/);
    const after = { ruleset: clientRuleset(), resolv: resolvConf(), routes: lab.exec(client, 'ip', ['route', 'show', 'table', 'all']), links: lab.exec(client, 'ip', ['-o', 'link']) };
    assert.deepEqual(after, before);
    assert.equal(pingOutside(4), true, 'the network still works');
  } finally {
    wirelane('down', 'ksmain');
  }
});
