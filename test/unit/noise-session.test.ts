/**
 * Two PeerSessions joined in memory: handshakes both ways, data both ways, preshared keys, key
 * confirmation, and rejection of replayed, forged and truncated messages.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { consumeInitiation } from '../../engine/noise/handshake.js';
import { backends, Pair } from './noise-support.js';

const INITIATION = 1;
const RESPONSE = 2;
const TRANSPORT = 4;
const packet = (...bytes: number[]) => Uint8Array.from([0x45, ...bytes]);

for (const { name, crypto, skip } of backends()) {
  const c = crypto!;

  test(`handshake initiated by a, then data both ways (${name})`, { skip }, () => {
    const p = new Pair(c);
    assert.equal(p.send(p.a, packet(1, 2, 3)), 0, 'no keypair yet: the packet is staged');
    p.pump();
    const [initiation] = p.sent('a', INITIATION);
    assert.equal(initiation!.bytes.length, 148);
    assert.equal(p.sent('b', RESPONSE)[0]!.bytes.length, 92);
    // The staged packet went out with the new keypair, and b got it (padded to 16).
    assert.equal(p.b.received.length, 1);
    assert.deepEqual(p.b.received[0]!.subarray(0, 4), packet(1, 2, 3));
    assert.equal(p.b.received[0]!.length, 16);
    assert.deepEqual(p.a.session.keypairState(), { current: true, previous: false, next: false });
    assert.deepEqual(p.b.session.keypairState(), { current: true, previous: false, next: false });
    assert.equal(p.a.session.lastHandshake, p.now);
    assert.equal(p.b.session.lastHandshake, p.now);

    assert.ok(p.send(p.b, packet(9, 9)) > 0, 'b now sends at once');
    assert.deepEqual(p.a.received[0]!.subarray(0, 3), packet(9, 9));
    const big = new Uint8Array(1400).fill(7);
    big[0] = 0x45;
    assert.equal(p.send(p.a, big), 16 + 1408 + 16);
    assert.deepEqual(p.b.received[1]!.subarray(0, 1400), big);
    // The receive counter counts whole authenticated datagrams (sending is the device's to count).
    assert.equal(p.b.session.rxBytes, 148 + 48 + 1440, 'initiation, the staged packet (it doubles as the keepalive), the big one');
  });

  test(`handshake initiated by b; responder waits for key confirmation before sending (${name})`, { skip }, () => {
    const p = new Pair(c);
    p.b.session.requestHandshake();
    const initiation = p.b.session.poll(p.now, p.wall)!;
    assert.equal(initiation.length, 148);
    // a answers; b consumes the response and queues its confirming keepalive (not yet polled).
    p.transmit(p.b, initiation);
    assert.equal(p.b.session.nextDeadline(), 0, 'b has a keepalive due now');
    assert.deepEqual(p.a.session.keypairState(), { current: false, previous: false, next: true });
    const buffer = new Uint8Array(64);
    buffer.set(packet(6), 16);
    assert.equal(p.a.session.encrypt(buffer, 16, 2, p.now), 0, 'the responder stages: its keypair is unconfirmed');
    assert.equal(p.sent('a', TRANSPORT).length, 0);
    assert.equal(p.sent('a', INITIATION).length, 0, 'and does not start a handshake of its own');
    p.pump();
    const [keepalive] = p.sent('b', TRANSPORT);
    assert.equal(keepalive!.bytes.length, 32, 'b confirmed with an empty packet');
    assert.deepEqual(p.a.session.keypairState(), { current: true, previous: false, next: false });
    assert.equal(p.a.session.lastHandshake, p.now);
    assert.deepEqual(p.b.received.at(-1)!.subarray(0, 2), packet(6), 'a sent its staged packet once confirmed');
  });

  test(`preshared key on both sides works; a mismatch fails the response (${name})`, { skip }, () => {
    const psk = c.generatePrivateKey();
    const good = new Pair(c, { psk: [psk, psk] });
    good.connect();
    assert.equal(good.b.received.length, 1);

    const other = psk.slice();
    other[5]! ^= 0x80;
    const bad = new Pair(c, { psk: [psk, other] });
    bad.connect();
    assert.equal(bad.sent('b', RESPONSE).length, 1, 'the psk is not in the initiation: b answers');
    assert.equal(bad.a.session.lastHandshake, null, 'a refuses the response');
    assert.equal(bad.b.received.length, 0);
    assert.deepEqual(bad.a.session.keypairState(), { current: false, previous: false, next: false });

    const oneSided = new Pair(c, { psk: [psk, null] });
    oneSided.connect();
    assert.equal(oneSided.a.session.lastHandshake, null);
  });

  test(`replayed, forged, truncated and misaddressed transport messages are rejected (${name})`, { skip }, () => {
    const p = new Pair(c);
    p.connect();
    const before = p.wire.length;
    p.cut.add('a');
    p.send(p.a, packet(1, 1, 1));
    const datagram = p.sent('a', TRANSPORT, before)[0]!.bytes;
    const copy = () => datagram.slice();
    assert.equal(p.deliver(p.b, copy()), true);
    assert.equal(p.deliver(p.b, copy()), false, 'replay');
    const rxAfterFirst = p.b.session.rxBytes;
    for (const at of [4, 8, 15, 16, datagram.length - 1]) {
      const forged = copy();
      forged[at]! ^= 1;
      assert.equal(p.b.session.decrypt(forged, 0, forged.length, p.now), -1, `byte ${at} flipped`);
    }
    const truncated = copy().subarray(0, 31);
    assert.equal(p.b.session.decrypt(truncated, 0, truncated.length, p.now), -1);
    const shortened = copy().subarray(0, datagram.length - 1);
    assert.equal(p.b.session.decrypt(shortened, 0, shortened.length, p.now), -1);
    const reserved = copy();
    reserved[1] = 1;
    assert.equal(p.b.session.decrypt(reserved, 0, reserved.length, p.now), -1);
    assert.equal(p.b.session.rxBytes, rxAfterFirst, 'rejected packets are not counted');
    // A forged packet must not move the replay window: the next real one still gets through.
    p.send(p.a, packet(2));
    assert.equal(p.deliver(p.b, p.sent('a', TRANSPORT).at(-1)!.bytes), true);
  });

  test(`out-of-order transport messages inside the window are accepted once (${name})`, { skip }, () => {
    const p = new Pair(c);
    p.connect();
    p.cut.add('a');
    const start = p.wire.length;
    for (let i = 0; i < 50; i++) p.send(p.a, packet(i));
    const sent = p.sent('a', TRANSPORT, start).map((s) => s.bytes);
    const order = sent.map((_, i) => i).reverse();
    for (const i of order) assert.equal(p.deliver(p.b, sent[i]!.slice()), true, `packet ${i}`);
    for (const i of order) assert.equal(p.deliver(p.b, sent[i]!.slice()), false, `replay ${i}`);
  });

  test(`forged, truncated and replayed handshake messages are rejected (${name})`, { skip }, () => {
    const p = new Pair(c);
    p.cut.add('a');
    p.cut.add('b');
    p.send(p.a, packet(1));
    const initiation = p.sent('a', INITIATION)[0]!.bytes;
    assert.equal(p.b.checker.checkMac1(initiation), true);
    for (const at of [8, 40, 87, 88, 115]) {
      const forged = initiation.slice();
      forged[at]! ^= 1;
      assert.equal(p.b.checker.checkMac1(forged), false, `mac1 covers byte ${at}`);
      assert.equal(consumeInitiation(c, p.b.identity, forged), null, `byte ${at} flipped`);
    }
    assert.equal(consumeInitiation(c, p.b.identity, initiation.subarray(0, 147)), null);
    assert.equal(consumeInitiation(c, p.a.identity, initiation), null, 'addressed to someone else');

    // Replayed initiation: same TAI64N timestamp is refused even long after.
    assert.equal(p.deliver(p.b, initiation.slice()), true);
    p.advance(1_000);
    assert.equal(p.deliver(p.b, initiation.slice()), false, 'replay refused');
    const response = p.sent('b', RESPONSE)[0]!.bytes;
    const forgedResponse = response.slice();
    forgedResponse[50]! ^= 1;
    assert.equal(p.a.session.receiveResponse(forgedResponse, p.now), false);
    assert.equal(p.a.session.receiveResponse(response.subarray(0, 91), p.now), false);
    assert.equal(p.a.session.receiveResponse(response, p.now), true);
    assert.equal(p.a.session.receiveResponse(response, p.now), false, 'a response is consumed once');
  });

  test(`a second initiation within HANDSHAKE_INITIATION_RATE is refused; a later one accepted (${name})`, { skip }, () => {
    const p = new Pair(c);
    p.cut.add('a');
    p.cut.add('b');
    p.send(p.a, packet(1));
    const first = p.sent('a', INITIATION)[0]!.bytes;
    p.a.session.requestHandshake();
    p.advance(1_000);
    assert.equal(p.sent('a', INITIATION).length, 1, 'at most one initiation per REKEY_TIMEOUT');
    p.advance(4_400); // the retransmission, 5 s + jitter after the first
    const second = p.sent('a', INITIATION)[1]!.bytes;
    assert.equal(p.deliver(p.b, first), true);
    assert.equal(p.deliver(p.b, second), false, 'flood: within 50 ms of the last one');
    p.now += 51;
    assert.equal(p.deliver(p.b, second), true, 'newer timestamp, after the flood gap');
    assert.equal(p.deliver(p.b, first), false, 'older timestamp now refused');
  });

  test(`destroy zeroes keys and frees every index (${name})`, { skip }, () => {
    const p = new Pair(c);
    p.connect();
    assert.ok(p.a.table.size > 0);
    p.a.session.destroy();
    assert.equal(p.a.table.size, 0);
    assert.equal(p.a.session.encrypt(new Uint8Array(64), 16, 4, p.now), 0);
    assert.equal(p.a.session.poll(p.now, p.wall), null);
    assert.equal(p.a.session.nextDeadline(), Infinity);
  });
}
