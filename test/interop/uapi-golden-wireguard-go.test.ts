/**
 * The UAPI golden `get` reply (test/fixtures/uapi/get-reply.txt) checked against the real thing:
 * a wireguard-go, in a network namespace of its own (no interface but its own TUN, so nothing it
 * sends leaves), configured with the same device and peers over its UAPI socket, answers `get=1`.
 * Its reply must be the golden file, line for line, once the values only a running device has
 * (handshake time, byte counters) are set to the golden ones, and peers are put in the golden
 * order (wireguard-go lists peers in Go map order, which is random).
 *
 * The golden file was first written with our formatter; this is what makes it evidence.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import type { ChildProcess } from 'node:child_process';
import { repoPath } from '../support/paths.js';
import { NetnsLab, netnsUnavailableReason, waitFor } from '../support/netns.js';

const unavailable = netnsUnavailableReason(['wireguard-go']);
const NAME = `wlgold${process.pid % 10000}`;
const SOCKET = `/var/run/wireguard/${NAME}.sock`;

const golden = readFileSync(repoPath('test', 'fixtures', 'uapi', 'get-reply.txt'), 'utf8');
/** Values a running device has of its own; set to the golden ones before comparing. */
const LIVE_KEYS = new Set(['last_handshake_time_sec', 'last_handshake_time_nsec', 'tx_bytes', 'rx_bytes']);

/** The golden reply as a set request: same device, same peers, same order of allowed IPs. */
function setRequestFromGolden(): string {
  const lines = ['set=1'];
  for (const line of golden.split('\n')) {
    const [key, value] = line.split('=') as [string, string | undefined];
    if (value === undefined || key === 'errno' || key === 'protocol_version' || LIVE_KEYS.has(key)) continue;
    if (key === 'public_key') lines.push(line, 'replace_allowed_ips=true');
    // An all-zero preshared key is how `get` says "none"; setting it means the same.
    else lines.push(line);
  }
  return `${lines.join('\n')}\n\n`;
}

function uapi(request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(SOCKET);
    let reply = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete UAPI reply within 5 s: ${JSON.stringify(reply)}`));
    }, 5_000);
    socket.on('connect', () => socket.write(request));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('utf8');
      if (reply.endsWith('\n\n')) {
        clearTimeout(timer);
        socket.end();
        resolve(reply);
      }
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** Device lines, then one block per peer (from its public_key line), for reordering peers. */
function blocks(reply: string): { device: string[]; peers: string[][]; tail: string[] } {
  const lines = reply.split('\n');
  const device: string[] = [];
  const peers: string[][] = [];
  const tail: string[] = [];
  for (const line of lines) {
    if (line.startsWith('errno=') || (line === '' && tail.length > 0)) tail.push(line);
    else if (line.startsWith('public_key=')) peers.push([line]);
    else if (peers.length > 0 && line !== '') peers.at(-1)!.push(line);
    else if (line !== '') device.push(line);
    else tail.push(line);
  }
  return { device, peers, tail };
}

const lab = new NetnsLab('wlgold');
let wireguardGo: ChildProcess | null = null;

before(() => {
  if (unavailable) return;
  const ns = lab.addNamespace('ref');
  lab.onCleanup(() => {
    wireguardGo?.kill('SIGKILL');
    rmSync(SOCKET, { force: true });
  });
  wireguardGo = lab.spawn(ns, 'wireguard-go', ['-f', NAME], { ...process.env, WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1', LOG_LEVEL: 'error' });
});

after(() => lab.cleanup());

test('the golden get reply is what wireguard-go answers for the same device and peers', { skip: unavailable ?? false, timeout: 60_000 }, async () => {
  await waitFor(`wireguard-go's UAPI socket ${SOCKET}`, () => existsSync(SOCKET), 15_000, 50);
  assert.equal(await uapi(setRequestFromGolden()), 'errno=0\n\n', 'wireguard-go took the configuration');
  const reply = await uapi('get=1\n\n');

  const ours = blocks(golden);
  const theirs = blocks(reply);
  const liveAsGolden = (peer: string[], goldenPeer: string[]) =>
    peer.map((line) => {
      const key = line.split('=')[0]!;
      return LIVE_KEYS.has(key) ? (goldenPeer.find((g) => g.startsWith(`${key}=`)) ?? line) : line;
    });
  const byKey = new Map(theirs.peers.map((peer) => [peer[0]!, peer]));
  assert.deepEqual(theirs.device, ours.device, 'device lines (private key, port, fwmark), in order');
  assert.equal(theirs.peers.length, ours.peers.length, `wireguard-go lists ${theirs.peers.length} peers`);
  for (const goldenPeer of ours.peers) {
    const peer = byKey.get(goldenPeer[0]!);
    assert.ok(peer, `wireguard-go lists ${goldenPeer[0]}`);
    assert.deepEqual(liveAsGolden(peer, goldenPeer), goldenPeer, `the lines of ${goldenPeer[0]}, in wireguard-go's order`);
  }
  assert.deepEqual(theirs.tail, ours.tail, 'errno=0 and the empty line');
});
