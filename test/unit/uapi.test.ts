/**
 * The UAPI text protocol (golden files) and its Unix socket server, against a fake device and
 * against the real `wg` tool, which talks to /var/run/wireguard/<iface>.sock when no kernel
 * interface of that name exists.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoPath } from '../support/paths.js';
import { silentLogger } from '../../engine/logger.js';
import { isAllZero, keyFromBase64, keyToBase64, keyToHex } from '../../engine/keys.js';
import { AllowedIps } from '../../engine/routing/allowed-ips.js';
import { formatCidr, parseCidr, type Cidr } from '../../engine/routing/cidr.js';
import { constants as osConstants } from 'node:os';
import { formatUapiGet, parseUapiEndpoint, parseUapiSet } from '../../engine/uapi/protocol.js';
import { serveUapi, uapiSocketPath, type UapiServer } from '../../engine/uapi/server.js';
import {
  UAPI_EINVAL,
  UAPI_EPROTO,
  uapiErrno,
  type UapiDeviceSnapshot,
  type UapiError,
  type UapiSetRequest,
  type UapiTarget,
} from '../../engine/uapi/types.js';
import { parseConf } from '../../engine/conf/parse.js';
import { serialiseSetconf } from '../../engine/conf/serialise.js';

const fixture = (name: string) => readFileSync(repoPath('test', 'fixtures', 'uapi', name), 'utf8');
const key = (b64: string) => {
  const r = keyFromBase64(b64);
  if (!r.ok) throw new Error(r.message);
  return r.key;
};
const cidr = (text: string): Cidr => {
  const r = parseCidr(text);
  if (!r.ok) throw new Error(r.message);
  return r.cidr;
};
const PRIV = key('wDDg8T/0KoEEv7yTilcPctLGclgLFJECyGcrr//qrk8=');
const PUB1 = key('R+VLmyHEvy/22M18jvc02kexLqrt+rpm+pGb5jhapTk=');
const PSK = key('RJudMALcyVjJ7PPabr/FzwdXPW8NEC6aES+FscfmqjA=');
const PUB2 = key('FEXSLHpH3VtzAaQxmaiAjs/bQMYi7E1JAOU/aDzuCm4=');
/** A peer of PRIV's device in the golden reply (PUB2 is PRIV's own public key: no device lists itself as a peer). */
const PUB3 = key('dZBRq/uV1TGnXwukVqbWVRvzNPXbPueo6QezGS944ng=');

// ---------------------------------------------------------------------------------------------
// protocol

// The golden file is checked against a running wireguard-go configured from it
// (test/interop/uapi-golden-wireguard-go.test.ts), so it is not only what our formatter prints.
test('get=1 reply matches the golden file, in wireguard-go order', () => {
  const snapshot: UapiDeviceSnapshot = {
    privateKey: PRIV,
    listenPort: 51820,
    fwmark: 51820,
    peers: [
      {
        publicKey: PUB1,
        presharedKey: PSK,
        endpoint: '192.0.2.2:51820',
        persistentKeepaliveInterval: 25,
        lastHandshakeTimeSec: 1700000000,
        lastHandshakeTimeNsec: 123456789,
        rxBytes: 8192,
        txBytes: 4096,
        allowedIps: [cidr('0.0.0.0/0'), cidr('::/0')],
      },
      {
        publicKey: PUB3,
        presharedKey: null,
        endpoint: null,
        persistentKeepaliveInterval: 0,
        lastHandshakeTimeSec: 0,
        lastHandshakeTimeNsec: 0,
        rxBytes: 0,
        txBytes: 0,
        allowedIps: [cidr('10.0.0.2/32'), cidr('fd00::2/128')],
      },
    ],
  };
  assert.equal(formatUapiGet(snapshot), fixture('get-reply.txt'));
  // no private key, port 0 and fwmark 0 are left out, as wireguard-go leaves them out
  assert.equal(formatUapiGet({ privateKey: new Uint8Array(32), listenPort: 0, fwmark: 0, peers: [] }), 'errno=0\n\n');
});

test('get=1 writes every prefix as formatCidr does, from a snapshot and from a view alike', () => {
  // The reply is written byte by byte (no string per prefix); these are the cases where IPv6
  // text has choices to make: "::" runs (longest, first on a tie, never one group), embedded
  // dotted quads, and hex groups of 1 to 4 digits.
  const texts = [
    '0.0.0.0/0', '255.255.255.255/32', '10.0.0.0/8', '100.64.7.0/24', '::/0', '::1/128', '1::/16', '::ffff:192.0.2.1/128',
    '::192.0.2.1/128', '::ffff:0:192.0.2.1/128', '0:0:1::/48', '1:0:0:2:0:0:0:3/128', '1:0:0:2:0:0:3:4/128', '1:0:2:0:3:0:4:0/128',
    'fd00:a:bc:def:1234:0:0:1/128', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128', 'fe80::/10', '2001:db8::ff00:42:8329/128',
  ];
  const random = randomBytes(16 * 200);
  for (let i = 0; i < 200; i++) {
    // zero some groups so that runs of every length come up
    for (let g = 0; g < 8; g++) if (random[16 * i + 2 * g]! < 100) random.fill(0, 16 * i + 2 * g, 16 * i + 2 * g + 2);
    const address = random.subarray(16 * i, 16 * i + 16);
    texts.push(`${formatCidr({ family: 6, address, bits: 128 })}`, `${random[16 * i]}.${random[16 * i + 1]}.${random[16 * i + 2]}.${random[16 * i + 3]}/32`);
  }
  const allowedIps: Cidr[] = texts.map(cidr);
  const peer = {
    publicKey: PUB1, presharedKey: null, endpoint: null, persistentKeepaliveInterval: 0,
    lastHandshakeTimeSec: 0, lastHandshakeTimeNsec: 0, rxBytes: 0, txBytes: 0,
  };
  const expected = allowedIps.map((c) => `allowed_ip=${formatCidr(c)}`);
  const lines = (reply: string) => reply.split('\n').filter((line) => line.startsWith('allowed_ip='));
  assert.deepEqual(lines(formatUapiGet({ privateKey: null, listenPort: 0, fwmark: 0, peers: [{ ...peer, allowedIps }] })), expected);
  const view = {
    privateKey: null, listenPort: 0, fwmark: 0,
    peers: [{ ...peer, forEachAllowedIp: (visit: (family: 4 | 6, address: Uint8Array, bits: number) => void) => {
      for (const c of allowedIps) visit(c.family, Uint8Array.from(c.address), c.bits);
    } }],
  };
  assert.deepEqual(lines(formatUapiGet(view)), expected);
});

test('set=1 golden request parses into every field', () => {
  const r = parseUapiSet(fixture('set-request.txt'));
  assert.ok(r.ok, r.ok ? '' : r.error.message);
  const req = r.request;
  assert.deepEqual(req.privateKey, PRIV);
  assert.equal(req.listenPort, 51820);
  assert.equal(req.fwmark, 0);
  assert.equal(req.replacePeers, true);
  assert.equal(req.peers.length, 3);
  const [first, second, third] = req.peers;
  assert.deepEqual(first!.publicKey, PUB1);
  assert.deepEqual(first!.presharedKey, PSK);
  assert.equal(first!.endpoint, '[fd00::2]:51820', 'endpoints are normalised');
  assert.equal(first!.persistentKeepaliveInterval, 25);
  assert.equal(first!.replaceAllowedIps, true);
  assert.deepEqual(first!.allowedIps.toArray().map(formatCidr), ['10.0.0.0/24', 'fd00::/64'], 'host bits cleared');
  assert.equal(first!.remove, false);
  assert.deepEqual(second!.publicKey, PUB2);
  assert.equal(second!.updateOnly, true);
  assert.equal(second!.endpoint, '192.0.2.1:1');
  assert.equal(third!.remove, true);
});

test('set=1: allowed_ip=-PREFIX asks to remove that prefix, in order with the additions (wg set allowed-ips +A,-B)', () => {
  const parsed = parseUapiSet(`public_key=${keyToHex(PUB1)}\nallowed_ip=10.0.0.0/24\nallowed_ip=-10.0.1.7/24\nallowed_ip=-fd00::1/128\n\n`);
  assert.ok(parsed.ok);
  const changes = parsed.request.peers[0]!.allowedIps.toArray();
  assert.deepEqual(changes.map((c) => `${c.remove === true ? '-' : '+'}${formatCidr(c)}`), ['+10.0.0.0/24', '-10.0.1.0/24', '-fd00::1/128']);
  assert.equal(parsed.request.peers[0]!.replaceAllowedIps, false);
  for (const bad of ['-', '--10.0.0.0/8', '-10.0.0.1', '+10.0.0.0/8', '- 10.0.0.0/8']) {
    const refused = parseUapiSet(`public_key=${keyToHex(PUB1)}\nallowed_ip=${bad}\n\n`);
    assert.ok(!refused.ok && refused.error.errno === UAPI_EINVAL && /^allowed_ip:/.test(refused.error.message), bad);
  }
});

test('UAPI errno numbers are the platform\'s: macOS has its own EPROTO and EADDRINUSE, Windows uses Linux\'s (as wireguard-go)', () => {
  assert.deepEqual(['EIO', 'EINVAL', 'EPROTO', 'EADDRINUSE', 'ENOENT'].map((n) => uapiErrno(n as 'EIO', 'darwin')), [5, 22, 100, 48, 2]);
  assert.deepEqual(['EIO', 'EINVAL', 'EPROTO', 'EADDRINUSE', 'ENOENT'].map((n) => uapiErrno(n as 'EIO', 'linux')), [5, 22, 71, 98, 2]);
  assert.deepEqual(['EIO', 'EINVAL', 'EPROTO', 'EADDRINUSE', 'ENOENT'].map((n) => uapiErrno(n as 'EIO', 'win32')), [5, 22, 71, 98, 2]);
  // On the host running the test, the table agrees with the host's own errno.h.
  if (process.platform !== 'win32') {
    for (const name of ['EIO', 'EINVAL', 'EPROTO', 'EADDRINUSE', 'ENOENT'] as const) assert.equal(uapiErrno(name), osConstants.errno[name], name);
  }
  assert.equal(UAPI_EPROTO, uapiErrno('EPROTO'));
});

test('set=1: bad values are EINVAL naming the key; non key=value lines are EPROTO', () => {
  const pub = `public_key=${keyToHex(PUB1)}`;
  const cases: [string[], number, RegExp][] = [
    [['private_key=abc'], UAPI_EINVAL, /^private_key:/],
    [['listen_port=65536'], UAPI_EINVAL, /^listen_port:/],
    [['listen_port=-1'], UAPI_EINVAL, /^listen_port:/],
    [['listen_port= 1'], UAPI_EINVAL, /^listen_port:/],
    [['fwmark=4294967296'], UAPI_EINVAL, /^fwmark:/],
    [['replace_peers=false'], UAPI_EINVAL, /^replace_peers:/],
    [['public_key=zz'], UAPI_EINVAL, /^public_key:/],
    [['endpoint=192.0.2.1:1'], UAPI_EINVAL, /'endpoint' is not a device key/],
    [['allowed_ip=10.0.0.0/8'], UAPI_EINVAL, /'allowed_ip' is not a device key/],
    [[pub, 'listen_port=1'], UAPI_EINVAL, /'listen_port' is not a peer key/],
    [[pub, 'private_key=' + '0'.repeat(64)], UAPI_EINVAL, /'private_key' is not a peer key/],
    [[pub, 'remove=false'], UAPI_EINVAL, /^remove:/],
    [[pub, 'update_only=1'], UAPI_EINVAL, /^update_only:/],
    [[pub, 'preshared_key=12'], UAPI_EINVAL, /^preshared_key:/],
    [[pub, 'endpoint=192.0.2.1'], UAPI_EINVAL, /^endpoint:/],
    [[pub, 'endpoint=fd00::1:51820'], UAPI_EINVAL, /^endpoint:/],
    [[pub, 'endpoint=example.com:51820'], UAPI_EINVAL, /^endpoint:/],
    [[pub, 'endpoint=192.0.2.1:65536'], UAPI_EINVAL, /^endpoint:/],
    [[pub, 'persistent_keepalive_interval=65536'], UAPI_EINVAL, /^persistent_keepalive_interval:/],
    [[pub, 'replace_allowed_ips=yes'], UAPI_EINVAL, /^replace_allowed_ips:/],
    [[pub, 'allowed_ip=10.0.0.0/33'], UAPI_EINVAL, /^allowed_ip:/],
    [[pub, 'allowed_ip=10.0.0.1'], UAPI_EINVAL, /^allowed_ip:/],
    [[pub, 'protocol_version=2'], UAPI_EINVAL, /^protocol_version:/],
    [[pub, 'last_handshake_time_sec=0'], UAPI_EINVAL, /'last_handshake_time_sec' is not a peer key/],
    [['garbage'], UAPI_EPROTO, /not key=value/],
    [[pub, 'garbage'], UAPI_EPROTO, /not key=value/],
    [['private_key' + keyToHex(PUB1)], UAPI_EPROTO, /not key=value/],
  ];
  for (const [lines, errno, message] of cases) {
    const r = parseUapiSet(lines.join('\n') + '\n\n');
    assert.equal(r.ok, false, lines.join(' | '));
    if (!r.ok) {
      assert.equal(r.error.errno, errno, lines.join(' | '));
      assert.match(r.error.message, message, lines.join(' | '));
      assert.ok(!r.error.message.includes(keyToHex(PUB1).slice(0, 16)), 'no key material in messages');
    }
  }
  // an all-zero private key is valid (it removes the key); so is an empty request
  const zero = parseUapiSet(`private_key=${'0'.repeat(64)}\n\n`);
  assert.ok(zero.ok && zero.request.privateKey && isAllZero(zero.request.privateKey));
  assert.deepEqual(parseUapiSet('\n'), { ok: true, request: { replacePeers: false, peers: [] } });
});

test('UAPI endpoints are IP literals with a port, normalised', () => {
  assert.equal(parseUapiEndpoint('192.0.2.1:51820'), '192.0.2.1:51820');
  assert.equal(parseUapiEndpoint('[2001:DB8::0:1]:443'), '[2001:db8::1]:443');
  for (const bad of ['192.0.2.1', '[fd00::1]', '[fd00::1]51820', 'fd00::1:1', '1.2.3.4:', '1.2.3.4:x', '[fd00::1%eth0]:1', '']) {
    assert.equal(parseUapiEndpoint(bad), null, bad);
  }
});

// ---------------------------------------------------------------------------------------------
// a fake device: applies requests to a small model, as a WireGuard device would

interface FakePeer {
  publicKey: Uint8Array;
  presharedKey: Uint8Array | null;
  endpoint: string | null;
  keepalive: number;
}

class FakeDevice implements UapiTarget {
  privateKey: Uint8Array | null = null;
  listenPort = 0;
  fwmark = 0;
  readonly peers = new Map<string, FakePeer>();
  readonly routes = new AllowedIps<string>();
  readonly requests: UapiSetRequest[] = [];
  /** A port this fake pretends is taken, to test how errors reach `wg`. */
  busyPort = 1;

  snapshot(): UapiDeviceSnapshot {
    return {
      privateKey: this.privateKey,
      listenPort: this.listenPort,
      fwmark: this.fwmark,
      peers: [...this.peers].map(([id, p]) => ({
        publicKey: p.publicKey,
        presharedKey: p.presharedKey,
        endpoint: p.endpoint,
        persistentKeepaliveInterval: p.keepalive,
        lastHandshakeTimeSec: 0,
        lastHandshakeTimeNsec: 0,
        rxBytes: 0,
        txBytes: 0,
        allowedIps: this.routes.entriesFor(id),
      })),
    };
  }

  applySet(request: UapiSetRequest): UapiError | null {
    this.requests.push(request);
    if (request.listenPort === this.busyPort) return { errno: UAPI_EINVAL, message: 'listen_port: port busy' };
    if (request.privateKey) this.privateKey = isAllZero(request.privateKey) ? null : request.privateKey;
    if (request.listenPort !== undefined) this.listenPort = request.listenPort;
    if (request.fwmark !== undefined) this.fwmark = request.fwmark;
    if (request.replacePeers) {
      for (const id of this.peers.keys()) this.routes.removeByValue(id);
      this.peers.clear();
    }
    for (const change of request.peers) {
      const id = keyToHex(change.publicKey);
      if (change.remove) {
        this.peers.delete(id);
        this.routes.removeByValue(id);
        continue;
      }
      let peer = this.peers.get(id);
      if (!peer) {
        if (change.updateOnly) continue;
        peer = { publicKey: change.publicKey, presharedKey: null, endpoint: null, keepalive: 0 };
        this.peers.set(id, peer);
      }
      if (change.presharedKey) peer.presharedKey = isAllZero(change.presharedKey) ? null : change.presharedKey;
      if (change.endpoint !== undefined) peer.endpoint = change.endpoint;
      if (change.persistentKeepaliveInterval !== undefined) peer.keepalive = change.persistentKeepaliveInterval;
      if (change.replaceAllowedIps) this.routes.removeByValue(id);
      for (const prefix of change.allowedIps) {
        if (prefix.remove === true) this.routes.remove(prefix, id);
        else this.routes.insert(prefix, id);
      }
    }
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// server, through a plain socket client

const scratch = mkdtempSync(join(tmpdir(), 'wirelane-uapi-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
let socketCounter = 0;
const nextSocketPath = () => join(scratch, `dir${++socketCounter}`, 'wg0.sock');

/** Sends `text`, optionally half-closes, and collects everything until the server closes or
 *  `untilReplies` replies (each ending in "\n\n" after an errno line) have arrived. */
function exchange(path: string, text: string | Buffer, options: { untilReplies?: number; halfClose?: boolean } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    let received = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer within 5 s; got ${JSON.stringify(received)}`));
    }, 5000);
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(received);
    };
    socket.on('data', (d) => {
      received += d.toString('utf8');
      const replies = received.match(/errno=-?\d+\n\n/g)?.length ?? 0;
      if (options.untilReplies !== undefined && replies >= options.untilReplies) done();
    });
    socket.on('close', done);
    socket.on('error', () => done());
    socket.write(text);
    if (options.halfClose) socket.end();
  });
}

async function withServer(fn: (server: UapiServer, device: FakeDevice, path: string) => Promise<void>): Promise<void> {
  const device = new FakeDevice();
  const path = nextSocketPath();
  const server = await serveUapi(path, device, silentLogger);
  try {
    await fn(server, device, path);
  } finally {
    await server.close();
  }
}

test('server: socket 0600 in a 0755 folder, several requests on one connection, close removes it', async () => {
  await withServer(async (_server, device, path) => {
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(statSync(join(path, '..')).mode & 0o777, 0o755);
    const set = `set=1\nprivate_key=${keyToHex(PRIV)}\nlisten_port=51820\npublic_key=${keyToHex(PUB1)}\nallowed_ip=10.0.0.2/32\nendpoint=192.0.2.2:51820\n\n`;
    const reply = await exchange(path, `${set}get=1\n\nset=1\nlisten_port=70000\n\nget=1\n\n`, { untilReplies: 4 });
    const expectedGet =
      `private_key=${keyToHex(PRIV)}\nlisten_port=51820\npublic_key=${keyToHex(PUB1)}\npreshared_key=${'0'.repeat(64)}\n` +
      'protocol_version=1\nendpoint=192.0.2.2:51820\nlast_handshake_time_sec=0\nlast_handshake_time_nsec=0\ntx_bytes=0\nrx_bytes=0\n' +
      'persistent_keepalive_interval=0\nallowed_ip=10.0.0.2/32\nerrno=0\n\n';
    assert.equal(reply, `errno=0\n\n${expectedGet}errno=-${UAPI_EINVAL}\n\n${expectedGet}`, 'a refused set changes nothing');
    assert.equal(device.requests.length, 1, 'the invalid request never reached the device');
  });
});

test('server: malformed input is answered or dropped, and the server keeps serving', async () => {
  await withServer(async (_server, device, path) => {
    // an unknown operation closes the connection without a reply, as wireguard-go does
    assert.equal(await exchange(path, 'hello=1\n'), '');
    // text after get=1 where the empty line belongs
    assert.equal(await exchange(path, 'get=1\nx\n'), `errno=-${UAPI_EINVAL}\n\n`);
    // a line longer than 4 KiB, with or without its newline
    assert.equal(await exchange(path, `set=1\nlisten_port=${'1'.repeat(5000)}\n\n`), `errno=-${UAPI_EPROTO}\n\n`);
    assert.equal(await exchange(path, `set=1\nlisten_port=${'1'.repeat(5000)}`), `errno=-${UAPI_EPROTO}\n\n`);
    // a request refused on its first line is answered once, at its empty line, however long it is
    const many = `set=1\n${`allowed_ip=10.0.0.0/8\n`.repeat(60_000)}\n`;
    assert.equal(await exchange(path, `${many}`, { untilReplies: 1 }), `errno=-${UAPI_EINVAL}\n\n`);
    // a set cut off before its empty line is not applied
    assert.equal(await exchange(path, 'set=1\nlisten_port=4242\n', { halfClose: true }), `errno=-${UAPI_EPROTO}\n\n`);
    assert.equal(device.listenPort, 0);
    // binary garbage
    assert.equal(await exchange(path, randomBytes(3000)), '');
    // still serving
    assert.equal(await exchange(path, 'get=1\n\n', { untilReplies: 1 }), 'errno=0\n\n');
    assert.equal(device.requests.length, 0);
  });
});

test('server: a set far over 1 MiB (300 peers of 200 allowed IPs) is parsed as it streams and applied whole', async () => {
  await withServer(async (_server, device, path) => {
    let text = 'set=1\nreplace_peers=true\n';
    const expected = new Set<string>();
    for (let p = 0; p < 300; p++) {
      const publicKey = Buffer.alloc(32, 0);
      publicKey.writeUInt32BE(p + 1, 0);
      text += `public_key=${publicKey.toString('hex')}\nreplace_allowed_ips=true\n`;
      for (let i = 0; i < 200; i++) {
        const prefix = `10.${p >> 2}.${((p & 3) << 6) | (i >> 2)}.${(i & 3) << 6}/26`;
        text += `allowed_ip=${prefix}\n`;
        expected.add(`${publicKey.toString('hex')} ${prefix}`);
      }
    }
    text += '\n';
    assert.ok(text.length > 1.5 * 1024 * 1024, `${text.length} bytes`);
    assert.equal(await exchange(path, text, { untilReplies: 1 }), 'errno=0\n\n');
    assert.equal(device.requests.length, 1, 'one request');
    const snapshot = device.snapshot();
    const got = new Set(snapshot.peers.flatMap((peer) => peer.allowedIps.map((c) => `${Buffer.from(peer.publicKey).toString('hex')} ${formatCidr(c)}`)));
    assert.equal(got.size, expected.size);
    for (const entry of expected) assert.ok(got.has(entry), entry);
  });
});

test('server: a stale socket is replaced, a live one is refused', async () => {
  const path = nextSocketPath();
  mkdirSync(join(path, '..'), { recursive: true });
  // A process that bound the socket and died without removing it, as a crashed engine would.
  const crashed = spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.exit(0))`]);
  assert.equal(crashed.status, 0);
  assert.ok(lstatSync(path).isSocket(), 'a leftover socket file exists');
  const fresh = await serveUapi(path, new FakeDevice(), silentLogger);
  try {
    assert.equal(await exchange(path, 'get=1\n\n', { untilReplies: 1 }), 'errno=0\n\n');
    await assert.rejects(serveUapi(path, new FakeDevice(), silentLogger), /in use by another running process/);
    assert.ok(existsSync(path), 'the refused start left the live socket alone');
  } finally {
    await fresh.close();
  }
  assert.equal(existsSync(path), false);
  // a regular file in the way is not deleted
  writeFileSync(path, 'not a socket');
  await assert.rejects(serveUapi(path, new FakeDevice(), silentLogger), /not a socket/);
  assert.equal(readFileSync(path, 'utf8'), 'not a socket');
});

// ---------------------------------------------------------------------------------------------
// the real `wg` tool

const wgAvailable = spawnSync('wg', ['--version']).status === 0 && process.getuid?.() === 0;

test('real wg: show, set and setconf round-trip through the socket', { skip: !wgAvailable && 'needs root and wireguard-tools' }, async () => {
  const iface = `wltest${randomBytes(3).toString('hex')}`;
  const device = new FakeDevice();
  const server = await serveUapi(uapiSocketPath(iface), device, silentLogger);
  // wg must run asynchronously: the server answering it lives in this same event loop.
  const wg = async (...args: string[]) => (await promisify(execFile)('wg', args, { encoding: 'utf8', timeout: 10_000 })).stdout;
  try {
    // setconf with our setconf view of an example tunnel
    const parsed = parseConf(readFileSync(repoPath('test', 'fixtures', 'conf', 'laptop-full.conf'), 'utf8'));
    assert.ok(parsed.ok);
    const confPath = join(scratch, `${iface}.conf`);
    writeFileSync(confPath, serialiseSetconf(parsed.config), { mode: 0o600 });
    await wg('setconf', iface, confPath);
    assert.deepEqual(device.privateKey, PRIV);
    assert.equal(device.requests.at(-1)!.replacePeers, true);

    await wg('set', iface, 'listen-port', '51820', 'fwmark', '0x20', 'peer', keyToBase64(PUB2), 'allowed-ips', '10.0.0.0/24,fd00::/64', 'endpoint', '192.0.2.1:51820', 'persistent-keepalive', '25');
    const publicKey = execFileSync('wg', ['pubkey'], { input: keyToBase64(PRIV) + '\n', encoding: 'utf8' }).trim();
    const dump = (await wg('show', iface, 'dump')).trimEnd().split('\n').map((l) => l.split('\t'));
    assert.deepEqual(dump[0], [keyToBase64(PRIV), publicKey, '51820', '0x20']);
    const byKey = new Map(dump.slice(1).map((fields) => [fields[0], fields]));
    assert.deepEqual(byKey.get(keyToBase64(PUB1)), [
      keyToBase64(PUB1),
      keyToBase64(PSK),
      '192.0.2.2:51820',
      '0.0.0.0/0,::/0',
      '0',
      '0',
      '0',
      '25',
    ]);
    assert.deepEqual(byKey.get(keyToBase64(PUB2)), [keyToBase64(PUB2), '(none)', '192.0.2.1:51820', '10.0.0.0/24,fd00::/64', '0', '0', '0', '25']);

    // an error from the device reaches wg as errno, which it reports as "Invalid argument"
    await assert.rejects(wg('set', iface, 'listen-port', String(device.busyPort)), (error: { stderr?: string }) => {
      assert.match(error.stderr ?? '', /Invalid argument/);
      return true;
    });

    // removing a peer
    await wg('set', iface, 'peer', keyToBase64(PUB1), 'remove');
    assert.equal((await wg('show', iface, 'peers')).trim(), keyToBase64(PUB2));
    assert.match(await wg('showconf', iface), /AllowedIPs = 10\.0\.0\.0\/24, fd00::\/64/);
  } finally {
    await server.close();
  }
  assert.equal(existsSync(uapiSocketPath(iface)), false);
});
