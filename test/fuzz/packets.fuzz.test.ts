/**
 * Hostile datagrams into a running Device through the in-memory bind: random bytes of every
 * length, truncated and oversized messages, bit-flipped copies of real handshake and transport
 * messages, replays, and junk under each message type. Nothing may throw out of the event loop
 * (node:test fails the file on an uncaught exception), every datagram must be accounted for by
 * a drop counter (or be one of the few real messages replayed at the right moment), and the
 * device must still carry traffic afterwards.
 *
 * The generator is seeded: set WIRELANE_FUZZ_SEED to replay a run; the seed is printed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeEndpoint } from '../../engine/conn/memory-bind.js';
import {
  MESSAGE_COOKIE_REPLY_SIZE,
  MESSAGE_INITIATION_SIZE,
  MESSAGE_RESPONSE_SIZE,
} from '../../engine/noise/constants.js';
import { createPair, eventually, ipv4Packet } from '../support/device-harness.js';

const DATAGRAMS = 100_000;
const ROUND = 1_000;

/** xorshift32: small, fast and reproducible from a seed. */
function prng(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state;
  };
}

test(`${DATAGRAMS} hostile datagrams: nothing throws, all are counted, the tunnel still works`, { timeout: 300_000 }, async () => {
  const seed = Number(process.env['WIRELANE_FUZZ_SEED'] ?? Date.now() % 2 ** 31);
  process.stderr.write(`# fuzz seed ${seed} (WIRELANE_FUZZ_SEED=${seed} to replay)\n`);
  const next = prng(seed);
  const below = (n: number) => next() % n;
  const randomBytes = (length: number) => {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = next() & 0xff;
    return out;
  };

  const { network, a, b } = createPair();
  try {
    // Real traffic to learn from: a handshake and transport messages both ways.
    network.record = true;
    for (let i = 0; i < 5; i++) a.tun.inject([ipv4Packet('10.0.0.1', '10.0.0.2', `real packet ${i}`)]);
    await eventually('real traffic', () => b.tun.written.length === 5);
    b.tun.inject([ipv4Packet('10.0.0.2', '10.0.0.1', 'real reply')]);
    await eventually('real reply', () => a.tun.written.length === 1);
    await network.settle();
    network.record = false;
    const samples = network.recorded.filter((d) => d.to === '192.0.2.2:51821').map((d) => d.data);
    assert.ok(samples.some((s) => s[0] === 1) && samples.some((s) => s[0] === 4), 'recorded an initiation and transport messages');
    const deliveredBefore = b.tun.written.length;
    const dropsBefore = Object.values(b.device.dropCounts()).reduce((x, y) => x + y, 0);

    const sizes = [0, 1, 3, 4, 15, 16, 31, 32, 33, 63, 64, 65, 91, 92, 93, 147, 148, 149, 1500, 9000, 65_535];
    let sent = 0;
    while (sent < DATAGRAMS) {
      for (let i = 0; i < ROUND; i++, sent++) {
        let data: Uint8Array;
        const sample = samples[below(samples.length)]!;
        switch (below(8)) {
          case 0: // random bytes, random length
            data = randomBytes(below(2000));
            break;
          case 1: // random bytes at the boundary sizes
            data = randomBytes(sizes[below(sizes.length)]!);
            break;
          case 2: // a real message, truncated or extended
            data = new Uint8Array(Math.max(0, sample.length + below(64) - 48));
            data.set(sample.subarray(0, Math.min(sample.length, data.length)));
            break;
          case 3: // a real message with a few bits flipped
            data = sample.slice();
            for (let f = 1 + below(4); f > 0; f--) data[below(data.length)]! ^= 1 << below(8);
            break;
          case 4: // a real message replayed as is
            data = sample.slice();
            break;
          case 5: {
            // junk of the right size under each type, with valid and invalid type padding
            const type = 1 + below(4);
            const size = [MESSAGE_INITIATION_SIZE, MESSAGE_RESPONSE_SIZE, MESSAGE_COOKIE_REPLY_SIZE, 32 + below(1500)][type - 1]!;
            data = randomBytes(size);
            data[0] = type;
            if (below(4) !== 0) data[1] = data[2] = data[3] = 0;
            break;
          }
          case 6: {
            // transport header with a real receiver index and a random counter
            data = randomBytes(32 + below(200));
            data.set(sample.subarray(0, 8));
            data[0] = 4;
            data[1] = data[2] = data[3] = 0;
            break;
          }
          default: // oversized datagrams
            data = randomBytes(9_000 + below(56_535));
        }
        const from = makeEndpoint(`10.${200 + below(50)}.${below(256)}.${below(256)}`, 1 + below(65_535));
        network.inject(from, '192.0.2.2:51821', data);
      }
      await network.settle(10_000);
    }
    // Let the handshake queue drain.
    await eventually('the handshake queue to drain', () => {
      const total = Object.values(b.device.dropCounts()).reduce((x, y) => x + y, 0) - dropsBefore;
      return total + (b.tun.written.length - deliveredBefore) >= DATAGRAMS * 0.99;
    }, 120_000);
    const counts = b.device.dropCounts();
    process.stderr.write(`# drops: ${JSON.stringify(counts)}\n`);
    for (const reason of ['unknownMessageType', 'badMessageSize', 'unknownReceiver', 'decryptFailed', 'badMac1'] as const) {
      assert.ok(counts[reason] > 0, `${reason} was counted`);
    }
    // Replays of real transport messages are never delivered again: everything delivered
    // during the fuzz is... nothing at all.
    assert.equal(b.tun.written.length, deliveredBefore, 'no fuzzed datagram reached the TUN');

    // The tunnel still works both ways.
    a.tun.inject([ipv4Packet('10.0.0.1', '10.0.0.2', 'still alive')]);
    await eventually('delivery after the fuzz', () => b.tun.written.length === deliveredBefore + 1, 20_000);
    b.tun.inject([ipv4Packet('10.0.0.2', '10.0.0.1', 'still alive too')]);
    await eventually('reply after the fuzz', () => a.tun.written.length === 2, 20_000);
  } finally {
    a.device.close();
    b.device.close();
  }
});
