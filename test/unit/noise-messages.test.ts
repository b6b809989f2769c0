/**
 * Message codecs and TAI64N timestamps.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeCookieReply,
  decodeInitiation,
  decodeResponse,
  encodeCookieReply,
  encodeInitiation,
  encodeResponse,
  INITIATION_MAC1,
  INITIATION_MAC2,
  messageType,
  RESPONSE_MAC1,
  RESPONSE_MAC2,
} from '../../engine/noise/messages.js';
import { isAfter, tai64n } from '../../engine/noise/tai64n.js';
import { toHex } from './noise-support.js';

const fill = (n: number, v: number) => new Uint8Array(n).fill(v);

test('initiation, response and cookie reply round-trip with the right offsets', () => {
  const init = encodeInitiation({ sender: 0x01020304, ephemeral: fill(32, 1), encryptedStatic: fill(48, 2), encryptedTimestamp: fill(28, 3) });
  assert.equal(init.length, 148);
  assert.equal(toHex(init.subarray(0, 8)), '0100000004030201');
  assert.equal(INITIATION_MAC1, 116);
  assert.equal(INITIATION_MAC2, 132);
  const d = decodeInitiation(init)!;
  assert.equal(d.sender, 0x01020304);
  assert.deepEqual(d.encryptedStatic, fill(48, 2));
  assert.deepEqual(d.encryptedTimestamp, fill(28, 3));

  const resp = encodeResponse({ sender: 7, receiver: 0xfffffffe, ephemeral: fill(32, 4), encryptedNothing: fill(16, 5) });
  assert.equal(resp.length, 92);
  assert.equal(RESPONSE_MAC1, 60);
  assert.equal(RESPONSE_MAC2, 76);
  const r = decodeResponse(resp)!;
  assert.equal(r.receiver, 0xfffffffe);
  assert.deepEqual(r.encryptedNothing, fill(16, 5));

  const cookie = encodeCookieReply({ receiver: 9, nonce: fill(24, 6), encryptedCookie: fill(32, 7) });
  assert.equal(cookie.length, 64);
  assert.deepEqual(decodeCookieReply(cookie)!.nonce, fill(24, 6));
});

test('messageType refuses wrong lengths, unknown types and non-zero reserved bytes', () => {
  const init = new Uint8Array(148);
  init[0] = 1;
  assert.equal(messageType(init, 0, 148), 1);
  assert.equal(messageType(init, 0, 147), 0);
  init[3] = 1;
  assert.equal(messageType(init, 0, 148), 0);
  const transport = new Uint8Array(32);
  transport[0] = 4;
  assert.equal(messageType(transport, 0, 32), 4);
  assert.equal(messageType(transport, 0, 31), 0);
  transport[0] = 5;
  assert.equal(messageType(transport, 0, 32), 0);
  assert.equal(decodeResponse(new Uint8Array(92)), null);
});

test('TAI64N: epoch label, big-endian, nanoseconds whitened to 2^24 ns', () => {
  assert.equal(toHex(tai64n(0)), '400000000000000a00000000');
  const t = tai64n(1_700_000_000_123);
  assert.equal(toHex(t.subarray(0, 8)), (0x400000000000000an + 1_700_000_000n).toString(16).padStart(16, '0'));
  assert.equal(toHex(t.subarray(8)), '07000000'); // 123_000_000 ns & ~0xffffff
  assert.equal(isAfter(tai64n(1_000), tai64n(999)), true);
  assert.equal(isAfter(tai64n(1_000), tai64n(1_000)), false, 'strictly greater');
  assert.equal(isAfter(tai64n(1_000), tai64n(1_010)), false, 'within the whitened resolution');
  assert.equal(isAfter(tai64n(1_020), tai64n(1_000)), true);
});
