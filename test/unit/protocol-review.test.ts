/**
 * Findings of the protocol review (handshake, cookies, key hygiene, UAPI) pinned as tests: each
 * of these failed before its fix. They check what the whitepaper and wireguard-go require where
 * interop with a well-behaved peer cannot show it: hostile senders, key material left behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeEndpoint, MemoryBind } from '../../engine/conn/memory-bind.js';
import type { DatagramBatch } from '../../engine/conn/bind.js';
import { CookieGenerator } from '../../engine/noise/cookie.js';
import { MESSAGE_COOKIE_REPLY, MESSAGE_INITIATION, MESSAGE_INITIATION_SIZE } from '../../engine/noise/constants.js';
import { countingCrypto, createPair, crypto, eventually, FakeClock } from '../support/device-harness.js';

/** A junk initiation (random body) carrying a valid mac1 for the generator's peer, and mac2 if it holds a cookie. */
function junkInitiation(generator: CookieGenerator, now: number): Uint8Array {
  const message = new Uint8Array(MESSAGE_INITIATION_SIZE);
  crypto.randomFill(message);
  message[0] = MESSAGE_INITIATION;
  message[1] = message[2] = message[3] = 0;
  generator.addMacs(message, now);
  return message;
}

test('under load, a cookie is bound to the source port too: the same IP on another port must prove itself again', async () => {
  // Whitepaper §5.4.7: "the cookie is MAC(R_m, A_m), A_m the concatenated source IP address and
  // UDP source port"; wireguard-go hashes the IP bytes followed by the port (DstToBytes).
  const clock = new FakeClock();
  const { network, a, b } = createPair({ clock });
  const client = new MemoryBind(network, '198.51.100.7');
  client.open(1111);
  const generator = new CookieGenerator(crypto, b.publicKey);
  let gotCookie = false;
  client.start((batch: DatagramBatch) => {
    for (let i = 0; i < batch.count; i++) {
      const reply = new Uint8Array(batch.buffer.subarray(batch.offsets[i]!, batch.offsets[i]! + batch.lengths[i]!));
      if (reply[0] === MESSAGE_COOKIE_REPLY && generator.consumeReply(reply, clock.now())) gotCookie = true;
    }
  });
  try {
    // Put B under load (more than UNDER_LOAD_THRESHOLD arrivals in a second) and get a cookie.
    const crowd = new CookieGenerator(crypto, b.publicKey);
    for (let i = 0; i < 700; i++) network.inject(makeEndpoint(`10.77.${i >> 8}.${i & 0xff}`, 5000), '192.0.2.2:51821', junkInitiation(crowd, clock.now()));
    const first = Buffer.from(junkInitiation(generator, clock.now()));
    client.send(first, Int32Array.of(0), Int32Array.of(first.length), 1, makeEndpoint('192.0.2.2', 51821));
    await eventually('the client to hold a cookie', () => gotCookie, 20_000);

    // The cookie proves 198.51.100.7:1111. From that endpoint its mac2 is accepted (the junk then
    // fails to decrypt: badInitiation); from port 2222 of the same host it is not (cookie reply).
    const withMac2 = junkInitiation(generator, clock.now());
    const before = b.device.dropCounts();
    network.inject(makeEndpoint('198.51.100.7', 1111), '192.0.2.2:51821', withMac2);
    await eventually('the proven source to be handled', () => b.device.dropCounts().badInitiation === before.badInitiation + 1, 10_000);
    const cookieRepliesBefore = b.device.dropCounts().cookieReplySent;
    network.inject(makeEndpoint('198.51.100.7', 2222), '192.0.2.2:51821', withMac2);
    await eventually(
      'the other port to be handled',
      () => b.device.dropCounts().cookieReplySent + b.device.dropCounts().badInitiation > cookieRepliesBefore + before.badInitiation + 1,
      10_000,
    );
    assert.equal(b.device.dropCounts().cookieReplySent, cookieRepliesBefore + 1, 'another port gets a cookie reply: its mac2 proves nothing');
    assert.equal(b.device.dropCounts().badInitiation, before.badInitiation + 1, 'no DH spent on the other port');
  } finally {
    client.close();
    a.device.close();
    b.device.close();
  }
});
