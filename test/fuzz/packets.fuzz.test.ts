/**
 * 1,000,000 generated datagrams (per FUZZ_SCALE) into two running Devices through the in-memory
 * bind, and 100,000 generated IP packets into one of them through its in-memory TUN, while real
 * traffic flows both ways.
 *
 * The generators are structure-aware: they start from the real messages of the session under
 * test (initiation, response, transport and keepalive, recorded off the wire), synthesised
 * cookie replies and initiations with a valid mac1, and mutate them: verbatim replays, flipped
 * bits, truncations and extensions, a changed type, reserved bytes, receiver index or counter,
 * and sent from the real peer's own address as well as from thousands of others. A share is
 * plain random bytes at the sizes where the parser changes its mind. TUN packets are well-formed
 * IPv4/IPv6 packets with their header mutated (version, lengths, source, destination).
 *
 * Invariants:
 *  - nothing throws out of the device (node:test fails the file on an uncaught exception;
 *    injection is synchronous here, so a throw surfaces at the injecting line with the seed);
 *  - nothing is delivered that was not sent: each TUN keeps exactly the multiset of packets the
 *    other side's TUN sent and a correct receiver must deliver (source in the sender's allowed
 *    IPs, total length within the packet), trimmed to their IP length; no fuzzed datagram ever
 *    reaches a TUN, and every real packet does;
 *  - state stays bounded: the peers' endpoints never roam to a forged source, the heap after the
 *    run is within a bound of the heap before it, and every fuzzed datagram is accounted for by
 *    a drop counter;
 *  - the tunnel still works afterwards.
 *
 * The clock is a FakeClock stepped 1 ms per round, so no rekey or keepalive timer moves the
 * session mid-run and a replay reproduces exactly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { makeEndpoint } from '../../engine/conn/memory-bind.js';
import type { Endpoint } from '../../engine/conn/bind.js';
import { CookieGenerator } from '../../engine/noise/cookie.js';
import { PrefixChanges } from '../../engine/routing/prefix-changes.js';
import {
  MESSAGE_COOKIE_REPLY,
  MESSAGE_COOKIE_REPLY_SIZE,
  MESSAGE_INITIATION,
  MESSAGE_INITIATION_SIZE,
  MESSAGE_RESPONSE,
  MESSAGE_RESPONSE_SIZE,
  MESSAGE_TRANSPORT,
} from '../../engine/noise/constants.js';
import { createPair, crypto, eventually, FakeClock, ip, ipv4Packet, ipv6Packet, junkInitiation, type Node } from '../support/device-harness.js';
import { FUZZ_SCALE, fuzzSeed, xorshift32 } from './fuzz-scale.js';

const DATAGRAMS = 1_000_000 * FUZZ_SCALE;
const TUN_PACKETS = 100_000 * FUZZ_SCALE;
/** Datagrams per round; the handshake slices and the wire run between rounds. */
const ROUND = 1_000;
const TUN_PER_ROUND = Math.ceil((TUN_PACKETS * ROUND) / DATAGRAMS);
/** Heap growth over the run that would mean state is piling up (the run itself is ~1 GB of datagrams). */
const HEAP_GROWTH_LIMIT = 64 * 1024 * 1024;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const A_ENDPOINT = '192.0.2.1:51820';
const B_ENDPOINT = '192.0.2.2:51821';

/** A packet as a key for the multisets of "may be delivered". */
const keyOf = (packet: Uint8Array) => Buffer.from(packet.buffer, packet.byteOffset, packet.byteLength).toString('latin1');

class Multiset {
  private readonly counts = new Map<string, number>();
  size = 0;
  add(packet: Uint8Array): void {
    const key = keyOf(packet);
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    this.size++;
  }
  /** Takes one copy of `packet` out; false if there was none (it was never sent, or delivered twice). */
  take(packet: Uint8Array): boolean {
    const key = keyOf(packet);
    const n = this.counts.get(key);
    if (n === undefined) return false;
    if (n === 1) this.counts.delete(key);
    else this.counts.set(key, n - 1);
    this.size--;
    return true;
  }
}

test(`${DATAGRAMS} generated datagrams and ${TUN_PACKETS} TUN packets: nothing throws, nothing undue is delivered, state stays bounded`, { timeout: 600_000 * FUZZ_SCALE }, async () => {
  const seed = fuzzSeed('packets.fuzz');
  const next = xorshift32(seed);
  const below = (n: number) => next() % n;
  const chance = (percent: number) => below(100) < percent;
  const pool = new Uint8Array(1 << 20);
  for (let i = 0; i < pool.length; i += 4) {
    const word = next();
    pool[i] = word;
    pool[i + 1] = word >>> 8;
    pool[i + 2] = word >>> 16;
    pool[i + 3] = word >>> 24;
  }
  /** Random bytes: a view into the seeded pool (the wire copies what it is given). */
  const randomBytes = (length: number) => {
    const start = below(pool.length - length + 1);
    return pool.subarray(start, start + length);
  };
  const scratch = new Uint8Array(70_000);
  const sources: Endpoint[] = Array.from({ length: 4096 }, (_, i) =>
    i % 8 === 7 ? makeEndpoint(`fd99::${i.toString(16)}`, 1 + below(65_535)) : makeEndpoint(`10.${200 + (i >> 16)}.${(i >> 8) & 0xff}.${i & 0xff}`, 1 + below(65_535)),
  );

  const clock = new FakeClock();
  const { network, a, b } = createPair({ clock });
  /** What each TUN may still receive: exactly what the other side sent and a receiver must deliver. */
  const dueAtA = new Multiset();
  const dueAtB = new Multiset();
  const violations: string[] = [];
  const watch = (node: Node, due: Multiset, name: string) =>
    node.tun.onWrite((packet) => {
      if (!due.take(packet) && violations.length < 10) violations.push(`${name} received a packet nobody sent: ${Buffer.from(packet.subarray(0, 64)).toString('hex')}`);
    });
  watch(a, dueAtA, 'A');
  watch(b, dueAtB, 'B');

  let realId = 0;
  const realPacket = (from: 'A' | 'B', v6: boolean) => {
    const payload = `real ${from} ${realId++} ${'.'.repeat(below(200))}`;
    if (from === 'A') return v6 ? ipv6Packet('fd00::1', 'fd00::2', payload) : ipv4Packet('10.0.0.1', '10.0.0.2', payload);
    return v6 ? ipv6Packet('fd00::2', 'fd00::1', payload) : ipv4Packet('10.0.0.2', '10.0.0.1', payload);
  };

  try {
    // Real messages to mutate: a handshake and transport both ways, recorded off the wire.
    network.record = true;
    for (let i = 0; i < 8; i++) {
      const packet = realPacket('A', i % 2 === 1);
      dueAtB.add(packet);
      a.tun.inject([packet]);
    }
    await eventually('real traffic A -> B', () => dueAtB.size === 0);
    for (let i = 0; i < 8; i++) {
      const packet = realPacket('B', i % 2 === 1);
      dueAtA.add(packet);
      b.tun.inject([packet]);
    }
    await eventually('real traffic B -> A', () => dueAtA.size === 0);
    // A keepalive from A: a transport message with nothing inside.
    a.device.applySet({ replacePeers: false, peers: [{ publicKey: b.publicKey, remove: false, updateOnly: true, replaceAllowedIps: false, allowedIps: new PrefixChanges(), persistentKeepaliveInterval: 1 }] });
    await network.settle();
    a.device.applySet({ replacePeers: false, peers: [{ publicKey: b.publicKey, remove: false, updateOnly: true, replaceAllowedIps: false, allowedIps: new PrefixChanges(), persistentKeepaliveInterval: 0 }] });
    await network.settle();
    network.record = false;
    const recorded = network.recorded.splice(0);
    const kinds = (to: string) => {
      const of = (type: number) => recorded.filter((d) => d.to === to && d.data[0] === type).map((d) => d.data);
      return { initiation: of(MESSAGE_INITIATION), response: of(MESSAGE_RESPONSE), transport: of(MESSAGE_TRANSPORT) };
    };
    const toB = kinds(B_ENDPOINT);
    const toA = kinds(A_ENDPOINT);
    assert.equal(toB.initiation.length, 1, 'recorded A\'s initiation');
    assert.equal(toA.response.length, 1, 'recorded B\'s response');
    assert.ok(toB.transport.some((d) => d.length === 32), 'recorded a keepalive');
    // A cookie reply for each side's handshake index (a real one needs the other under load;
    // these have the right shape and receiver, and a body that must not authenticate).
    const cookieReply = (receiverFrom: Uint8Array) => {
      const reply = new Uint8Array(MESSAGE_COOKIE_REPLY_SIZE);
      reply.set(randomBytes(MESSAGE_COOKIE_REPLY_SIZE));
      reply[0] = MESSAGE_COOKIE_REPLY;
      reply[1] = reply[2] = reply[3] = 0;
      reply.set(receiverFrom.subarray(4, 8), 4);
      return reply;
    };
    const samplesFor = {
      [B_ENDPOINT]: [toB.initiation, toB.transport, [cookieReply(toA.response[0]!.subarray(4))]],
      [A_ENDPOINT]: [toA.response, toA.transport, [cookieReply(toB.initiation[0]!)]],
    } as const;
    const mac1ForB = new CookieGenerator(crypto, b.publicKey);
    const mac1ForA = new CookieGenerator(crypto, a.publicKey);

    const sizes = [0, 1, 3, 4, 5, 15, 16, 31, 32, 33, 47, 48, 63, 64, 91, 92, 93, 147, 148, 149, 1420, 1500];
    /** One generated datagram to `to`, written into `scratch`; returns its length. */
    const generate = (to: typeof A_ENDPOINT | typeof B_ENDPOINT): Uint8Array => {
      const kindsOf = samplesFor[to];
      const group = kindsOf[below(kindsOf.length)]!;
      const sample = group[below(group.length)]!;
      const roll = below(100);
      if (roll < 10) return sample; // verbatim replay
      if (roll < 35) {
        // a few bits flipped
        scratch.set(sample);
        for (let f = 1 + below(4); f > 0; f--) scratch[below(sample.length)]! ^= 1 << below(8);
        return scratch.subarray(0, sample.length);
      }
      if (roll < 50) {
        // truncated, or extended with random bytes
        const length = below(2) === 0 ? below(sample.length) : sample.length + 1 + below(chance(5) ? 9_000 : 100);
        scratch.set(sample.subarray(0, Math.min(length, sample.length)));
        if (length > sample.length) scratch.set(randomBytes(length - sample.length), sample.length);
        return scratch.subarray(0, length);
      }
      if (roll < 65) {
        // one header field changed: type, reserved bytes, receiver index, counter
        scratch.set(sample);
        const view = scratch.subarray(0, sample.length);
        switch (below(4)) {
          case 0:
            view[0] = below(6);
            break;
          case 1:
            view[1 + below(3)] = 1 + below(255);
            break;
          case 2:
            if (view.length >= 8) view.set(randomBytes(4), 4);
            break;
          default:
            if (view.length >= 16) view.set(randomBytes(1 + below(8)), 8);
        }
        return view;
      }
      if (roll < 67) {
        // an initiation with a valid mac1: passes the cheap checks, fails at the first DH (or
        // gets a cookie reply under load)
        return junkInitiation(to === B_ENDPOINT ? mac1ForB : mac1ForA, clock.now());
      }
      if (roll < 75) {
        // the right size and type, random body
        const type = 1 + below(4);
        const size = [MESSAGE_INITIATION_SIZE, MESSAGE_RESPONSE_SIZE, MESSAGE_COOKIE_REPLY_SIZE, 32 + below(1500)][type - 1]!;
        scratch.set(randomBytes(size));
        scratch[0] = type;
        scratch[1] = scratch[2] = scratch[3] = 0;
        return scratch.subarray(0, size);
      }
      if (roll < 99) return randomBytes(chance(50) ? sizes[below(sizes.length)]! : below(2000));
      return randomBytes(2_000 + below(63_536)); // oversized
    };

    /** One generated TUN packet from A's side; `due` gets what B must deliver of it, if anything. */
    const tunPacket = (): Uint8Array => {
      const v6 = chance(40);
      const packet = v6 ? ipv6Packet('fd00::1', 'fd00::2', randomBytes(below(300))) : ipv4Packet('10.0.0.1', '10.0.0.2', randomBytes(below(300)));
      const roll = below(100);
      const totalAt = v6 ? 4 : 2;
      if (roll < 30) {
        // well-formed: delivered as is
      } else if (roll < 40) {
        // the IP length says less than the packet holds: B delivers the IP length's worth
        const header = v6 ? 40 : 20;
        const total = header + below(packet.length - header + 1);
        const field = v6 ? total - 40 : total;
        packet[totalAt] = field >> 8;
        packet[totalAt + 1] = field & 0xff;
      } else if (roll < 50) {
        // the IP length says more than the packet and its padding hold: dropped at B
        const total = packet.length + 16 + below(65_535 - packet.length - 16 - (v6 ? 40 : 0));
        const field = v6 ? total - 40 : total;
        packet[totalAt] = field >> 8;
        packet[totalAt + 1] = field & 0xff;
      } else if (roll < 60) {
        packet[0] = (below(16) << 4) | (packet[0]! & 0x0f); // another version
      } else if (roll < 75) {
        // a source A may not use: B's own address, an unknown one, or random
        packet.set(v6 ? (chance(50) ? ip('fd00::2') : randomBytes(16)) : chance(50) ? ip('10.0.0.2') : randomBytes(4), v6 ? 8 : 12);
      } else if (roll < 85) {
        // a destination nobody routes (dropped at A), or random
        packet.set(v6 ? randomBytes(16) : randomBytes(4), v6 ? 24 : 16);
      } else if (roll < 95) {
        return packet.subarray(0, below(v6 ? 48 : 28)); // truncated header
      } else {
        return randomBytes(below(1400)); // not IP at all
      }
      return packet;
    };

    /**
     * What a correct receiver at B delivers of a packet A's TUN gave A: null for nothing. The
     * sender pads the plaintext with zeros to a multiple of 16 (never past the MTU), and the
     * receiver trims to the IP header's length: an IP length past the packet but within its
     * padding delivers those zeros too (as wireguard-go and the kernel do).
     */
    const tunMtu = a.tun.mtu();
    const deliverable = (packet: Uint8Array): Uint8Array | null => {
      const version = packet.length > 0 ? packet[0]! >> 4 : 0;
      let total: number;
      if (version === 4 && packet.length >= 20) {
        total = (packet[2]! << 8) | packet[3]!;
        if (keyOf(packet.subarray(16, 20)) !== keyOf(ip('10.0.0.2'))) return null; // A routes by destination
        if (total < 20 || keyOf(packet.subarray(12, 16)) !== keyOf(ip('10.0.0.1'))) return null; // B checks the source
      } else if (version === 6 && packet.length >= 40) {
        total = 40 + ((packet[4]! << 8) | packet[5]!);
        if (keyOf(packet.subarray(24, 40)) !== keyOf(ip('fd00::2'))) return null;
        if (keyOf(packet.subarray(8, 24)) !== keyOf(ip('fd00::1'))) return null;
      } else {
        return null;
      }
      const padded = Math.min(Math.ceil(packet.length / 16) * 16, Math.max(tunMtu, packet.length));
      if (total > padded) return null;
      const out = new Uint8Array(total);
      out.set(packet.subarray(0, Math.min(total, packet.length)));
      return out;
    };

    const dropTotal = (node: Node) => Object.values(node.device.dropCounts()).reduce((x, y) => x + y, 0);
    const dropsBefore = dropTotal(a) + dropTotal(b);
    let undeliverableTun = 0;
    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    const started = performance.now();

    let sent = 0;
    let tunSent = 0;
    let realSent = 0;
    const batch: Uint8Array[] = [];
    while (sent < DATAGRAMS) {
      for (let i = 0; i < ROUND && sent < DATAGRAMS; i++, sent++) {
        const to = chance(70) ? B_ENDPOINT : A_ENDPOINT;
        // One in ten from the real peer's own address: a forged source must not roam it either.
        const from = chance(10) ? makeEndpoint(to === B_ENDPOINT ? '192.0.2.1' : '192.0.2.2', to === B_ENDPOINT ? 51820 : 51821) : sources[below(sources.length)]!;
        network.inject(from, to, generate(to));
      }
      batch.length = 0;
      for (let i = 0; i < TUN_PER_ROUND && tunSent < TUN_PACKETS; i++, tunSent++) {
        const packet = tunPacket();
        const due = deliverable(packet);
        if (due === null) undeliverableTun++;
        else dueAtB.add(due);
        batch.push(packet);
      }
      // Real traffic both ways in every round.
      const fromA = realPacket('A', chance(50));
      dueAtB.add(fromA);
      batch.push(fromA);
      a.tun.inject(batch);
      const fromB = realPacket('B', chance(50));
      dueAtA.add(fromB);
      b.tun.inject([fromB]);
      realSent += 2;
      network.flush();
      clock.advance(1);
      // Let the handshake slices and the wire run.
      await new Promise((resolve) => setImmediate(resolve));
      await network.settle(10_000);
    }
    const fuzzedDatagrams = sent;
    await eventually('every fuzzed datagram to be handled', () => dropTotal(a) + dropTotal(b) - dropsBefore >= fuzzedDatagrams + undeliverableTun - 1 && dueAtA.size === 0 && dueAtB.size === 0, 120_000).catch(() => {});
    const seconds = (performance.now() - started) / 1000;
    const countsA = a.device.dropCounts();
    const countsB = b.device.dropCounts();
    process.stderr.write(
      `# ${fuzzedDatagrams} datagrams + ${tunSent} TUN packets + ${realSent} real in ${seconds.toFixed(1)} s\n# drops at A: ${JSON.stringify(countsA)}\n# drops at B: ${JSON.stringify(countsB)}\n`,
    );

    assert.deepEqual(violations, [], 'every packet a TUN received was one the other side sent (and due)');
    assert.equal(dueAtB.size, 0, 'B received every packet it was due');
    assert.equal(dueAtA.size, 0, 'A received every packet it was due');
    for (const reason of ['unknownMessageType', 'badMessageSize', 'unknownReceiver', 'decryptFailed', 'badMac1', 'badInitiation'] as const) {
      assert.ok(countsB[reason] > 0, `${reason} was reached at B`);
    }
    for (const reason of ['badTunPacket', 'noRoute', 'badResponse'] as const) assert.ok(countsA[reason] > 0, `${reason} was reached at A`);
    for (const reason of ['sourceNotAllowed', 'badInnerPacket'] as const) assert.ok(countsB[reason] > 0, `${reason} was reached at B`);
    const accounted = dropTotal(a) + dropTotal(b) - dropsBefore;
    assert.ok(
      accounted >= fuzzedDatagrams + undeliverableTun,
      `every generated datagram and undeliverable packet is counted as a drop: ${accounted} of ${fuzzedDatagrams + undeliverableTun}`,
    );
    assert.equal(b.device.snapshot().peers[0]!.endpoint, A_ENDPOINT, 'B\'s peer never roamed to a forged source');
    assert.equal(a.device.snapshot().peers[0]!.endpoint, B_ENDPOINT, 'A\'s peer never roamed to a forged source');
    gc();
    const growth = process.memoryUsage().heapUsed - heapBefore;
    assert.ok(growth < HEAP_GROWTH_LIMIT, `the heap grew ${(growth / 2 ** 20).toFixed(1)} MiB over the run`);

    // The tunnel still works both ways.
    const after = realPacket('A', false);
    dueAtB.add(after);
    a.tun.inject([after]);
    await eventually('delivery after the fuzz', () => dueAtB.size === 0, 20_000);
    const reply = realPacket('B', true);
    dueAtA.add(reply);
    b.tun.inject([reply]);
    await eventually('reply after the fuzz', () => dueAtA.size === 0, 20_000);
    assert.deepEqual(violations, []);
  } finally {
    a.device.close();
    b.device.close();
  }
});
