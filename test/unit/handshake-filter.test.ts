/**
 * The handshake filter (engine/device/handshake-filter.ts) and its native half
 * (engine/native/src/handshake_filter.c): BLAKE2s and the cookie reply's XChaCha20-Poly1305
 * against @noble's, and the native and JavaScript filters deciding the same messages alike.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { blake2s } from '@noble/hashes/blake2.js';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { ioAddon, SOURCE_RECORD_BYTES } from '../../engine/native/addon.js';
import { makeEndpoint } from '../../engine/conn/memory-bind.js';
import { mac } from '../../engine/crypto/hash.js';
import {
  COOKIE_REPLY_SLOT,
  JsHandshakeFilter,
  NativeHandshakeFilter,
  VERDICT_BAD_MAC1,
  VERDICT_BAD_SIZE,
  VERDICT_COOKIE_REPLY,
  VERDICT_NO_KEY,
  VERDICT_PASS,
  VERDICT_PROVEN,
  writeSourceRecord,
  type HandshakeFilter,
} from '../../engine/device/handshake-filter.js';
import { COOKIE_REFRESH_TIME, UNDER_LOAD_AFTER_TIME, UNDER_LOAD_THRESHOLD } from '../../engine/noise/constants.js';
import { CookieGenerator } from '../../engine/noise/cookie.js';
import { createLocalIdentity } from '../../engine/noise/handshake.js';
import { crypto, junkInitiation } from '../support/device-harness.js';

const addon = ioAddon();

test('native BLAKE2s matches RFC 7693 and @noble/hashes: unkeyed and keyed, 16 and 32 bytes, every length across block edges', () => {
  // RFC 7693 appendix B: BLAKE2s-256("abc").
  assert.equal(addon.blake2s(32, new Uint8Array(0), new TextEncoder().encode('abc')).toString('hex'),
    '508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982');
  let checked = 0;
  for (let length = 0; length <= 300; length++) {
    const data = Uint8Array.from({ length }, (_, i) => (i * 31 + length) & 0xff);
    for (const keyLength of [0, 1, 16, 32]) {
      const key = Uint8Array.from({ length: keyLength }, (_, i) => (i * 7 + 1) & 0xff);
      for (const out of [16, 32]) {
        const expected = Buffer.from(blake2s(data, { dkLen: out, ...(keyLength > 0 ? { key } : {}) })).toString('hex');
        assert.equal(addon.blake2s(out, key, data).toString('hex'), expected, `length ${length}, key ${keyLength}, out ${out}`);
        checked++;
      }
    }
  }
  assert.equal(checked, 301 * 8);
});

/** One filter run over `messages` from `senders`, laid out as the device lays a batch out. */
function run(filter: HandshakeFilter, messages: Uint8Array[], senders: string[], now: number, queued = 0) {
  const buffer = Buffer.concat(messages.map((m) => Buffer.concat([Buffer.alloc(16), Buffer.from(m)])));
  const offsets = new Int32Array(messages.length);
  const lengths = new Int32Array(messages.length);
  let at = 0;
  messages.forEach((m, i) => {
    offsets[i] = at + 16;
    lengths[i] = m.length;
    at += 16 + m.length;
  });
  const indices = Int32Array.from(messages.map((_, i) => i));
  const sources = new Uint8Array(messages.length * SOURCE_RECORD_BYTES);
  senders.forEach((s, j) => {
    const colon = s.lastIndexOf(':');
    writeSourceRecord(sources, j * SOURCE_RECORD_BYTES, makeEndpoint(s.slice(0, colon).replace(/^\[|\]$/g, ''), Number(s.slice(colon + 1))));
  });
  const verdicts = new Uint8Array(messages.length);
  const replies = new Uint8Array(messages.length * COOKIE_REPLY_SLOT);
  const written = filter.run(buffer, offsets, lengths, indices, messages.length, sources, verdicts, replies, now, queued);
  return { verdicts: [...verdicts], replies, written };
}

const responder = createLocalIdentity(crypto, crypto.generatePrivateKey());

for (const make of [() => new NativeHandshakeFilter(), () => new JsHandshakeFilter(crypto)]) {
  const kind = make().kind;

  test(`${kind} filter: size, mac1 and no-key verdicts; not under load a valid mac1 passes without a reply`, () => {
    const filter = make();
    const generator = new CookieGenerator(crypto, responder.publicKey);
    const good = junkInitiation(generator, 0);
    const badMac = good.slice();
    badMac[120] = badMac[120]! ^ 1;
    const response = new Uint8Array(92);
    response[0] = 2;
    generator.addMacs(response, 0);
    const cookieReply = new Uint8Array(64);
    cookieReply[0] = 3;
    const short = good.subarray(0, 147);
    const badType = good.slice();
    badType[1] = 1;
    const batch = [good, badMac, response, cookieReply, short, badType];
    const from = batch.map((_, i) => `192.0.2.${i + 1}:${1000 + i}`);
    assert.deepEqual(run(filter, batch, from, 0).verdicts, [VERDICT_NO_KEY, VERDICT_NO_KEY, VERDICT_NO_KEY, VERDICT_PASS, VERDICT_BAD_SIZE, VERDICT_BAD_SIZE], 'no private key yet');
    filter.setIdentity(responder);
    const result = run(filter, batch, from, 10);
    assert.deepEqual(result.verdicts, [VERDICT_PASS, VERDICT_BAD_MAC1, VERDICT_PASS, VERDICT_PASS, VERDICT_BAD_SIZE, VERDICT_BAD_SIZE]);
    assert.equal(result.written, 0);
    filter.setIdentity(null);
    assert.equal(run(filter, [good], [from[0]!], 20).verdicts[0], VERDICT_NO_KEY);
  });

  test(`${kind} filter: under load, a cookie reply @noble opens; its cookie's mac2 is proven, for that source only; the secret ages out`, () => {
    const filter = make();
    filter.setIdentity(responder);
    const crowd = new CookieGenerator(crypto, responder.publicKey);
    // A burst over the threshold in one batch: under load from its first message.
    const burst = Array.from({ length: UNDER_LOAD_THRESHOLD + 1 }, () => junkInitiation(crowd, 0));
    const burstFrom = burst.map((_, i) => `10.1.${i >> 8}.${i & 0xff}:5000`);
    const first = run(filter, burst, burstFrom, 1000);
    assert.ok(first.verdicts.every((v) => v === VERDICT_COOKIE_REPLY), 'every message of the burst got a cookie reply');
    assert.equal(first.written, burst.length);

    // The reply to message 0: receiver = its sender index; the cookie opens under the cookie key with mac1 as AD.
    const reply = first.replies.subarray(0, 64);
    assert.equal(reply[0], 3);
    assert.deepEqual([...reply.subarray(1, 4)], [0, 0, 0]);
    assert.deepEqual([...reply.subarray(4, 8)], [...burst[0]!.subarray(4, 8)]);
    const nonce = reply.subarray(8, 32);
    const cookie = xchacha20poly1305(responder.cookieKey, nonce, burst[0]!.subarray(116, 132)).decrypt(reply.subarray(32, 64));
    assert.equal(cookie.length, 16);
    const nonces = new Set(burst.map((_, j) => Buffer.from(first.replies.subarray(j * 64 + 8, j * 64 + 32)).toString('hex')));
    assert.equal(nonces.size, burst.length, 'a fresh nonce per reply');

    // The sender, holding the cookie (through the same code wireguard-go's side would run), proves its address.
    const sender = new CookieGenerator(crypto, responder.publicKey);
    const probe = junkInitiation(sender, 1000);
    const ask = run(filter, [probe], [burstFrom[0]!], 1001);
    assert.equal(ask.verdicts[0], VERDICT_COOKIE_REPLY);
    assert.ok(sender.consumeReply(ask.replies.subarray(0, 64).slice(), 1001), 'the sender takes the cookie');
    const proven = junkInitiation(sender, 1002);
    assert.ok(proven.subarray(132).some((b) => b !== 0), 'mac2 set');
    assert.equal(run(filter, [proven], [burstFrom[0]!], 1002).verdicts[0], VERDICT_PROVEN);
    assert.equal(run(filter, [proven], ['10.1.0.0:5001'], 1003).verdicts[0], VERDICT_COOKIE_REPLY, 'another port: not proven');
    assert.equal(run(filter, [proven], ['10.1.0.1:5000'], 1004).verdicts[0], VERDICT_COOKIE_REPLY, 'another address: not proven');
    // mac2 is computed as the whitepaper says: MAC(cookie, message up to mac2).
    const byHand = proven.slice();
    byHand.set(mac(extractCookie(ask.replies.subarray(0, 64), probe), byHand.subarray(0, 132)), 132);
    assert.equal(run(filter, [byHand], [burstFrom[0]!], 1005).verdicts[0], VERDICT_PROVEN);

    // Still under load within UNDER_LOAD_AFTER_TIME of the burst, not after it.
    const later = junkInitiation(crowd, 0);
    assert.equal(run(filter, [later], ['10.2.0.1:1'], 1000 + UNDER_LOAD_AFTER_TIME - 1).verdicts[0], VERDICT_COOKIE_REPLY);
    assert.equal(run(filter, [later], ['10.2.0.1:1'], 1000 + 3 * UNDER_LOAD_AFTER_TIME).verdicts[0], VERDICT_PASS);
    // A queue of UNDER_LOAD_THRESHOLD waiting messages is load too.
    assert.equal(run(filter, [later], ['10.2.0.1:1'], 1000 + 5 * UNDER_LOAD_AFTER_TIME, UNDER_LOAD_THRESHOLD).verdicts[0], VERDICT_COOKIE_REPLY);
    // The secret is redrawn after COOKIE_REFRESH_TIME: the old cookie proves nothing.
    const refreshed = run(filter, [proven], [burstFrom[0]!], 1001 + COOKIE_REFRESH_TIME + 1, UNDER_LOAD_THRESHOLD);
    assert.equal(refreshed.verdicts[0], VERDICT_COOKIE_REPLY);
  });
}

/** The cookie in a reply to `message`, opened with @noble. */
function extractCookie(reply: Uint8Array, message: Uint8Array): Uint8Array {
  return xchacha20poly1305(responder.cookieKey, reply.subarray(8, 32), message.subarray(116, 132)).decrypt(reply.subarray(32, 64));
}

test('native and JavaScript filters give the same verdicts on a mixed batch of IPv4 and IPv6 senders', () => {
  const native = new NativeHandshakeFilter();
  const js = new JsHandshakeFilter(crypto);
  native.setIdentity(responder);
  js.setIdentity(responder);
  const generator = new CookieGenerator(crypto, responder.publicKey);
  const messages: Uint8Array[] = [];
  const from: string[] = [];
  for (let i = 0; i < 700; i++) {
    const m = junkInitiation(generator, 0);
    if (i % 7 === 3) m[130] = m[130]! ^ 0x80; // bad mac1
    messages.push(i % 11 === 5 ? m.subarray(0, 100) : m);
    from.push(i % 2 === 0 ? `192.0.2.${i & 0xff}:${2000 + i}` : `[fd00::${i.toString(16)}]:${3000 + i}`);
  }
  const a = run(native, messages, from, 50);
  const b = run(js, messages, from, 50);
  assert.deepEqual(a.verdicts, b.verdicts);
  assert.equal(a.written, b.written);
  assert.ok(a.written > 500);
});

test('udpSendEach: one call sends each datagram to its own sender record (IPv4 and IPv6), as cookie replies leave', async () => {
  const { UdpBind } = await import('../../engine/conn/udp-bind.js');
  const sender = new UdpBind();
  const receivers = [new UdpBind(), new UdpBind()];
  try {
    sender.open(0);
    const got: string[][] = [[], []];
    receivers.forEach((r, k) => {
      r.open(0);
      r.start((batch) => {
        for (let i = 0; i < batch.count; i++) got[k]!.push(batch.buffer.toString('utf8', batch.offsets[i], batch.offsets[i]! + batch.lengths[i]!));
      });
    });
    const texts = ['to-0-v4', 'to-1-v4', 'to-0-v6', 'to-1-v6', 'to-0-again'];
    const targets = [`127.0.0.1:${receivers[0]!.port()}`, `127.0.0.1:${receivers[1]!.port()}`, `[::1]:${receivers[0]!.port()}`, `[::1]:${receivers[1]!.port()}`, `127.0.0.1:${receivers[0]!.port()}`];
    const buffer = Buffer.from(texts.join(''));
    const offsets = new Int32Array(texts.length);
    const lengths = Int32Array.from(texts.map((t) => t.length));
    texts.reduce((at, t, i) => ((offsets[i] = at), at + t.length), 0);
    const records = new Uint8Array(texts.length * SOURCE_RECORD_BYTES);
    targets.forEach((t, i) => writeSourceRecord(records, i * SOURCE_RECORD_BYTES, sender.parseEndpoint(t)));
    assert.equal(sender.sendEach(buffer, offsets, lengths, texts.length, records), texts.length);
    const deadline = Date.now() + 3000;
    while (got[0]!.length + got[1]!.length < texts.length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.deepEqual(got[0]!.sort(), ['to-0-again', 'to-0-v4', 'to-0-v6']);
    assert.deepEqual(got[1]!.sort(), ['to-1-v4', 'to-1-v6']);
  } finally {
    sender.close();
    for (const r of receivers) r.close();
  }
});

test('the sender record is one size in C (io.h SOURCE_RECORD_BYTES, exported) and in TypeScript', async () => {
  const { readFileSync } = await import('node:fs');
  const { repoPath } = await import('../support/paths.js');
  const header = readFileSync(repoPath('engine', 'native', 'src', 'io.h'), 'utf8');
  const defined = /#define SOURCE_RECORD_BYTES (\d+)/.exec(header);
  assert.ok(defined, 'io.h defines SOURCE_RECORD_BYTES');
  assert.equal(Number(defined[1]), SOURCE_RECORD_BYTES);
  assert.equal(addon.sourceRecordBytes, SOURCE_RECORD_BYTES);
  for (const file of ['udp_posix.c', 'udp_win32.c', 'handshake_filter.c']) {
    const text = readFileSync(repoPath('engine', 'native', 'src', file), 'utf8');
    assert.doesNotMatch(text, /#define SOURCE_RECORD\w* \d+/, `${file} keeps no record size of its own`);
  }
});

test('udpSendEach: many equal-size datagrams to a few senders (grouped, GSO) and one each to many more all arrive, in order per sender', async () => {
  const { UdpBind } = await import('../../engine/conn/udp-bind.js');
  const sender = new UdpBind();
  // 3 busy receivers (the flood's sources), then 17 with one datagram each: 20 destinations, more than the 16 groups.
  const receivers = Array.from({ length: 23 }, () => new UdpBind());
  try {
    sender.open(0);
    const got: string[][] = receivers.map(() => []);
    receivers.forEach((r, k) => {
      r.open(0);
      r.start((batch) => {
        for (let i = 0; i < batch.count; i++) got[k]!.push(batch.buffer.toString('utf8', batch.offsets[i], batch.offsets[i]! + batch.lengths[i]!));
      });
    });
    const texts: string[] = [];
    const to: number[] = [];
    for (let i = 0; i < 300; i++) {
      texts.push(`busy ${i % 3} #${String(Math.floor(i / 3)).padStart(3, '0')}`.padEnd(64, '.'));
      to.push(i % 3);
      if (i % 15 === 0 && to.length < 320) {
        const k = 3 + texts.length % 20;
        if (!to.includes(k)) {
          texts.push(`single ${k}`.padEnd(64, '.'));
          to.push(k);
        }
      }
    }
    const buffer = Buffer.from(texts.join(''));
    const offsets = Int32Array.from(texts.map((_, i) => i * 64));
    const lengths = new Int32Array(texts.length).fill(64);
    const records = new Uint8Array(texts.length * SOURCE_RECORD_BYTES);
    to.forEach((k, i) => writeSourceRecord(records, i * SOURCE_RECORD_BYTES, sender.parseEndpoint(`127.0.0.1:${receivers[k]!.port()}`)));
    assert.equal(sender.sendEach(buffer, offsets, lengths, texts.length, records), texts.length);
    const deadline = Date.now() + 3000;
    const total = () => got.reduce((sum, g) => sum + g.length, 0);
    while (total() < texts.length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    receivers.forEach((_, k) => assert.deepEqual(got[k], texts.filter((_, i) => to[i] === k), `receiver ${k}`));
  } finally {
    sender.close();
    for (const r of receivers) r.close();
  }
});
