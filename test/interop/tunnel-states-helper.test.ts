/**
 * The tunnel state tells the truth, end to end through `wirelane` and a real helper, with
 * Debian's wireguard-go as the server: as root, in namespaces this file creates.
 *
 *   client ns (wirelane-helper, 192.0.2.1) --veth stc0/sts0-- server ns (wireguard-go via wg-quick,
 *                                                              192.0.2.2, tunnel 10.66.0.2)
 *
 * - a server with the wrong key, and a server that is not there: connecting, never connected,
 *   no latest handshake, for as long as we watch;
 * - `wg show NAME` sees the helper's tunnel (its UAPI socket), the socket goes with the tunnel;
 * - a helper restarted (SIGTERM) brings the tunnel back within 15 s, pinging through it, with
 *   the same addresses, routes and rules as at the first connect (kill -9: helper.test.ts).
 *
 * - a server that goes silent under traffic (its UDP dropped both ways by nft in its namespace):
 *   reconnecting within about 20 s, connected again once it answers. Both ways: a server that
 *   cannot hear us still initiates handshakes of its own, and a peer we hear from is answering;
 * - an Endpoint hostname whose address changes (the client namespace's /etc/hosts, bind-mounted
 *   by ip netns exec from /etc/netns/<ns>/hosts) is found again once the old address goes silent.
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

const skip = netnsUnavailableReason(['wg', 'wg-quick', 'wireguard-go', 'nft', 'ping']);
const compiled = fileURLToPath(import.meta.url).includes(`${'/'}dist${'/'}`);

const lab = new NetnsLab('st');
let client = '';
let server = '';
let work = '';
let socket = '';
let store = '';
let helper: ChildProcess | null = null;
let helperLog = '';
let keys = { client: '', clientPub: '', server: '', serverPub: '' };
let hostsFile = '';
const hostsFor = (address: string) => `127.0.0.1 localhost\n${address} vpn.st.test\n`;

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

/** The `state:` line of `wirelane show NAME`. */
function stateOf(name: string): string {
  const show = wirelane('show', name);
  assert.equal(show.status, 0, show.stderr);
  return /^ {2}state: (.*)$/m.exec(show.stdout)?.[1] ?? '(no state line)';
}

async function startHelper(): Promise<void> {
  const [file, ...rest] = command('wirelane-helper');
  const child = lab.spawn(client, file!, [...rest, '--socket', socket, '--store', store], { ...process.env, LOG_LEVEL: process.env['ST_HELPER_LOG_LEVEL'] ?? 'info' });
  child.stderr?.on('data', (c: Buffer) => (helperLog += c.toString()));
  helper = child;
  await waitFor('the helper to listen', () => wirelane('list').status === 0, 30_000, 250).catch((err: Error) => {
    throw new Error(`${err.message}\nhelper log:\n${helperLog}`);
  });
}

async function stopHelper(signal: NodeJS.Signals): Promise<void> {
  const child = helper!;
  process.kill(child.pid!, signal);
  await waitFor('the helper to exit', () => child.exitCode !== null || child.signalCode !== null, 15_000);
}

function writeConf(name: string, body: string): string {
  const path = join(work, `${name}.conf`);
  writeFileSync(path, body, { mode: 0o600 });
  return path;
}

function clientConf(serverPub: string, endpoint: string, address: string, allowed: string): string {
  return `[Interface]\nPrivateKey = ${keys.client}\nAddress = ${address}\n\n[Peer]\nPublicKey = ${serverPub}\nEndpoint = ${endpoint}\nAllowedIPs = ${allowed}\n`;
}

/** What `ip` shows of the client's network, without what a new TUN gets afresh (index, link-local). */
function networkState(): string {
  return ['addr', 'route', 'rule']
    .map((what) => `${what}:\n${lab.exec(client, 'ip', what === 'addr' ? ['-o', 'addr'] : [what])}`)
    .join('\n')
    .replace(/^\d+: /gm, '')
    .replace(/inet6 fe80:[0-9a-f:]+\/64/g, 'inet6 fe80::(link-local)/64');
}

before(async () => {
  if (skip) return;
  work = mkdtempSync(join(tmpdir(), 'wirelane-st-'));
  socket = join(work, 'run', 'helper.sock');
  store = join(work, 'store');
  client = lab.addNamespace('c');
  server = lab.addNamespace('s');
  lab.connect(client, server, { nameA: 'stc0', nameB: 'sts0', addressesA: ['192.0.2.1/24'], addressesB: ['192.0.2.2/24', '192.0.2.3/24'] });
  // Before the helper starts: ip netns exec bind-mounts what is there at that moment.
  const etcNetns = join('/etc/netns', client);
  mkdirSync(etcNetns, { recursive: true });
  hostsFile = join(etcNetns, 'hosts');
  writeFileSync(hostsFile, hostsFor('192.0.2.2'));
  lab.onCleanup(() => rmSync(etcNetns, { recursive: true, force: true }));

  keys = { client: run('wg', ['genkey']).trim(), clientPub: '', server: run('wg', ['genkey']).trim(), serverPub: '' };
  keys.clientPub = run('wg', ['pubkey'], { input: keys.client }).trim();
  keys.serverPub = run('wg', ['pubkey'], { input: keys.server }).trim();
  const serverConf = join(work, 'stsrv.conf');
  writeFileSync(
    serverConf,
    `[Interface]\nPrivateKey = ${keys.server}\nAddress = 10.66.0.2/24\nListenPort = 51820\n\n[Peer]\nPublicKey = ${keys.clientPub}\nAllowedIPs = 10.66.0.1/32\n`,
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
      process.kill(helper.pid, 'SIGTERM');
    } catch {
      // gone
    }
  }
  lab.cleanup();
  // A killed helper cannot remove its UAPI sockets; ours are named st-*.
  for (const name of ['st-office', 'st-wrongkey', 'st-nobody', 'st-dyn']) rmSync(`/var/run/wireguard/${name}.sock`, { force: true });
  if (work) rmSync(work, { recursive: true, force: true });
});

test('a server with the wrong key, and one that is not there: connecting, never connected, no handshake', { skip: skip ?? false, timeout: 90_000 }, async () => {
  const otherKey = run('wg', ['pubkey'], { input: run('wg', ['genkey']).trim() }).trim();
  const wrong = writeConf('st-wrongkey', clientConf(otherKey, '192.0.2.2:51820', '10.66.1.1/32', '10.66.1.0/24'));
  const nobody = writeConf('st-nobody', clientConf(keys.serverPub, '192.0.2.2:51999', '10.66.2.1/32', '10.66.2.0/24'));
  try {
    for (const file of [wrong, nobody]) {
      const up = wirelane('up', file);
      assert.equal(up.status, 0, up.stderr);
      assert.match(up.stdout, /is connecting for .*, no handshake completed yet\nno answer from its server yet/);
    }
    // Handshake attempts go out every 5 s; watch three of them go unanswered.
    const until = Date.now() + 16_000;
    while (Date.now() < until) {
      for (const name of ['st-wrongkey', 'st-nobody']) {
        const show = wirelane('show', name);
        assert.match(show.stdout, /^ {2}state: connecting for /m, `${name} must stay connecting:\n${show.stdout}`);
        assert.doesNotMatch(show.stdout, /latest handshake/);
        assert.match(show.stdout, /^ {2}transfer: 0 B received, /m, 'nothing came back');
      }
      const list = wirelane('list').stdout;
      assert.doesNotMatch(list, /^st-(wrongkey|nobody)\tconnected/m);
      await new Promise((r) => setTimeout(r, 2000));
    }
  } finally {
    wirelane('down', 'st-wrongkey');
    wirelane('down', 'st-nobody');
  }
});

test('wg show NAME sees a helper tunnel (peer, endpoint, handshake) on a root-only socket that goes with the tunnel', { skip: skip ?? false, timeout: 60_000 }, async () => {
  const file = writeConf('st-office', clientConf(keys.serverPub, '192.0.2.2:51820', '10.66.0.1/32', '10.66.0.2/32'));
  const up = wirelane('up', file);
  assert.equal(up.status, 0, up.stderr);
  try {
    await waitFor('the first handshake', () => /^st-office\tconnected/m.test(wirelane('list').stdout), 15_000, 250);
    const sock = '/var/run/wireguard/st-office.sock';
    const mode = lab.exec(client, 'stat', ['-c', '%a %U', sock]).trim();
    assert.equal(mode, '600 root', 'the UAPI socket is root only, as wireguard-go makes it');
    const wgShow = lab.exec(client, 'wg', ['show', 'st-office']);
    assert.match(wgShow, new RegExp(`peer: ${keys.serverPub.replace(/[+/=]/g, '\\$&')}`));
    assert.match(wgShow, /latest handshake: (\d+ seconds? ago|Now)/);
    assert.match(wgShow, /endpoint: 192\.0\.2\.2:51820/);
  } finally {
    assert.equal(wirelane('down', 'st-office').status, 0);
  }
  assert.equal(existsSync('/var/run/wireguard/st-office.sock'), false, 'the UAPI socket goes with the tunnel');
});

test('a server that goes silent under traffic makes the tunnel reconnecting within ~20 s, and connected again when it answers', { skip: skip ?? false, timeout: 120_000 }, async () => {
  const up = wirelane('up', 'st-office');
  assert.equal(up.status, 0, up.stderr);
  // Something to send the whole time: a ping every half second through the tunnel.
  const pinger = lab.spawn(client, 'ping', ['-i', '0.5', '-W', '1', '10.66.0.2']);
  try {
    await waitFor('the first handshake', () => stateOf('st-office').startsWith('connected for'), 15_000, 250);
    // Silent both ways: a server that still sent (its own handshake attempts) would be heard.
    lab.exec(server, 'nft', ['-f', '-'], {
      input: 'table inet st_silence {\n  chain in {\n    type filter hook input priority -10;\n    udp dport 51820 drop\n  }\n  chain out {\n    type filter hook output priority -10;\n    udp sport 51820 drop\n  }\n}\n',
    });
    const silentAt = Date.now();
    let seen = '';
    await waitFor('the tunnel to be reconnecting', () => (seen = stateOf('st-office')).startsWith('reconnecting: not answering for'), 30_000, 500).catch((err: Error) => {
      throw new Error(`${err.message}; last state: ${seen}\n${wirelane('show', 'st-office').stdout}`);
    });
    const took = (Date.now() - silentAt) / 1000;
    assert.ok(took <= 25, `reconnecting after ${took} s of silence`);
    assert.match(wirelane('list').stdout, /^st-office\treconnecting: not answering for /m);
    assert.doesNotMatch(wirelane('list').stdout, /^st-office\tconnected/m);

    lab.exec(server, 'nft', ['delete', 'table', 'inet', 'st_silence']);
    await waitFor('the tunnel to be connected again', () => stateOf('st-office').startsWith('connected for'), 20_000, 500);
  } finally {
    lab.tryExec(server, 'nft', ['delete', 'table', 'inet', 'st_silence']);
    pinger.kill('SIGKILL');
    wirelane('down', 'st-office');
  }
});

test('a helper restart brings the tunnel back within 15 s, pinging through it, network state as at the first connect', { skip: skip ?? false, timeout: 120_000 }, async () => {
  const up = wirelane('up', 'st-office');
  assert.equal(up.status, 0, up.stderr);
  try {
    lab.exec(client, 'ping', ['-c', '1', '-W', '2', '10.66.0.2']);
    const first = networkState();
    await stopHelper('SIGTERM');
    const restartedAt = Date.now();
    await startHelper();
    await waitFor('the tunnel to be connected again', () => /^st-office\tconnected/m.test(wirelane('list').stdout), 15_000, 250);
    lab.exec(client, 'ping', ['-c', '1', '-W', '2', '10.66.0.2']);
    assert.ok(Date.now() - restartedAt <= 15_000 + 3_000, 'back within 15 s of the restart');
    assert.equal(networkState(), first);
    assert.match(lab.exec(client, 'wg', ['show', 'st-office']), /latest handshake/);
  } finally {
    wirelane('down', 'st-office');
  }
  // Turned off: a further restart leaves it off.
  await stopHelper('SIGTERM');
  await startHelper();
  assert.match(wirelane('list').stdout, /^st-office\tdisconnected/m);
});

test('an Endpoint hostname that moves to a new address is resolved again once the old one goes silent, and the tunnel reconnects there', { skip: skip ?? false, timeout: 120_000 }, async () => {
  const file = writeConf('st-dyn', clientConf(keys.serverPub, 'vpn.st.test:51820', '10.66.0.1/32', '10.66.0.2/32'));
  const up = wirelane('up', file);
  assert.equal(up.status, 0, up.stderr);
  const pinger = lab.spawn(client, 'ping', ['-i', '0.5', '-W', '1', '10.66.0.2']);
  try {
    await waitFor('the first handshake', () => stateOf('st-dyn').startsWith('connected for'), 15_000, 250);
    assert.match(lab.exec(client, 'wg', ['show', 'st-dyn', 'endpoints']), /\t192\.0\.2\.2:51820$/m);
    // The name now resolves to the server's other address (dynamic DNS), and the old address
    // goes silent both ways (deleting it would take the secondary 192.0.2.3 with it).
    writeFileSync(hostsFile, hostsFor('192.0.2.3'));
    lab.exec(server, 'nft', ['-f', '-'], {
      input:
        'table inet st_moved {\n  chain in {\n    type filter hook input priority -10;\n    ip daddr 192.0.2.2 udp dport 51820 drop\n  }\n' +
        '  chain out {\n    type filter hook output priority -10;\n    ip saddr 192.0.2.2 udp sport 51820 drop\n  }\n}\n',
    });
    await waitFor(
      'the tunnel to move to 192.0.2.3 and be connected there',
      () => /\t192\.0\.2\.3:51820$/m.test(lab.exec(client, 'wg', ['show', 'st-dyn', 'endpoints'])) && stateOf('st-dyn').startsWith('connected'),
      60_000,
      1000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${wirelane('show', 'st-dyn').stdout}`);
    });
    lab.exec(client, 'ping', ['-c', '1', '-W', '2', '10.66.0.2']);
  } finally {
    pinger.kill('SIGKILL');
    wirelane('down', 'st-dyn');
    lab.tryExec(server, 'nft', ['delete', 'table', 'inet', 'st_moved']);
    writeFileSync(hostsFile, hostsFor('192.0.2.2'));
  }
});
