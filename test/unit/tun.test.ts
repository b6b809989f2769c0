/**
 * The Linux TUN device, for real: a TUN interface inside a network namespace this test
 * creates, with 10.99.x.1/24 on it. The TUN is opened by a child process running this same
 * file inside `ip netns exec`, so the interface, its address and its routes exist only in
 * that namespace. The child reports what it reads as JSON lines and answers pings to
 * 10.99.x.2 by rewriting the request in its batch buffer and writing it back.
 *
 * Needs root and /dev/net/tun; skipped otherwise.
 */
import { spawn, execFileSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HEADROOM, TAILROOM, type PacketBatch } from '../../engine/packet-buffer.js';

const CHILD_ENV = 'WIRELANE_TUN_TEST_CHILD';
const BATCH_SIZE = 128;

interface PacketReport {
  kind: 'packets';
  count: number;
  bufferLength: number;
  packets: Array<{ offset: number; length: number; version: number; protocol: number; src: string; dst: string; payload: string }>;
}
type ChildMessage =
  | { kind: 'ready'; name: string; mtu: number }
  | PacketReport
  | { kind: 'replied'; count: number }
  | { kind: 'stats'; batches: number; packets: number; largestBatch: number }
  | { kind: 'closed' }
  | { kind: 'error'; message: string };

// ---------------------------------------------------------------------------------------------
// Child side: runs inside the namespace.

async function runChild(name: string): Promise<void> {
  const { openLinuxTun } = await import('../../engine/tun/tun-linux.js');
  const send = (message: ChildMessage): void => {
    process.stdout.write(`${JSON.stringify(message)}\n`);
  };
  const tun = openLinuxTun(name, 1420, { batchSize: BATCH_SIZE });
  const replyOffsets = new Int32Array(BATCH_SIZE);
  const replyLengths = new Int32Array(BATCH_SIZE);
  tun.onClosed(() => {
    send({ kind: 'closed' });
    process.exit(0);
  });
  tun.start((batch: PacketBatch) => {
    const report: PacketReport = { kind: 'packets', count: batch.count, bufferLength: batch.buffer.length, packets: [] };
    let replies = 0;
    for (let i = 0; i < batch.count; i++) {
      const offset = batch.offsets[i]!;
      const length = batch.lengths[i]!;
      const packet = batch.buffer.subarray(offset, offset + length);
      const version = packet[0]! >> 4;
      const ihl = (packet[0]! & 0x0f) * 4;
      if (version === 4 && report.packets.length < 8) {
        report.packets.push({
          offset, length, version, protocol: packet[9]!,
          src: packet.subarray(12, 16).join('.'), dst: packet.subarray(16, 20).join('.'),
          payload: packet.subarray(ihl + (packet[9] === 17 ? 8 : 0)).toString('latin1'),
        });
      }
      if (version === 4 && packet[9] === 1 && packet[ihl] === 8) {
        turnEchoRequestIntoReply(packet, ihl);
        replyOffsets[replies] = offset;
        replyLengths[replies] = length;
        replies++;
      }
    }
    send(report);
    if (replies > 0) send({ kind: 'replied', count: tun.write(batch.buffer, replyOffsets, replyLengths, replies) });
  });
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line === 'stats') {
      const stats = tun.stats();
      if (stats) send({ kind: 'stats', batches: stats.batches, packets: stats.packets, largestBatch: stats.largestBatch });
    }
  });
  send({ kind: 'ready', name: tun.name, mtu: tun.mtu() });
}

function checksum(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) sum += (bytes[i]! << 8) | (bytes[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** Swaps the addresses, makes the ICMP type an echo reply, and fixes both checksums. */
function turnEchoRequestIntoReply(packet: Buffer, ihl: number): void {
  const source = Buffer.from(packet.subarray(12, 16));
  packet.copy(packet, 12, 16, 20);
  source.copy(packet, 16);
  packet[8] = 64;
  packet.writeUInt16BE(0, 10);
  packet.writeUInt16BE(checksum(packet.subarray(0, ihl)), 10);
  packet[ihl] = 0;
  packet.writeUInt16BE(0, ihl + 2);
  packet.writeUInt16BE(checksum(packet.subarray(ihl)), ihl + 2);
}

// ---------------------------------------------------------------------------------------------
// Parent side: the tests.

const childName = process.env[CHILD_ENV];
if (childName) {
  runChild(childName).catch((error: unknown) => {
    process.stdout.write(`${JSON.stringify({ kind: 'error', message: String(error) })}\n`);
    process.exit(1);
  });
} else {
  const canRun = process.getuid?.() === 0 && existsSync('/dev/net/tun');
  test('Linux TUN in a network namespace: reads batches with headroom, writes packets back, notices deletion',
    { skip: canRun ? false : 'needs root and /dev/net/tun', timeout: 60_000 }, async () => {
      await runParent();
    });
}

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
}

function inNamespace(ns: string, command: string, args: string[], timeoutMs = 10_000): string {
  return execFileSync('ip', ['netns', 'exec', ns, command, ...args],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
}

class ChildMessages {
  private readonly queue: ChildMessage[] = [];
  private waiter: (() => void) | undefined;
  constructor(child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        this.queue.push(JSON.parse(line) as ChildMessage);
      } catch {
        return; // not one of ours
      }
      this.waiter?.();
    });
  }

  /** Waits (bounded) for the first message that `match` accepts, consuming messages up to it. */
  async next<T extends ChildMessage>(match: (m: ChildMessage) => m is T, what: string, timeoutMs = 5000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.queue.length > 0) {
        const message = this.queue.shift()!;
        if (message.kind === 'error') throw new Error(`TUN child failed: ${message.message}`);
        if (match(message)) return message;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => { clearTimeout(timer); resolve(); };
      });
    }
  }
}

const isKind = <K extends ChildMessage['kind']>(kind: K) =>
  (m: ChildMessage): m is Extract<ChildMessage, { kind: K }> => m.kind === kind;

async function runParent(): Promise<void> {
  const suffix = `${process.pid % 10000}${Math.floor(Math.random() * 100)}`;
  const ns = `wl-tun-${suffix}`;
  const name = `wltun${suffix}`.slice(0, 15);
  const subnet = `10.99.${process.pid % 250}`;
  let child: ChildProcessWithoutNullStreams | undefined;
  let stderr = '';
  ip('netns', 'add', ns);
  try {
    const env: NodeJS.ProcessEnv = { ...process.env, [CHILD_ENV]: name };
    delete env['NODE_TEST_CONTEXT'];
    const nodeArgs = process.execArgv.filter((arg) => !arg.startsWith('--test'));
    child = spawn('ip', ['netns', 'exec', ns, process.execPath, ...nodeArgs, fileURLToPath(import.meta.url)], { env });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    const messages = new ChildMessages(child);

    const ready = await messages.next(isKind('ready'), 'the child to open the TUN', 15_000).catch((error: Error) => {
      throw new Error(`${error.message}; child stderr: ${stderr}`);
    });
    assert.equal(ready.name, name);
    assert.equal(ready.mtu, 1420);
    assert.equal(inNamespace(ns, 'cat', [`/sys/class/net/${name}/mtu`]).trim(), '1420', 'the MTU was set on the interface');

    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('-n', ns, 'addr', 'add', `${subnet}.1/24`, 'dev', name);
    // A queue longer than the burst below, so a busy machine cannot make the kernel drop any of it.
    ip('-n', ns, 'link', 'set', name, 'txqueuelen', '4000');
    ip('-n', ns, 'link', 'set', name, 'up');

    // A datagram routed to the TUN arrives as one IPv4 packet in a slot with headroom.
    inNamespace(ns, 'bash', ['-c', `printf hello-tun > /dev/udp/${subnet}.2/9999`]);
    const seen = await messages.next(
      (m): m is PacketReport => m.kind === 'packets' && m.packets.some((p) => p.payload === 'hello-tun'),
      'the UDP datagram on the TUN');
    const packet = seen.packets.find((p) => p.payload === 'hello-tun')!;
    assert.equal(packet.version, 4);
    assert.equal(packet.protocol, 17);
    assert.equal(packet.src, `${subnet}.1`);
    assert.equal(packet.dst, `${subnet}.2`);
    assert.equal(packet.length, 20 + 8 + 'hello-tun'.length);
    const slotSize = seen.bufferLength / BATCH_SIZE;
    assert.ok(slotSize >= HEADROOM + 1500 + TAILROOM && slotSize < HEADROOM + 1500 + TAILROOM + 16, `slot size ${slotSize}`);
    assert.equal(packet.offset % slotSize, HEADROOM, 'each packet starts HEADROOM bytes into its slot');
    assert.ok((packet.offset % slotSize) + packet.length + TAILROOM <= slotSize, 'TAILROOM is free after the packet');

    // Echo replies the child writes back are delivered by the kernel: ping succeeds.
    const ping = inNamespace(ns, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', `${subnet}.2`], 15_000);
    assert.match(ping, /3 received/);
    const replied = await messages.next(isKind('replied'), 'the child to write echo replies');
    assert.equal(replied.count, 1);

    // A burst: many datagrams arrive in few callbacks.
    const burst = 2000;
    inNamespace(ns, process.execPath, ['-e', `
      const s = require('node:dgram').createSocket('udp4');
      const m = Buffer.alloc(200, 1); let n = 0;
      (function go() { for (let i = 0; i < 100 && n < ${burst}; i++, n++) s.send(m, 9999, '${subnet}.2');
        if (n < ${burst}) setImmediate(go); else setTimeout(() => s.close(), 200); })();`], 20_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    child.stdin.write('stats\n');
    const stats = await messages.next(isKind('stats'), 'the reader statistics');
    assert.ok(stats.packets >= burst * 0.9, `read ${stats.packets} packets of ${burst}`);
    assert.ok(stats.largestBatch > 1, `batches of more than one packet (largest ${stats.largestBatch})`);
    console.log(`TUN burst: ${stats.packets} packets in ${stats.batches} batches, largest ${stats.largestBatch}`);

    // Deleting the interface (what wg-quick down does) closes the device and fires onClosed.
    ip('-n', ns, 'link', 'del', name);
    await messages.next(isKind('closed'), 'onClosed after ip link del', 5000);
    const exited = await new Promise<number | null>((resolve) => {
      if (child!.exitCode !== null) resolve(child!.exitCode);
      child!.once('exit', (code) => resolve(code));
      setTimeout(() => resolve(null), 3000).unref();
    });
    assert.equal(exited, 0);
  } finally {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    try { ip('netns', 'del', ns); } catch { /* already gone */ }
  }
}
