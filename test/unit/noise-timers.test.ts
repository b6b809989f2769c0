/**
 * Every timer rule of whitepaper §6, as wireguard-go applies them, checked by stepping a
 * hand-held clock through two PeerSessions joined in memory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_TIMER_HANDSHAKES, REKEY_TIMEOUT, REKEY_TIMEOUT_JITTER_MAX } from '../../engine/noise/constants.js';
import type { Keypair } from '../../engine/noise/keypair.js';
import { backends, Pair } from './noise-support.js';

const INITIATION = 1;
const TRANSPORT = 4;
const data = (n = 1) => Uint8Array.from([0x45, n, n, n]);
const JITTER = REKEY_TIMEOUT_JITTER_MAX - 1;

/** The session's current keypair (internal; for counter-limit tests). */
function currentKeypair(p: Pair, side: 'a' | 'b'): Keypair {
  return (p[side].session as unknown as { keypairs: { current: Keypair } }).keypairs.current;
}

for (const { name, crypto, skip } of backends()) {
  const c = crypto!;

  test(`the initiator rekeys on send after REKEY_AFTER_TIME (120 s); the responder does not (${name})`, { skip }, () => {
    const p = new Pair(c);
    p.connect();
    const t0 = p.now;
    p.advance(119_000);
    p.send(p.a, data());
    assert.equal(p.sent('a', INITIATION).length, 1, 'not yet at 119 s');
    p.advance(1_500);
    p.send(p.b, data());
    assert.equal(p.sent('b', INITIATION).length, 0, 'the responder never rekeys on time');
    const before = p.wire.length;
    p.send(p.a, data());
    const rekey = p.sent('a', INITIATION, before);
    assert.equal(rekey.length, 1, 'a rekeys after 120 s');
    assert.equal(rekey[0]!.at - t0, 120_500);
    assert.equal(p.a.session.lastHandshake, p.now, 'and the new handshake completed');
  });

  test(`keypairs are refused after REJECT_AFTER_TIME (180 s) both ways (${name})`, { skip }, () => {
    const p = new Pair(c);
    p.connect();
    const t0 = p.now;
    p.cut.add('a');
    p.cut.add('b');
    p.advance(170_000);
    const start = p.wire.length;
    assert.ok(p.send(p.a, data(1)) > 0);
    assert.ok(p.send(p.a, data(2)) > 0);
    const [early, late] = p.sent('a', TRANSPORT, start).map((s) => s.bytes);
    p.advance(t0 + 180_000 - p.now);
    assert.equal(p.deliver(p.b, early!), true, 'at exactly 180 s still accepted');
    p.advance(1);
    assert.equal(p.deliver(p.b, late!), false, 'after 180 s refused');
    const buffer = new Uint8Array(64);
    assert.equal(p.a.session.encrypt(buffer, 16, 4, p.now), 0, 'and not used to send: staged');
  });

  test(`handshake retransmits every REKEY_TIMEOUT + jitter, gives up after ${MAX_TIMER_HANDSHAKES} retries and drops staged packets (${name})`, { skip }, () => {
    const p = new Pair(c);
    p.cut.add('a');
    assert.equal(p.send(p.a, data(7)), 0);
    p.advance(200_000);
    const initiations = p.sent('a', INITIATION);
    assert.equal(initiations.length, MAX_TIMER_HANDSHAKES + 2, 'the first and 19 retries (wireguard-go, kernel)');
    const gaps = initiations.slice(1).map((s, i) => s.at - initiations[i]!.at);
    for (const gap of gaps) assert.ok(gap >= REKEY_TIMEOUT && gap <= REKEY_TIMEOUT + JITTER, `gap ${gap}`);
    assert.ok(new Set(gaps).size > 1, 'the jitter varies');
    assert.ok(new Set(initiations.map((s) => Buffer.from(s.bytes).toString('hex'))).size === initiations.length, 'each is fresh');
    // Gave up: the zeroing timer is what remains, 540 s after the last retransmit timer fired.
    const last = initiations.at(-1)!.at;
    const deadline = p.a.session.nextDeadline();
    assert.ok(deadline >= last + REKEY_TIMEOUT + 540_000 && deadline <= last + REKEY_TIMEOUT + JITTER + 540_000, `deadline ${deadline - last}`);
    // The staged packet was dropped: a later handshake carries nothing to b.
    p.cut.delete('a');
    p.a.session.requestHandshake();
    p.pump();
    assert.notEqual(p.a.session.lastHandshake, null);
    assert.equal(p.b.received.length, 0);
  });

  test(`passive keepalive: KEEPALIVE_TIMEOUT (10 s) after receiving data with nothing sent back (${name})`, { skip }, () => {
    const p = new Pair(c);
    p.connect();
    p.advance(30_000);
    const start = p.wire.length;
    const t1 = p.now;
    p.send(p.a, data());
    p.advance(9_999);
    assert.equal(p.sent('b', TRANSPORT, start).length, 0);
    p.advance(1);
    const keepalives = p.sent('b', TRANSPORT, start);
    assert.equal(keepalives.length, 1);
    assert.equal(keepalives[0]!.bytes.length, 32);
    assert.equal(keepalives[0]!.at, t1 + 10_000);
    p.advance(60_000);
    assert.equal(p.sent('b', TRANSPORT, start).length, 1, 'one keepalive, not a stream');
    // If b answers with data in time, it sends no keepalive.
    const again = p.wire.length;
    p.send(p.a, data());
    p.advance(5_000);
    p.send(p.b, data());
    p.advance(20_000);
    const fromB = p.sent('b', TRANSPORT, again);
    assert.equal(fromB.length, 1);
    assert.ok(fromB[0]!.bytes.length > 32);
  });

  test(`new handshake after sending data and hearing nothing for KEEPALIVE_TIMEOUT + REKEY_TIMEOUT (${name})`, { skip }, () => {
    const p = new Pair(c);
    p.connect();
    p.advance(30_000);
    p.cut.add('b');
    const start = p.wire.length;
    const t1 = p.now;
    p.send(p.a, data());
    p.advance(14_999);
    assert.equal(p.sent('a', INITIATION, start).length, 0);
    p.advance(REKEY_TIMEOUT_JITTER_MAX);
    const initiations = p.sent('a', INITIATION, start);
    assert.equal(initiations.length, 1);
    const after = initiations[0]!.at - t1;
    assert.ok(after >= 15_000 && after <= 15_000 + JITTER, `after ${after}`);
  });

  test(`the sticky source goes stale on a handshake retry and on a new handshake for lack of answers, not on a first initiation or a rekey (${name})`, { skip }, () => {
    // wireguard-go clears the endpoint's source in exactly these two timers (device/timers.go).
    const retry = new Pair(c);
    retry.cut.add('a');
    retry.send(retry.a, data());
    retry.advance(1);
    assert.equal(retry.sent('a', INITIATION).length, 1);
    assert.equal(retry.a.session.takeSourceStale(), false, 'the first initiation keeps the source');
    retry.advance(REKEY_TIMEOUT + JITTER);
    assert.equal(retry.sent('a', INITIATION).length, 2);
    assert.equal(retry.a.session.takeSourceStale(), true, 'a retry clears it');
    assert.equal(retry.a.session.takeSourceStale(), false, 'once');

    const rekey = new Pair(c);
    rekey.connect();
    rekey.advance(121_000);
    const before = rekey.wire.length;
    rekey.send(rekey.a, data());
    assert.equal(rekey.sent('a', INITIATION, before).length, 1, 'a rekeyed');
    assert.equal(rekey.a.session.takeSourceStale(), false, 'a rekey keeps the source');

    const silent = new Pair(c);
    silent.connect();
    silent.advance(30_000);
    silent.cut.add('b');
    silent.send(silent.a, data());
    silent.advance(15_000 + JITTER);
    assert.equal(silent.a.session.takeSourceStale(), true, 'no answer to data clears it');
  });

  test(`persistent keepalive every interval, and at once when turned on (${name})`, { skip }, () => {
    const p = new Pair(c, { persistentKeepalive: [25, 0] });
    p.pump();
    assert.notEqual(p.a.session.lastHandshake, null, 'a peer with persistent keepalive handshakes at once');
    const t0 = p.now;
    const start = p.wire.length;
    p.advance(100_000);
    const keepalives = p.sent('a', TRANSPORT, start);
    assert.deepEqual(keepalives.map((s) => s.at - t0), [25_000, 50_000, 75_000, 100_000]);
    assert.ok(keepalives.every((s) => s.bytes.length === 32));
    // Any authenticated packet either way restarts the interval: b's passive keepalive, 10 s
    // after a's data, pushes a's next persistent keepalive to 35 s.
    p.advance(10_000);
    const mark = p.wire.length;
    const t1 = p.now;
    p.send(p.a, data());
    p.advance(40_000);
    assert.deepEqual(p.sent('b', TRANSPORT, mark).map((s) => s.at - t1), [10_000]);
    assert.deepEqual(p.sent('a', TRANSPORT, mark).map((s) => s.at - t1).slice(0, 2), [0, 35_000]);
    // Turning it on for b sends one at once; off stops it.
    const before = p.wire.length;
    p.b.session.setPersistentKeepalive(5, p.now);
    p.pump();
    assert.equal(p.sent('b', TRANSPORT, before).length, 1);
    p.b.session.setPersistentKeepalive(0, p.now);
    p.a.session.setPersistentKeepalive(0, p.now);
    const quiet = p.wire.length;
    p.advance(60_000);
    assert.equal(p.wire.length, quiet);
  });

  test(`all keys are zeroed REJECT_AFTER_TIME * 3 (540 s) after the last handshake (${name})`, { skip }, () => {
    const p = new Pair(c);
    p.connect();
    p.advance(539_000);
    assert.deepEqual(p.a.session.keypairState(), { current: true, previous: false, next: false });
    assert.deepEqual(p.b.session.keypairState(), { current: true, previous: false, next: false });
    p.advance(1_000);
    assert.deepEqual(p.a.session.keypairState(), { current: false, previous: false, next: false });
    assert.deepEqual(p.b.session.keypairState(), { current: false, previous: false, next: false });
    assert.equal(p.a.table.size, 0, 'indices freed');
    assert.equal(p.b.table.size, 0);
    assert.equal(p.a.session.nextDeadline(), Infinity, 'idle');
  });

  test(`the initiator rekeys on receive at REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT (165 s), once (${name})`, { skip }, () => {
    const p = new Pair(c);
    p.connect();
    p.advance(164_000);
    p.send(p.b, data());
    assert.equal(p.sent('a', INITIATION).length, 1);
    p.cut.add('a');
    p.advance(1_500);
    p.send(p.b, data());
    assert.equal(p.sent('a', INITIATION).length, 2, 'rekey at 165.5 s');
    p.advance(100);
    p.send(p.b, data());
    p.advance(4_000);
    assert.equal(p.sent('a', INITIATION).length, 2, 'only one last-minute handshake');
  });

  test(`the previous keypair still decrypts packets in flight across a rekey (${name})`, { skip }, () => {
    const p = new Pair(c);
    p.connect();
    p.advance(20_000);
    p.cut.add('a');
    const start = p.wire.length;
    p.send(p.a, data(3));
    const inFlight = p.sent('a', TRANSPORT, start)[0]!.bytes;
    p.cut.delete('a');
    p.a.session.requestHandshake();
    p.pump();
    assert.deepEqual(p.a.session.keypairState(), { current: true, previous: true, next: false });
    assert.deepEqual(p.b.session.keypairState(), { current: true, previous: true, next: false });
    assert.equal(p.deliver(p.b, inFlight), true);
  });

  test(`REKEY_AFTER_MESSAGES starts a handshake; REJECT_AFTER_MESSAGES stops sending (${name})`, { skip }, () => {
    const p = new Pair(c);
    p.connect();
    p.advance(20_000);
    const kp = currentKeypair(p, 'a');
    kp.sendCounterHi = 0x10000000; // next counter 2^60
    kp.sendCounterLo = 0;
    const received = p.b.received.length;
    assert.ok(p.send(p.a, data()) > 0);
    assert.equal(p.b.received.length, received + 1, 'counter 2^60 accepted');
    assert.equal(p.sent('a', INITIATION).length, 2, 'past 2^60 messages: rekey');

    const q = new Pair(c);
    q.connect();
    q.advance(20_000);
    const last = currentKeypair(q, 'a');
    last.sendCounterHi = 0xffffffff;
    last.sendCounterLo = 0xffffdffe; // REJECT_AFTER_MESSAGES - 1
    q.cut.add('a');
    assert.ok(q.send(q.a, data()) > 0, 'the last counter may be used');
    assert.equal(q.deliver(q.b, q.sent('a', TRANSPORT).at(-1)!.bytes), true);
    assert.equal(q.send(q.a, data()), 0, 'then the keypair is spent: staged');
  });
}
