/**
 * Handshake floods: thousands of initiations with a valid mac1 (anyone who knows our public key
 * can make one) must not cost a Diffie-Hellman each. Under load the device answers with cookie
 * replies and spends DH only on sources that prove their address with mac2, at most
 * HANDSHAKE_BURST at once per source; a legitimate peer that answers the cookie still gets
 * through within a bounded number of retries.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBind, makeEndpoint } from '../../engine/conn/memory-bind.js';
import type { DatagramBatch } from '../../engine/conn/bind.js';
import { CookieGenerator } from '../../engine/noise/cookie.js';
import {
  HANDSHAKE_BURST,
  MESSAGE_COOKIE_REPLY,
  REKEY_TIMEOUT,
  REKEY_TIMEOUT_JITTER_MAX,
} from '../../engine/noise/constants.js';
import { createInitiation } from '../../engine/noise/handshake.js';
import { tai64n } from '../../engine/noise/tai64n.js';
import { countingCrypto, createPair, crypto, eventually, FakeClock, ipv4Packet, junkInitiation } from '../support/device-harness.js';

test('an initiation forged with a configured peer\'s public key costs one Diffie-Hellman: static-static is precomputed', async () => {
  const clock = new FakeClock();
  const counting = countingCrypto(crypto);
  const { network, a, b } = createPair({ clock, cryptoB: counting });
  try {
    // The forger knows both public keys but not A's private key: it seals A's static key under
    // DH(its ephemeral, B) and has to guess the static-static value for the timestamp.
    const forger = { privateKey: crypto.generatePrivateKey(), publicKey: a.publicKey };
    const forged = createInitiation(crypto, forger, b.publicKey, crypto.generatePrivateKey(), tai64n(Date.now()), 7)!;
    new CookieGenerator(crypto, b.publicKey).addMacs(forged.message, clock.now());
    const dhBefore = counting.dhCount;
    network.inject(makeEndpoint('10.66.0.9', 4000), '192.0.2.2:51821', forged.message);
    await eventually('B to refuse the forgery', () => b.device.dropCounts().badInitiation >= 1);
    assert.equal(counting.dhCount - dhBefore, 1, 'only DH(our static, its ephemeral); ss came from the peer');
    // The real peer still gets in, with the same precomputed value.
    a.tun.inject([ipv4Packet('10.0.0.1', '10.0.0.2', 'real')]);
    await eventually('the real handshake', () => b.tun.written.length === 1);
  } finally {
    a.device.close();
    b.device.close();
  }
});


for (const handshakeFilter of ['native', 'js'] as const) {
test(`a flood from thousands of sources gets cookie replies and no DH; the real peer still connects (${handshakeFilter} filter)`, async () => {
  const clock = new FakeClock();
  const counting = countingCrypto(crypto);
  const { network, a, b } = createPair({ clock, cryptoB: counting, handshakeFilter });
  const sources = 3000;
  const cookieRepliesTo = new Set<string>();
  network.filter = (d) => {
    if (d.data[0] === MESSAGE_COOKIE_REPLY) cookieRepliesTo.add(d.to);
    return d;
  };
  const flood = () => {
    const generator = new CookieGenerator(crypto, b.publicKey);
    for (let i = 0; i < sources; i++) {
      const from = makeEndpoint(`10.${100 + (i >> 16)}.${(i >> 8) & 0xff}.${i & 0xff}`, 1024 + (i % 50000));
      network.inject(from, '192.0.2.2:51821', junkInitiation(generator, clock.now()));
    }
  };
  /** Lets the wire and both devices' handshake slices run dry (A must take its cookie before its next retry). */
  const drain = async () => {
    await network.settle(5000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await network.settle(5000);
  };
  try {
    const dhBefore = counting.dhCount;
    flood();
    await eventually('the flood to be answered', () => b.device.dropCounts().cookieReplySent >= sources, 20_000);
    assert.equal(counting.dhCount - dhBefore, 0, 'no Diffie-Hellman spent on the flood');
    assert.equal(cookieRepliesTo.size, sources, 'every flooding source got a cookie reply');

    // The legitimate peer starts a handshake while B is under load: it gets a cookie reply...
    flood();
    a.tun.inject([ipv4Packet('10.0.0.1', '10.0.0.2', 'through the flood')]);
    await eventually('A to get its cookie reply', () => cookieRepliesTo.has('192.0.2.1:51820'), 20_000);
    await drain();
    // ...and its retry, REKEY_TIMEOUT later, carries mac2: B (still flooded) does the handshake.
    let retries = 0;
    while (b.tun.written.length === 0 && retries < 3) {
      clock.advance(REKEY_TIMEOUT + REKEY_TIMEOUT_JITTER_MAX + 1);
      flood();
      a.device.runTimers();
      retries++;
      await eventually('the flood slice to drain', () => b.device.dropCounts().cookieReplySent >= sources * (2 + retries), 20_000).catch(() => undefined);
      await drain();
    }
    await eventually('the packet through the flood', () => b.tun.written.length === 1, 10_000);
    assert.equal(retries, 1, 'the first retry, carrying mac2, got through');
    assert.equal(b.device.dropCounts().badMac1, 0);
  } finally {
    a.device.close();
    b.device.close();
  }
});

test(`under load, one source with a valid cookie gets at most its burst of handshakes processed (${handshakeFilter} filter)`, async () => {
  const clock = new FakeClock();
  const counting = countingCrypto(crypto);
  const { network, a, b } = createPair({ clock, cryptoB: counting, handshakeFilter });
  const attacker = new MemoryBind(network, '10.66.0.1');
  attacker.open(4000);
  const generator = new CookieGenerator(crypto, b.publicKey);
  let gotCookie = false;
  attacker.start((batch: DatagramBatch) => {
    for (let i = 0; i < batch.count; i++) {
      const start = batch.offsets[i]!;
      const reply = new Uint8Array(batch.buffer.subarray(start, start + batch.lengths[i]!));
      if (reply[0] === MESSAGE_COOKIE_REPLY && generator.consumeReply(reply, clock.now())) gotCookie = true;
    }
  });
  const send = (message: Uint8Array) => {
    const buffer = Buffer.from(message);
    attacker.send(buffer, Int32Array.of(0), Int32Array.of(buffer.length), 1, makeEndpoint('192.0.2.2', 51821));
  };
  try {
    // Put B under load with a burst from many sources, and get one cookie for the attacker.
    const crowd = new CookieGenerator(crypto, b.publicKey);
    for (let i = 0; i < 1000; i++) network.inject(makeEndpoint(`10.77.${i >> 8}.${i & 0xff}`, 5000), '192.0.2.2:51821', junkInitiation(crowd, clock.now()));
    send(junkInitiation(generator, clock.now()));
    await eventually('the attacker to hold a cookie', () => gotCookie, 20_000);
    const dhBefore = counting.dhCount;
    const rateLimitedBefore = b.device.dropCounts().rateLimited;
    // Keep B under load and send 50 initiations with a valid mac2 from the one source.
    for (let i = 0; i < 1000; i++) network.inject(makeEndpoint(`10.78.${i >> 8}.${i & 0xff}`, 5000), '192.0.2.2:51821', junkInitiation(crowd, clock.now()));
    for (let i = 0; i < 50; i++) send(junkInitiation(generator, clock.now()));
    await eventually('all 50 handled', () => b.device.dropCounts().rateLimited - rateLimitedBefore + b.device.dropCounts().badInitiation >= 50, 20_000);
    assert.equal(b.device.dropCounts().rateLimited - rateLimitedBefore, 50 - HANDSHAKE_BURST, 'all but the burst were rate limited');
    assert.equal(b.device.dropCounts().badInitiation, HANDSHAKE_BURST, 'the burst reached the handshake (and failed: junk)');
    assert.ok(counting.dhCount - dhBefore <= HANDSHAKE_BURST * 2, `DH spent only on the burst (${counting.dhCount - dhBefore})`);
  } finally {
    attacker.close();
    a.device.close();
    b.device.close();
  }
});
}
