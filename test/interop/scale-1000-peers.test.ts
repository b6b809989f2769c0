/**
 * A thousand peers of 131 allowed IPs each (131,000 prefixes, the order of the kernel selftest's
 * 130,560): the whole device goes into wirelane-engine with ONE `wg setconf` (a 4 MB UAPI
 * request, which wireguard-go and the kernel take from root), and `wg showconf` gives back the
 * same device: the same private key and port, the same peers, each with the same set of allowed
 * IPs (compared as sets of prefixes: the order of peers and prefixes is the implementation's).
 *
 * The same file goes through Debian's wireguard-go (and modern wireguard-go where it is built),
 * each in a namespace of its own; the times of both are printed as diagnostics (not asserted:
 * the machine is shared), and wireguard-go's answer must be the same sets too, which keeps the
 * comparison honest.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatCidr, parseCidr } from '../../engine/routing/cidr.js';
import { repoPath } from '../support/paths.js';
import { NetnsLab, netnsUnavailableReason, waitFor } from '../support/netns.js';

const engineBin = repoPath('engine', 'bin', 'wirelane-engine');
const MODERN = '/var/cache/wirelane-reference/wireguard-go-modern';
const PEERS = 1000;
const ALLOWED_IPS_PER_PEER = 131;
const unavailable =
  netnsUnavailableReason(['wg', 'wireguard-go']) ??
  (existsSync(repoPath('dist', 'engine', 'cli', 'wirelane-engine.js')) ? null : 'the engine is not built: run `npm run build` first');

interface Device {
  privateKey: string;
  listenPort: number;
  /** Public key -> the set of its allowed IPs, each as formatCidr prints it. */
  peers: Map<string, Set<string>>;
}

/**
 * Prefixes unique across the device (a prefix belongs to one peer only, so a duplicate would
 * move): IPv4 hosts, IPv6 /64 networks and /128 hosts numbered by a device-wide counter, and one
 * IPv4 /24 of each peer's own.
 */
function makeDevice(): Device {
  const peers = new Map<string, Set<string>>();
  let n = 0;
  for (let p = 0; p < PEERS; p++) {
    const prefixes = new Set<string>([`100.${64 + (p >> 8)}.${p & 255}.0/24`]);
    while (prefixes.size < ALLOWED_IPS_PER_PEER) {
      n++;
      const hi = (n >>> 16).toString(16);
      const lo = (n & 0xffff).toString(16);
      if (n % 3 === 0) prefixes.add(`10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}/32`);
      else if (n % 3 === 1) prefixes.add(`fd00:${hi}:${lo}::/64`);
      else prefixes.add(`fd01::${hi}:${lo}/128`);
    }
    peers.set(randomBytes(32).toString('base64'), prefixes);
  }
  // Clamped, as `wg genkey` makes it (and as wireguard-go and the kernel report any key).
  const privateKey = randomBytes(32);
  privateKey[0]! &= 248;
  privateKey[31] = (privateKey[31]! & 127) | 64;
  return { privateKey: privateKey.toString('base64'), listenPort: 51931, peers };
}

function confText(device: Device): string {
  const lines = ['[Interface]', `PrivateKey = ${device.privateKey}`, `ListenPort = ${device.listenPort}`, ''];
  for (const [publicKey, prefixes] of device.peers) lines.push('[Peer]', `PublicKey = ${publicKey}`, `AllowedIPs = ${[...prefixes].join(', ')}`, '');
  return lines.join('\n');
}

/** Reads `wg showconf` output back into a Device, prefixes normalised through our CIDR parser. */
function parseShowconf(text: string): Device {
  const device: Device = { privateKey: '', listenPort: 0, peers: new Map() };
  let current: Set<string> | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const equals = line.indexOf('=');
    if (line === '[Peer]') current = null;
    if (equals < 0) continue;
    const key = line.slice(0, equals).trim();
    const value = line.slice(equals + 1).trim();
    if (key === 'PrivateKey') device.privateKey = value;
    else if (key === 'ListenPort') device.listenPort = Number(value);
    else if (key === 'PublicKey') {
      current = new Set();
      device.peers.set(value, current);
    } else if (key === 'AllowedIPs' && current !== null) {
      for (const item of value.split(',')) {
        const parsed = parseCidr(item.trim());
        assert.ok(parsed.ok, `showconf printed an allowed IP we cannot read: ${item}`);
        current.add(formatCidr(parsed.cidr));
      }
    }
  }
  return device;
}

function normalised(device: Device): Device {
  const peers = new Map<string, Set<string>>();
  for (const [key, prefixes] of device.peers) {
    peers.set(key, new Set([...prefixes].map((p) => {
      const parsed = parseCidr(p);
      assert.ok(parsed.ok);
      return formatCidr(parsed.cidr);
    })));
  }
  return { ...device, peers };
}

/** Asserts two devices are the same, saying which peer differs rather than dumping 131,000 lines. */
function assertSameDevice(actual: Device, expected: Device, who: string): void {
  assert.equal(actual.privateKey, expected.privateKey, `${who}: private key`);
  assert.equal(actual.listenPort, expected.listenPort, `${who}: listen port`);
  assert.equal(actual.peers.size, expected.peers.size, `${who}: number of peers`);
  for (const [key, prefixes] of expected.peers) {
    const got = actual.peers.get(key);
    assert.ok(got, `${who}: peer ${key} is missing`);
    const missing = [...prefixes].filter((p) => !got.has(p));
    const extra = [...got].filter((p) => !prefixes.has(p));
    assert.deepEqual({ missing: missing.slice(0, 5), extra: extra.slice(0, 5) }, { missing: [], extra: [] }, `${who}: allowed IPs of peer ${key}`);
  }
}

describe('1000 peers x 131 allowed IPs through one wg setconf and back with wg showconf', { skip: unavailable ?? false }, () => {
  const lab = new NetnsLab('sp');
  const dir = mkdtempSync(join(tmpdir(), 'wirelane-scale-'));
  const confPath = join(dir, 'device.conf');
  const expected = makeDevice();
  const suffix = String(process.pid % 1000);

  before(() => {
    writeFileSync(confPath, confText(expected), { mode: 0o600 });
  });

  after(() => {
    lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Starts `command -f NAME` in a namespace of its own; returns a function running wg there. */
  async function start(label: string, name: string, command: string, env: NodeJS.ProcessEnv): Promise<(args: string[]) => string> {
    const ns = lab.addNamespace(label);
    const socket = `/var/run/wireguard/${name}.sock`;
    lab.onCleanup(() => rmSync(socket, { force: true }));
    const child = lab.spawn(ns, command, ['-f', name], env);
    let exited = false;
    child.on('exit', () => (exited = true));
    await waitFor(`${label} to create ${socket}`, () => existsSync(socket) || exited, 20_000);
    assert.ok(!exited, `${label} exited before serving its UAPI socket`);
    return (args) => {
      // showconf prints some 4 MB: more than run()'s default output buffer.
      const result = spawnSync('ip', ['netns', 'exec', ns, 'wg', ...args], { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 << 20 });
      assert.equal(result.status, 0, `wg ${args.join(' ')} in ${label}: ${result.error?.message ?? result.stderr}`);
      return result.stdout;
    };
  }

  /** setconf, then showconf; returns what came back and how long each took. */
  function roundTrip(wg: (args: string[]) => string, name: string): { device: Device; setMs: number; showMs: number } {
    const t0 = performance.now();
    wg(['setconf', name, confPath]);
    const t1 = performance.now();
    const shown = wg(['showconf', name]);
    const t2 = performance.now();
    return { device: parseShowconf(shown), setMs: t1 - t0, showMs: t2 - t1 };
  }

  const times = new Map<string, { setMs: number; showMs: number }>();

  test('wirelane-engine takes the whole device in one setconf and gives it back unchanged', async (t) => {
    const name = `spsc${suffix}e`;
    const wg = await start('engine', name, engineBin, process.env);
    const result = roundTrip(wg, name);
    assertSameDevice(result.device, normalised(expected), 'wirelane-engine');
    times.set('wirelane-engine', result);
    t.diagnostic(`wirelane-engine: setconf ${result.setMs.toFixed(0)} ms, showconf ${result.showMs.toFixed(0)} ms`);
  });

  test("Debian's wireguard-go gives back the same sets (and its times, for comparison)", async (t) => {
    const name = `spsc${suffix}d`;
    const wg = await start('debian', name, 'wireguard-go', { ...process.env, WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1' });
    const result = roundTrip(wg, name);
    assertSameDevice(result.device, normalised(expected), 'wireguard-go');
    times.set('debian wireguard-go', result);
    t.diagnostic(`debian wireguard-go: setconf ${result.setMs.toFixed(0)} ms, showconf ${result.showMs.toFixed(0)} ms`);
    if (existsSync(MODERN)) {
      const modernName = `spsc${suffix}m`;
      const modern = await start('modern', modernName, MODERN, process.env);
      const m = roundTrip(modern, modernName);
      assertSameDevice(m.device, normalised(expected), 'modern wireguard-go');
      t.diagnostic(`modern wireguard-go: setconf ${m.setMs.toFixed(0)} ms, showconf ${m.showMs.toFixed(0)} ms`);
    }
    const ours = times.get('wirelane-engine');
    if (ours) {
      t.diagnostic(`wirelane-engine / debian wireguard-go: setconf ${(ours.setMs / result.setMs).toFixed(2)}x, showconf ${(ours.showMs / result.showMs).toFixed(2)}x`);
    }
  });
});
