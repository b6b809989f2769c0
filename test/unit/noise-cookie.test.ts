/**
 * Cookie replies under load (whitepaper §5.4.7) and refusal of low-order keys.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { consumeInitiation, createInitiation, createLocalIdentity } from '../../engine/noise/handshake.js';
import { MESSAGE_COOKIE_REPLY_SIZE } from '../../engine/noise/constants.js';
import { tai64n } from '../../engine/noise/tai64n.js';
import { NoisePeerSession } from '../../engine/noise/peer-session.js';
import { RandomIndexTable } from '../../engine/device/index-table.js';
import { backends, hex, Pair } from './noise-support.js';
import type { PeerSession } from '../../engine/noise/api.js';

const INITIATION = 1;
const RESPONSE = 2;
const COOKIE_REPLY = 3;
const data = () => Uint8Array.of(0x45, 0, 0, 1);
/** Curve25519 points of small order (RFC 7748 §7 lists these among the inputs to refuse). */
const LOW_ORDER = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
];

for (const { name, crypto, skip } of backends()) {
  const c = crypto!;

  test(`under load: a cookie reply, then the retransmission's mac2 is accepted (${name})`, { skip }, () => {
    const p = new Pair(c);
    p.b.underLoad = true;
    p.send(p.a, data());
    const [reply] = p.sent('b', COOKIE_REPLY);
    assert.equal(reply!.bytes.length, MESSAGE_COOKIE_REPLY_SIZE);
    assert.equal(p.sent('b', RESPONSE).length, 0, 'no DH work for a message without mac2');
    assert.equal(p.a.session.receiveCookieReply(reply!.bytes, p.now), false, 'a cookie reply is used once');
    p.advance(5_400); // retransmission, now with mac2
    const second = p.sent('a', INITIATION)[1]!.bytes;
    assert.equal(p.b.checker.checkMac2(second, p.address.a, p.now), true);
    assert.equal(p.b.checker.checkMac2(second, Uint8Array.of(198, 51, 100, 7, 0xca, 0x6c), p.now), false, 'bound to the address');
    assert.notEqual(p.a.session.lastHandshake, null);
    assert.equal(p.b.received.length, 1);
  });

  test(`cookie replies that do not match our last message are refused (${name})`, { skip }, () => {
    const p = new Pair(c);
    p.b.underLoad = true;
    p.cut.add('b');
    p.send(p.a, data());
    const reply = p.sent('b', COOKIE_REPLY)[0]!.bytes;
    const forged = reply.slice();
    forged[40]! ^= 1;
    assert.equal(p.a.session.receiveCookieReply(forged, p.now), false);
    assert.equal(p.a.session.receiveCookieReply(reply.subarray(0, 63), p.now), false);
    p.advance(5_400); // a sends another initiation: the old reply was for the previous mac1
    assert.equal(p.a.session.receiveCookieReply(reply, p.now), false);
    const fresh = p.sent('b', COOKIE_REPLY).at(-1)!.bytes;
    assert.equal(p.a.session.receiveCookieReply(fresh, p.now), true);
  });

  test(`cookies age out: the checker's secret after 120 s, the sender's cookie after 115 s (${name})`, { skip }, () => {
    const p = new Pair(c);
    p.b.underLoad = true;
    p.cut.add('a');
    p.cut.add('b');
    p.send(p.a, data());
    const initiation = p.sent('a', INITIATION)[0]!.bytes;
    const reply = p.b.checker.createReply(initiation, p.address.a, p.now);
    assert.equal(p.a.session.receiveCookieReply(reply, p.now), true);
    p.advance(5_400);
    const withMac2 = p.sent('a', INITIATION).at(-1)!.bytes;
    assert.equal(p.b.checker.checkMac2(withMac2, p.address.a, p.now), true);
    p.advance(115_000);
    p.a.session.requestHandshake(); // retries gave up by now; a fresh initiation
    p.pump();
    const late = p.sent('a', INITIATION).at(-1)!.bytes;
    assert.deepEqual(late.subarray(132), new Uint8Array(16), 'no mac2 from a cookie older than 115 s');
    assert.equal(p.b.checker.checkMac2(withMac2, p.address.a, p.now), false, 'secret older than 120 s');
  });

  test(`low-order keys are refused (${name})`, { skip }, () => {
    const p = new Pair(c);
    for (const point of LOW_ORDER.map(hex)) {
      // A peer configured with a low-order public key: nothing is ever sent to it.
      const table = new RandomIndexTable<PeerSession>(c);
      const session = new NoisePeerSession({
        crypto: c, local: p.a.identity, remotePublicKey: point, presharedKey: null, persistentKeepalive: 0, indices: table, now: p.now,
      });
      const buffer = new Uint8Array(64);
      assert.equal(session.encrypt(buffer, 16, 4, p.now), 0);
      assert.equal(session.poll(p.now, p.wall), null, 'no initiation');
      assert.equal(table.size, 0);

      // An initiation whose ephemeral is low-order.
      p.cut.add('a');
      p.a.session.requestHandshake();
      p.advance(6_000);
      const initiation = p.sent('a', INITIATION).at(-1)!.bytes.slice();
      initiation.set(point, 8);
      assert.equal(consumeInitiation(c, p.b.identity, initiation), null);

      // An initiation carrying a low-order static key.
      const fake = createInitiation(c, { privateKey: p.a.identity.privateKey, publicKey: point }, p.b.identity.publicKey,
        c.sharedSecret(p.a.identity.privateKey, p.b.identity.publicKey), tai64n(p.wall), 1)!;
      assert.equal(consumeInitiation(c, p.b.identity, fake.message), null);
    }
    // A response whose ephemeral is low-order.
    const q = new Pair(c);
    q.cut.add('b');
    q.send(q.a, data());
    const response = q.sent('b', RESPONSE)[0]!.bytes.slice();
    response.set(hex(LOW_ORDER[2]!), 12);
    assert.equal(q.a.session.receiveResponse(response, q.now), false);
  });

  test(`after our private key changes, the old keypairs no longer send (${name})`, { skip }, () => {
    const p = new Pair(c);
    p.connect();
    p.advance(20_000);
    p.a.session.setLocal(createLocalIdentity(c, c.generatePrivateKey()));
    const before = p.wire.length;
    const buffer = new Uint8Array(64);
    assert.equal(p.a.session.encrypt(buffer, 16, 4, p.now), 0);
    p.pump();
    assert.equal(p.sent('a', INITIATION, before).length, 1, 'a new handshake starts at once');
    assert.equal(p.sent('b', RESPONSE, before).length, 0, 'b does not know the new key');
  });
}
