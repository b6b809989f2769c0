/**
 * The handshake hash functions against published vectors: BLAKE2s (RFC 7693 and the reference
 * keyed test), wireguard-go's KDF vectors, and CPython's hashlib for the 16-byte MAC and HMAC.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HASH_SIZE, MAC_SIZE, hash, hmac, kdf1, kdf2, kdf3, keyedBlake2s, mac } from '../../engine/crypto/hash.js';

const hex = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text, 'hex'));
const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const ascii = (text: string): Uint8Array => new TextEncoder().encode(text);
const KEY_00_1F = Uint8Array.from({ length: 32 }, (_, i) => i);

test('HASH is BLAKE2s-256: RFC 7693 Appendix B ("abc")', () => {
  assert.equal(toHex(hash(ascii('abc'))), '508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982');
  assert.equal(hash(ascii('abc')).length, HASH_SIZE);
});

test('HASH of several parts is the hash of their concatenation', () => {
  assert.deepEqual(hash(ascii('a'), ascii(''), ascii('bc')), hash(ascii('abc')));
});

test('keyed BLAKE2s: the reference tests with key 00..1f', () => {
  // blake2s-kat.txt, first keyed entry (32-byte output).
  assert.equal(toHex(keyedBlake2s(KEY_00_1F, 32)), '48a8997da407876b3d79c0d92325ad3b89cbb754d86ab71aee047ad345fd2c49');
  // The second entry: input 00.
  assert.equal(toHex(keyedBlake2s(KEY_00_1F, 32, Uint8Array.of(0))), '40d15fee7c328830166ac3f918650f807e7e01e177258cdc0a39b11f598066f1');
});

test('MAC is keyed BLAKE2s with a 16-byte output (as CPython hashlib computes it)', () => {
  // python3: hashlib.blake2s(b'wirelane mac1 input', key=bytes(range(32)), digest_size=16)
  const mac1 = mac(KEY_00_1F, ascii('wirelane '), ascii('mac1 input'));
  assert.equal(mac1.length, MAC_SIZE);
  assert.equal(toHex(mac1), '11771097994c85989bb23aa1d7b01226');
  // A 16-byte key, as mac2 is keyed with the cookie.
  assert.equal(
    toHex(mac(KEY_00_1F.subarray(0, 16), ascii('wirelane mac2 input'))),
    '2a6497e12111c2058b93f50f7159198d',
  );
});

test('HMAC is HMAC-BLAKE2s-256 (as CPython hmac + hashlib.blake2s computes it)', () => {
  assert.equal(
    toHex(hmac(ascii('test-key'), ascii('test-'), ascii('input'))),
    'ed378e02e152b574e0d9e01fb029a7066c3cc687917c28bf9dfe5b042769fa46',
  );
});

// wireguard-go device/kdf_test.go
const KDF_VECTORS = [
  {
    key: '746573742d6b6579',
    input: '746573742d696e707574',
    t: [
      '6f0e5ad38daba1bea8a0d213688736f19763239305e0f58aba697f9ffc41c633',
      'df1194df20802a4fe594cde27e92991c8cae66c366e8106aaa937a55fa371e8a',
      'fac6e2745a325f5dc5d11a5b165aad08b0ada28e7b4e666b7c077934a4d76c24',
    ],
  },
  {
    key: '776972656775617264',
    input: '776972656775617264',
    t: [
      '491d43bbfdaa8750aaf535e334ecbfe5129967cd64635101c566d4caefda96e8',
      '1e71a379baefd8a79aa4662212fcafe19a23e2b609a3db7d6bcba8f560e3d25f',
      '31e1ae48bddfbe5de38f295e5452b1909a1b4e38e183926af3780b0c1e1f0160',
    ],
  },
  {
    key: '',
    input: '',
    t: [
      '8387b46bf43eccfcf349552a095d8315c4055beb90208fb1be23b894bc2ed5d0',
      '58a0e5f6faefccf4807bff1f05fa8a9217945762040bcec2f4b4a62bdfe0e86e',
      '0ce6ea98ec548f8e281e93e32db65621c45eb18dc6f0a7ad94178610a2f7338e',
    ],
  },
];

for (const [index, vector] of KDF_VECTORS.entries()) {
  test(`KDF1/2/3 match wireguard-go's KDF test vector ${index + 1}`, () => {
    const key = hex(vector.key);
    const input = hex(vector.input);
    assert.deepEqual(kdf3(key, input).map(toHex), vector.t);
    assert.deepEqual(kdf2(key, input).map(toHex), vector.t.slice(0, 2));
    assert.equal(toHex(kdf1(key, input)), vector.t[0]);
  });
}

test('KDF leaves its inputs untouched', () => {
  const key = hex('746573742d6b6579');
  const input = hex('746573742d696e707574');
  kdf3(key, input);
  assert.equal(toHex(key), '746573742d6b6579');
  assert.equal(toHex(input), '746573742d696e707574');
});

