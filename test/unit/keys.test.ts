/** Key text forms: wg's base64 and the UAPI's hex. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isAllZero, keyFromBase64, keyFromHex, keysEqual, keyToBase64, keyToHex } from '../../engine/keys.js';

// A key from /work/shared/examples (peer1.conf's PublicKey) and its bytes as Buffer decodes them.
const PUBLIC_B64 = 'R+VLmyHEvy/22M18jvc02kexLqrt+rpm+pGb5jhapTk=';
const PUBLIC_HEX = Buffer.from(PUBLIC_B64, 'base64').toString('hex');

test('base64 and hex forms decode to the same 32 bytes and encode back exactly', () => {
  const fromB64 = keyFromBase64(PUBLIC_B64);
  const fromHex = keyFromHex(PUBLIC_HEX);
  assert.ok(fromB64.ok && fromHex.ok);
  assert.deepEqual(fromB64.key, fromHex.key);
  assert.equal(keyToBase64(fromB64.key), PUBLIC_B64);
  assert.equal(keyToHex(fromB64.key), PUBLIC_HEX);
  const upper = keyFromHex(PUBLIC_HEX.toUpperCase());
  assert.ok(upper.ok && keysEqual(upper.key, fromB64.key), 'hex is accepted in either case');
});

test('every byte value survives both encodings', () => {
  for (let start = 0; start < 256; start += 32) {
    const key = Uint8Array.from({ length: 32 }, (_, i) => start + i);
    assert.equal(keyToBase64(key), Buffer.from(key).toString('base64'));
    const back = keyFromBase64(keyToBase64(key));
    assert.ok(back.ok);
    assert.deepEqual(back.key, key);
    const hexBack = keyFromHex(keyToHex(key));
    assert.ok(hexBack.ok);
    assert.deepEqual(hexBack.key, key);
  }
});

test('malformed base64 keys are rejected with a reason and without echoing the text', () => {
  const cases: [string, RegExp][] = [
    ['not-a-key', /44 base64 characters.*9 characters/],
    [PUBLIC_B64.slice(0, 43), /44/],
    [PUBLIC_B64 + 'A', /44/],
    [PUBLIC_B64.slice(0, 42) + '==', /44 base64 characters ending in '='|base64 characters/],
    [PUBLIC_B64.slice(0, 42) + 'V=', /canonical/], // 'V' = 21: low two bits set -> non-canonical
    ['R-VLmyHEvy/22M18jvc02kexLqrt+rpm+pGb5jhapTk=', /only contain base64/], // URL-safe alphabet
    ['R+VLmyHEvy/22M18jvc02kexLqrt+rpm+pGb5jhapTé=', /only contain base64/],
  ];
  for (const [text, reason] of cases) {
    const r = keyFromBase64(text);
    assert.equal(r.ok, false, text);
    if (!r.ok) {
      assert.match(r.message, reason, text);
      assert.ok(!r.message.includes(text), 'the message does not repeat the (possibly secret) input');
    }
  }
});

test('malformed hex keys are rejected', () => {
  for (const text of ['', PUBLIC_HEX.slice(1), PUBLIC_HEX + '0', 'g' + PUBLIC_HEX.slice(1), ' ' + PUBLIC_HEX.slice(1)]) {
    assert.equal(keyFromHex(text).ok, false, text);
  }
});

test('isAllZero tells the UAPI\'s "no key" apart from a key', () => {
  assert.equal(isAllZero(new Uint8Array(32)), true);
  const k = new Uint8Array(32);
  k[31] = 1;
  assert.equal(isAllZero(k), false);
  const zero = keyFromHex('0'.repeat(64));
  assert.ok(zero.ok && isAllZero(zero.key));
});

test('encoding a key of the wrong size is a programming error', () => {
  assert.throws(() => keyToBase64(new Uint8Array(31)), RangeError);
  assert.throws(() => keyToHex(new Uint8Array(33)), RangeError);
});
