/**
 * Our engine against Debian's wireguard-go, both brought up by the standard wg-quick, in network
 * namespaces this test creates:
 *
 *   ns "ours" (wirelane-engine)  --veth 192.0.2.1/24, fd00:2::1/64 <-> 192.0.2.2/24, fd00:2::2/64--
 *   ns "ref" (wireguard-go, IP forwarding on)  --veth 198.51.100.1/24 <-> 198.51.100.2/24--  ns "lan"
 *
 * Tunnel addresses 10.9.0.1 / fd09::1 (ours) and 10.9.0.2 / fd09::2 (wireguard-go); the LAN
 * 198.51.100.0/24 lies behind wireguard-go's peer. The cases run in order on one set-up and each
 * says what a user would check by hand.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoPath } from '../support/paths.js';
import { commandExists, NetnsLab, netnsUnavailableReason, run, waitFor } from '../support/netns.js';

const engineBin = repoPath('engine', 'bin', 'wirelane-engine');
const unavailable =
  netnsUnavailableReason(['wg', 'wg-quick', 'wireguard-go', 'curl', 'python3']) ??
  (existsSync(repoPath('dist', 'engine', 'cli', 'wirelane-engine.js')) ? null : 'the engine is not built: run `npm run build` first');

const suffix = String(process.pid % 10000);
const OURS = `wlo${suffix}`;
const REF = `wlr${suffix}`;

describe('wirelane-engine interoperates with wireguard-go through wg-quick', { skip: unavailable ?? false }, () => {
  const lab = new NetnsLab('wlio');
  let ours = '';
  let ref = '';
  let lan = '';
  let dir = '';
  const keys = { oursPrivate: '', oursPublic: '', refPrivate: '', refPublic: '', psk: '' };

  const oursEnv = { ...process.env, WG_QUICK_USERSPACE_IMPLEMENTATION: engineBin, LOG_LEVEL: 'verbose', WIRELANE_ENGINE_LOG: '' };
  const refEnv = { ...process.env, WG_QUICK_USERSPACE_IMPLEMENTATION: 'wireguard-go', WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1' };

  function writeOursConf(allowedIps: string): string {
    const path = join(dir, `${OURS}.conf`);
    writeFileSync(
      path,
      [
        '[Interface]',
        `PrivateKey = ${keys.oursPrivate}`,
        'Address = 10.9.0.1/24, fd09::1/64',
        'ListenPort = 51820',
        '',
        '[Peer]',
        `PublicKey = ${keys.refPublic}`,
        `PresharedKey = ${keys.psk}`,
        `AllowedIPs = ${allowedIps}`,
        'Endpoint = 192.0.2.2:51821',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    return path;
  }

  /**
   * For a full tunnel wg-quick also installs anti-spoofing firewall rules with nft (or
   * iptables-restore) and fails without either. Those rules are not what this test checks (the
   * fwmark on our socket and wg-quick's policy routing are), so where neither tool is installed
   * the test gives wg-quick a do-nothing `nft` on its PATH and says so.
   */
  function firewallStubPath(): string | null {
    if (commandExists('nft') || commandExists('iptables-restore')) return null;
    const stubDir = join(dir, 'stub-bin');
    mkdirSync(stubDir, { recursive: true });
    writeFileSync(join(stubDir, 'nft'), '#!/bin/sh\n# test stub: wg-quick anti-spoofing rules are out of scope here\nexit 0\n', { mode: 0o755 });
    return stubDir;
  }

  function oursUp(allowedIps = '10.9.0.2/32, fd09::2/128, 198.51.100.0/24'): void {
    const stub = allowedIps.includes('/0') ? firewallStubPath() : null;
    const env = { ...oursEnv, WIRELANE_ENGINE_LOG: join(dir, 'engine.log'), ...(stub ? { PATH: `${stub}:${process.env['PATH'] ?? ''}` } : {}) };
    if (stub) process.stderr.write('# neither nft nor iptables-restore is installed: wg-quick gets a no-op nft for its anti-spoofing rules\n');
    lab.exec(ours, 'wg-quick', ['up', writeOursConf(allowedIps)], { env, timeoutMs: 30_000 });
  }

  function oursDown(): void {
    const stub = firewallStubPath();
    const env = stub ? { ...oursEnv, PATH: `${stub}:${process.env['PATH'] ?? ''}` } : oursEnv;
    lab.exec(ours, 'wg-quick', ['down', join(dir, `${OURS}.conf`)], { env, timeoutMs: 30_000 });
  }

  const ping = (ns: string, address: string) =>
    lab.tryExec(ns, 'ping', [address.includes(':') ? '-6' : '-4', '-c', '1', '-W', '1', address], { timeoutMs: 5_000 }).status === 0;

  /** Pings until one answer comes (the first packets wait for a handshake). */
  const pingEventually = (ns: string, address: string, timeoutMs = 15_000) =>
    waitFor(`ping ${address} from ${ns}`, () => ping(ns, address), timeoutMs, 200);

  /** `wg show IFACE DUMP-FIELD` values for the single peer. */
  const wgShow = (ns: string, iface: string, field: string) => lab.exec(ns, 'wg', ['show', iface, field]).trim();

  before(() => {
    ours = lab.addNamespace('ours');
    ref = lab.addNamespace('ref');
    lan = lab.addNamespace('lan');
    lab.connect(ours, ref, { nameA: `veth-o${suffix}`, nameB: `veth-r${suffix}`, addressesA: ['192.0.2.1/24', 'fd00:2::1/64'], addressesB: ['192.0.2.2/24', 'fd00:2::2/64'] });
    lab.connect(ref, lan, { nameA: `veth-l${suffix}`, nameB: `veth-h${suffix}`, addressesA: ['198.51.100.1/24'], addressesB: ['198.51.100.2/24'] });
    lab.exec(lan, 'ip', ['route', 'add', 'default', 'via', '198.51.100.1']);
    lab.exec(ref, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);

    dir = mkdtempSync(join(tmpdir(), 'wirelane-interop-'));
    keys.oursPrivate = run('wg', ['genkey']).trim();
    keys.oursPublic = run('wg', ['pubkey'], { input: keys.oursPrivate }).trim();
    keys.refPrivate = run('wg', ['genkey']).trim();
    keys.refPublic = run('wg', ['pubkey'], { input: keys.refPrivate }).trim();
    keys.psk = run('wg', ['genpsk']).trim();
    writeFileSync(
      join(dir, `${REF}.conf`),
      [
        '[Interface]',
        `PrivateKey = ${keys.refPrivate}`,
        'Address = 10.9.0.2/24, fd09::2/64',
        'ListenPort = 51821',
        '',
        '[Peer]',
        `PublicKey = ${keys.oursPublic}`,
        `PresharedKey = ${keys.psk}`,
        'AllowedIPs = 10.9.0.1/32, fd09::1/128',
        'Endpoint = 192.0.2.1:51820',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    writeFileSync(join(dir, 'hello.txt'), 'hello, wireguard\n');
    lab.onCleanup(() => lab.tryExec(ours, 'wg-quick', ['down', join(dir, `${OURS}.conf`)], { env: oursEnv, timeoutMs: 15_000 }));
    lab.onCleanup(() => lab.tryExec(ref, 'wg-quick', ['down', join(dir, `${REF}.conf`)], { env: refEnv, timeoutMs: 15_000 }));
    lab.onCleanup(() => {
      rmSync(`/var/run/wireguard/${OURS}.sock`, { force: true });
      rmSync(`/var/run/wireguard/${REF}.sock`, { force: true });
    });

    lab.exec(ref, 'wg-quick', ['up', join(dir, `${REF}.conf`)], { env: refEnv, timeoutMs: 30_000 });
    oursUp();
  });

  after(() => {
    if (process.env['WIRELANE_KEEP_INTEROP_LOG'] !== '1') {
      try {
        lab.cleanup();
      } finally {
        if (dir) rmSync(dir, { recursive: true, force: true });
      }
    } else {
      lab.cleanup();
      process.stderr.write(`interop files kept in ${dir}\n`);
    }
  });

  test('wg-quick up with WG_QUICK_USERSPACE_IMPLEMENTATION=wirelane-engine creates the interface and its UAPI socket', () => {
    assert.match(lab.exec(ours, 'ip', ['link', 'show', OURS]), new RegExp(`${OURS}: .*UP`));
    assert.ok(existsSync(`/var/run/wireguard/${OURS}.sock`), 'the UAPI socket exists');
    assert.equal(wgShow(ours, OURS, 'public-key'), keys.oursPublic);
    assert.equal(wgShow(ours, OURS, 'listen-port'), '51820');
  });

  test('wireguard-go initiates, ours responds: ping both ways over IPv4', async () => {
    await pingEventually(ref, '10.9.0.1');
    await pingEventually(ours, '10.9.0.2');
    const handshake = Number(wgShow(ours, OURS, 'latest-handshakes').split(/\s+/)[1]);
    assert.ok(Math.abs(handshake - Date.now() / 1000) < 60, `our latest handshake is recent (${handshake})`);
  });

  test('ping both ways over IPv6 tunnel addresses', async () => {
    await pingEventually(ours, 'fd09::2');
    await pingEventually(ref, 'fd09::1');
  });

  test('an HTTP server on the far tunnel address answers through the tunnel (IPv4 and IPv6)', async () => {
    lab.spawn(ref, 'python3', ['-m', 'http.server', '--bind', '::', '--directory', dir, '8080']);
    await waitFor('the HTTP server to answer', () => lab.tryExec(ours, 'curl', ['-sf', '--max-time', '2', 'http://10.9.0.2:8080/hello.txt']).status === 0, 15_000, 200);
    assert.equal(lab.exec(ours, 'curl', ['-sf', '--max-time', '5', 'http://10.9.0.2:8080/hello.txt']), 'hello, wireguard\n');
    assert.equal(lab.exec(ours, 'curl', ['-sf', '--max-time', '5', 'http://[fd09::2]:8080/hello.txt']), 'hello, wireguard\n');
    // A bigger transfer (many full-size packets both ways).
    writeFileSync(join(dir, 'big.bin'), Buffer.alloc(4 * 1024 * 1024, 7));
    const size = lab.exec(ours, 'curl', ['-sf', '--max-time', '20', '-o', '/dev/null', '-w', '%{size_download}', 'http://10.9.0.2:8080/big.bin'], { timeoutMs: 30_000 });
    assert.equal(Number(size), 4 * 1024 * 1024);
  });

  test('bulk uploads from our side arrive intact (the TUN hands us TCP super-packets we cut into segments), IPv4 and IPv6', async () => {
    // The engine enables TSO on its TUN (engine/native/src/tun_linux.c): a local TCP
    // sender's 64 KiB writes reach us whole and are segmented by us, with sequence numbers,
    // flags and checksums rewritten. A mistake there corrupts the stream or stalls it.
    const sink = [
      'import socket, hashlib, sys',
      'family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET',
      's = socket.socket(family); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)',
      's.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1); s.settimeout(40)',
      'c, _ = s.accept(); c.settimeout(40); h = hashlib.sha256(); n = 0',
      'while True:',
      '    d = c.recv(65536)',
      '    if not d: break',
      '    h.update(d); n += len(d)',
      'print(n, h.hexdigest(), flush=True)',
    ].join('\n');
    const source = [
      'import socket, hashlib, sys, time',
      'data = bytes((i * 7 + (i >> 9)) & 255 for i in range(1 << 20)) * 6',
      'deadline = time.time() + 10',
      'while True:',
      '    try:',
      '        c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=40); break',
      '    except OSError:',
      '        if time.time() > deadline: raise',
      '        time.sleep(0.1)',
      'c.sendall(data); c.shutdown(socket.SHUT_WR); c.recv(1)',
      'print(len(data), hashlib.sha256(data).hexdigest(), flush=True)',
    ].join('\n');
    for (const [address, port] of [['10.9.0.2', '9101'], ['fd09::2', '9102']] as const) {
      const server = lab.spawn(ref, 'python3', ['-c', sink, address, port]);
      let received = '';
      server.stdout?.on('data', (chunk: Buffer) => { received += chunk.toString(); });
      const sent = lab.exec(ours, 'python3', ['-c', source, address, port], { timeoutMs: 60_000 }).trim();
      await waitFor(`the sink on ${address} to report`, () => received.includes('\n'), 20_000, 100);
      assert.equal(received.trim(), sent, `bytes and SHA-256 over ${address}`);
    }
  });

  test('bulk downloads to our side arrive intact and reach the TUN as coalesced TCP super-packets (GRO), IPv4 and IPv6', async () => {
    // The engine merges consecutive TCP segments of a received batch into one TUN write with a
    // virtio_net_hdr GSO type (engine/native/src/tun_linux.c): lengths, checksums, PSH and the
    // sequence order must be right or the stream breaks. The kernel counts one RX packet per
    // write on the TUN, so an average RX packet larger than the MTU says writes were merged.
    const sink = [
      'import socket, hashlib, sys, time',
      'family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET',
      'deadline = time.time() + 10',
      'while True:',
      '    try:',
      '        c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=40); break',
      '    except OSError:',
      '        if time.time() > deadline: raise',
      '        time.sleep(0.1)',
      'h = hashlib.sha256(); n = 0',
      'while True:',
      '    d = c.recv(65536)',
      '    if not d: break',
      '    h.update(d); n += len(d)',
      'print(n, h.hexdigest(), flush=True)',
    ].join('\n');
    const source = [
      'import socket, hashlib, sys',
      'data = bytes((i * 13 + (i >> 11)) & 255 for i in range(1 << 20)) * 8',
      'family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET',
      's = socket.socket(family); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)',
      's.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1); s.settimeout(40)',
      'c, _ = s.accept(); c.sendall(data); c.shutdown(socket.SHUT_WR)',
      'print(len(data), hashlib.sha256(data).hexdigest(), flush=True)',
    ].join('\n');
    const rx = () => {
      const stats = JSON.parse(lab.exec(ours, 'ip', ['-s', '-j', 'link', 'show', OURS])) as Array<{ stats64: { rx: { bytes: number; packets: number } } }>;
      return stats[0]!.stats64.rx;
    };
    for (const [address, port] of [['10.9.0.2', '9103'], ['fd09::2', '9104']] as const) {
      const server = lab.spawn(ref, 'python3', ['-c', source, address, port]);
      let sent = '';
      server.stdout?.on('data', (chunk: Buffer) => { sent += chunk.toString(); });
      const before = rx();
      const received = lab.exec(ours, 'python3', ['-c', sink, address, port], { timeoutMs: 60_000 }).trim();
      const after = rx();
      await waitFor(`the source on ${address} to report`, () => sent.includes('\n'), 20_000, 100);
      assert.equal(received, sent.trim(), `bytes and SHA-256 over ${address}`);
      const average = (after.bytes - before.bytes) / (after.packets - before.packets);
      assert.ok(average > 1500, `TUN writes were coalesced over ${address}: ${after.packets - before.packets} RX packets, ${Math.round(average)} bytes on average`);
    }
  });

  test('ours reaches the LAN behind the wireguard-go peer', async () => {
    await pingEventually(ours, '198.51.100.2');
  });

  test('wg-quick down leaves no interface, no process and no socket; up again, ours initiates', async () => {
    oursDown();
    await waitFor('our socket to go', () => !existsSync(`/var/run/wireguard/${OURS}.sock`), 5_000);
    await waitFor('our engine process to exit', () => lab.tryExec(ours, 'ip', ['netns', 'pids', ours]).stdout.trim() === '' || run('ip', ['netns', 'pids', ours]).trim() === '', 5_000);
    assert.notEqual(lab.tryExec(ours, 'ip', ['link', 'show', OURS]).status, 0, 'the interface is gone');
    oursUp();
    await pingEventually(ours, '10.9.0.2');
    await pingEventually(ref, '10.9.0.1');
  });

  test('wg show on our interface has the fields wireguard-go\'s has', async () => {
    await pingEventually(ref, '10.9.0.1');
    const fields = (text: string) => new Set(text.split('\n').map((line) => line.trim().split(':')[0]!).filter(Boolean));
    const refFields = fields(lab.exec(ref, 'wg', ['show', REF]));
    const ourFields = fields(lab.exec(ours, 'wg', ['show', OURS]));
    for (const field of refFields) assert.ok(ourFields.has(field), `wg show ${OURS} has "${field}"`);
    assert.match(lab.exec(ours, 'wg', ['show', OURS, 'preshared-keys']), new RegExp(keys.psk.replace(/[+/=]/g, '\\$&')));
  });

  test('persistent keepalive set with wg set is observed while idle', async () => {
    lab.exec(ours, 'wg', ['set', OURS, 'peer', keys.refPublic, 'persistent-keepalive', '1']);
    const received = () => Number(wgShow(ref, REF, 'transfer').split(/\s+/)[1]);
    const before = received();
    // Two keepalives (32 bytes each) at a 1 s interval, on an idle tunnel: the counter says when.
    await waitFor('wireguard-go to receive two keepalives', () => received() - before >= 2 * 32, 5_000, 100);
    assert.match(lab.exec(ours, 'wg', ['show', OURS, 'persistent-keepalive']), /\t1$/m);
    lab.exec(ours, 'wg', ['set', OURS, 'peer', keys.refPublic, 'persistent-keepalive', '0']);
  });

  test('wg set adds a peer at run time', () => {
    const extra = run('wg', ['pubkey'], { input: run('wg', ['genkey']) }).trim();
    lab.exec(ours, 'wg', ['set', OURS, 'peer', extra, 'allowed-ips', '10.9.0.50/32', 'endpoint', '192.0.2.3:1234']);
    const dump = lab.exec(ours, 'wg', ['show', OURS, 'dump']);
    const line = dump.split('\n').find((l) => l.startsWith(extra));
    assert.ok(line, 'the new peer is listed');
    assert.match(line, /192\.0\.2\.3:1234\t10\.9\.0\.50\/32/);
    lab.exec(ours, 'wg', ['set', OURS, 'peer', extra, 'remove']);
    assert.ok(!lab.exec(ours, 'wg', ['show', OURS, 'dump']).includes(extra), 'and removed again');
  });

  test('roaming: ours moves to another underlay address and traffic continues', async () => {
    const veth = `veth-o${suffix}`;
    lab.exec(ours, 'ip', ['addr', 'del', '192.0.2.1/24', 'dev', veth]);
    lab.exec(ours, 'ip', ['addr', 'add', '192.0.2.10/24', 'dev', veth]);
    try {
      await pingEventually(ours, '10.9.0.2');
      assert.match(wgShow(ref, REF, 'endpoints'), /192\.0\.2\.10:51820/);
      await pingEventually(ref, '10.9.0.1');
    } finally {
      lab.exec(ours, 'ip', ['addr', 'del', '192.0.2.10/24', 'dev', veth]);
      lab.exec(ours, 'ip', ['addr', 'add', '192.0.2.1/24', 'dev', veth]);
    }
    await pingEventually(ours, '10.9.0.2');
  });

  test('wg set listen-port 0 moves ours to a new port, as wireguard-go does, and the tunnel follows', async () => {
    lab.exec(ours, 'wg', ['set', OURS, 'listen-port', '0']);
    try {
      const moved = wgShow(ours, OURS, 'listen-port');
      assert.match(moved, /^\d+$/);
      assert.notEqual(moved, '51820', 'a new port, not the old one kept');
      assert.notEqual(moved, '0', 'and listening');
      await pingEventually(ours, '10.9.0.2');
      assert.match(wgShow(ref, REF, 'endpoints'), new RegExp(`192\\.0\\.2\\.1:${moved}$`, 'm'), 'wireguard-go learned the new port');
    } finally {
      lab.exec(ours, 'wg', ['set', OURS, 'listen-port', '51820']);
    }
  });

  test('full tunnel (0.0.0.0/0, ::/0): wg-quick\'s fwmark policy routing works with our socket mark', async () => {
    oursDown();
    oursUp('0.0.0.0/0, ::/0');
    assert.equal(wgShow(ours, OURS, 'fwmark'), '0xca6c', 'wg-quick set the fwmark on our device');
    // The LAN is reached only through the tunnel; the encrypted packets reach 192.0.2.2 over
    // the underlay because our socket carries the mark that bypasses the tunnel's table.
    await pingEventually(ours, '198.51.100.2');
    await pingEventually(ours, '10.9.0.2');
    const route = lab.exec(ours, 'ip', ['route', 'get', '198.51.100.2']);
    assert.match(route, new RegExp(`dev ${OURS}`), 'the LAN route goes through our interface');
    oursDown();
    assert.notEqual(lab.tryExec(ours, 'ip', ['link', 'show', OURS]).status, 0);
  });
});
