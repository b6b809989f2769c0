/**
 * Both crypto backends through the same published test vectors, plus the properties the
 * engine relies on: low-order keys are refused, tampering is caught, seal/open work in place
 * and the two backends interoperate byte for byte.
 */
import { createRequire } from 'node:module';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AEAD_TAG_SIZE, type CryptoBackend } from '../../engine/crypto/backend.js';
import { nobleBackend } from '../../engine/crypto/noble.js';
import { loadSodiumBackend } from '../../engine/crypto/sodium.js';

const hex = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

const sodiumLoad = loadSodiumBackend();
if (!sodiumLoad.ok) throw new Error(`the sodium backend must load in this environment: ${sodiumLoad.reason}`);
// The sodium backend once more without the direct binding path, so its fallback is tested too.
const sodiumPublicOnly = loadSodiumBackend(() => ({ sodium: createRequire(import.meta.url)('sodium-native') }));
if (!sodiumPublicOnly.ok) throw new Error(sodiumPublicOnly.reason);
const backends: { label: string; crypto: CryptoBackend }[] = [
  { label: 'noble', crypto: nobleBackend },
  { label: `sodium (${sodiumLoad.transportPath})`, crypto: sodiumLoad.backend },
  { label: `sodium (${sodiumPublicOnly.transportPath})`, crypto: sodiumPublicOnly.backend },
];

// RFC 8439 §2.8.2 and draft-irtf-cfrg-xchacha-03 §A.3.1 share key, AAD and plaintext.
const SUNSCREEN = new TextEncoder().encode(
  "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
);
const VECTOR_KEY = hex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f');
const VECTOR_AAD = hex('50515253c0c1c2c3c4c5c6c7');
const RFC8439_NONCE = hex('070000004041424344454647');
const RFC8439_SEALED = hex(`
  d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6
  3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36
  92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc
  3ff4def08e4b7a9de576d26586cec64b6116
  1ae10b594f09e26a7e902ecbd0600691`);
const XCHACHA_NONCE = hex('404142434445464748494a4b4c4d4e4f5051525354555657');
const XCHACHA_SEALED = hex(`
  bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb
  731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452
  2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9
  21f9664c97637da9768812f615c68b13b52e
  c0875924c1c7987947deafd8780acf49`);

/**
 * Low-order X25519 public keys: u = 0, 1, the two points of order 8, p-1 (order 2), and p, p+1
 * (non-canonical 0 and 1). RFC 7748 §5 ignores bit 255 of a u-coordinate, so each with the top
 * bit set is the same point and must be refused too.
 */
const CANONICAL_LOW_ORDER_POINTS = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
];
const LOW_ORDER_POINTS = CANONICAL_LOW_ORDER_POINTS.flatMap((point) => {
  const topBitSet = hex(point);
  topBitSet[31]! |= 0x80;
  return [point, toHex(topBitSet)];
});

for (const { label: name, crypto } of backends) {
  test(`${name}: ChaCha20-Poly1305 matches RFC 8439 §2.8.2`, () => {
    const out = new Uint8Array(SUNSCREEN.length + AEAD_TAG_SIZE);
    assert.equal(crypto.seal(out, VECTOR_KEY, RFC8439_NONCE, SUNSCREEN, VECTOR_AAD), RFC8439_SEALED.length);
    assert.equal(toHex(out), toHex(RFC8439_SEALED));

    const plain = new Uint8Array(SUNSCREEN.length);
    assert.equal(crypto.open(plain, VECTOR_KEY, RFC8439_NONCE, RFC8439_SEALED, VECTOR_AAD), SUNSCREEN.length);
    assert.deepEqual(plain, SUNSCREEN);
  });

  test(`${name}: XChaCha20-Poly1305 matches draft-irtf-cfrg-xchacha §A.3.1`, () => {
    assert.equal(toHex(crypto.xseal(VECTOR_KEY, XCHACHA_NONCE, SUNSCREEN, VECTOR_AAD)), toHex(XCHACHA_SEALED));
    assert.deepEqual(crypto.xopen(VECTOR_KEY, XCHACHA_NONCE, XCHACHA_SEALED, VECTOR_AAD), SUNSCREEN);
  });

  test(`${name}: X25519 matches RFC 7748 §5.2`, () => {
    assert.equal(
      toHex(crypto.sharedSecret(
        hex('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4'),
        hex('e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c'),
      )!),
      'c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552',
    );
    assert.equal(
      toHex(crypto.sharedSecret(
        hex('4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d'),
        hex('e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493'),
      )!),
      '95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957',
    );
    // The iterated test, one iteration: k = u = 9.
    const nine = new Uint8Array(32);
    nine[0] = 9;
    assert.equal(
      toHex(crypto.sharedSecret(nine, nine)!),
      '422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079',
    );
  });

  test(`${name}: X25519 Diffie-Hellman matches RFC 7748 §6.1 (Alice and Bob)`, () => {
    const alicePrivate = hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
    const bobPrivate = hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb');
    const alicePublic = crypto.publicKey(alicePrivate);
    const bobPublic = crypto.publicKey(bobPrivate);
    assert.equal(toHex(alicePublic), '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
    assert.equal(toHex(bobPublic), 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
    const shared = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';
    assert.equal(toHex(crypto.sharedSecret(alicePrivate, bobPublic)!), shared);
    assert.equal(toHex(crypto.sharedSecret(bobPrivate, alicePublic)!), shared);
  });

  test(`${name}: a low-order public key gives null, never an all-zero secret`, () => {
    const privateKey = crypto.generatePrivateKey();
    for (const point of LOW_ORDER_POINTS) {
      assert.equal(crypto.sharedSecret(privateKey, hex(point)), null, `public key ${point}`);
    }
  });

  test(`${name}: generated private keys are clamped, random, and agree under DH`, () => {
    const a = crypto.generatePrivateKey();
    const b = crypto.generatePrivateKey();
    assert.notDeepEqual(a, b);
    for (const key of [a, b]) {
      assert.equal(key.length, 32);
      assert.equal(key[0]! & 7, 0);
      assert.equal(key[31]! & 0xc0, 0x40);
    }
    assert.deepEqual(crypto.sharedSecret(a, crypto.publicKey(b)), crypto.sharedSecret(b, crypto.publicKey(a)));

    const big = new Uint8Array(70_000); // more than one getRandomValues call may fill
    crypto.randomFill(big);
    assert.ok(big.subarray(65_536).some((byte) => byte !== 0), 'the tail past 64 KiB is filled too');
  });

  test(`${name}: a flipped bit in ciphertext, tag, AD or nonce is refused`, () => {
    const sealed = RFC8439_SEALED;
    const out = new Uint8Array(sealed.length);
    const flip = (bytes: Uint8Array, index: number): Uint8Array => {
      const copy = Uint8Array.from(bytes);
      copy[index]! ^= 0x01;
      return copy;
    };
    assert.equal(crypto.open(out, VECTOR_KEY, RFC8439_NONCE, flip(sealed, 0), VECTOR_AAD), -1);
    assert.equal(crypto.open(out, VECTOR_KEY, RFC8439_NONCE, flip(sealed, sealed.length - 1), VECTOR_AAD), -1);
    assert.equal(crypto.open(out, VECTOR_KEY, RFC8439_NONCE, sealed, flip(VECTOR_AAD, 3)), -1);
    assert.equal(crypto.open(out, VECTOR_KEY, RFC8439_NONCE, sealed, new Uint8Array(0)), -1);
    assert.equal(crypto.open(out, VECTOR_KEY, flip(RFC8439_NONCE, 11), sealed, VECTOR_AAD), -1);
    assert.equal(crypto.open(out, flip(VECTOR_KEY, 0), RFC8439_NONCE, sealed, VECTOR_AAD), -1);
    // Shorter than a tag: untrusted input, so -1 rather than an exception.
    assert.equal(crypto.open(out, VECTOR_KEY, RFC8439_NONCE, sealed.subarray(0, 15), VECTOR_AAD), -1);

    assert.equal(crypto.xopen(VECTOR_KEY, XCHACHA_NONCE, flip(XCHACHA_SEALED, 5), VECTOR_AAD), null);
    assert.equal(crypto.xopen(VECTOR_KEY, XCHACHA_NONCE, flip(XCHACHA_SEALED, XCHACHA_SEALED.length - 1), VECTOR_AAD), null);
    assert.equal(crypto.xopen(VECTOR_KEY, XCHACHA_NONCE, XCHACHA_SEALED, flip(VECTOR_AAD, 0)), null);
    assert.equal(crypto.xopen(VECTOR_KEY, XCHACHA_NONCE, XCHACHA_SEALED.subarray(0, 10), VECTOR_AAD), null);
  });

  test(`${name}: seal and open work in place, at any offset, with a larger output buffer`, () => {
    // A transport message: 16-byte header, then the packet, then room for the tag and more.
    for (const offset of [16, 17, 3]) {
      const buffer = new Uint8Array(offset + SUNSCREEN.length + AEAD_TAG_SIZE + 40);
      buffer.set(SUNSCREEN, offset);
      const region = buffer.subarray(offset);
      const sealedLength = crypto.seal(region, VECTOR_KEY, RFC8439_NONCE, region.subarray(0, SUNSCREEN.length), VECTOR_AAD);
      assert.equal(sealedLength, RFC8439_SEALED.length);
      assert.equal(toHex(region.subarray(0, sealedLength)), toHex(RFC8439_SEALED));
      assert.ok(buffer.subarray(offset + sealedLength).every((byte) => byte === 0), 'nothing written past the tag');

      const opened = crypto.open(region, VECTOR_KEY, RFC8439_NONCE, region.subarray(0, sealedLength), VECTOR_AAD);
      assert.equal(opened, SUNSCREEN.length);
      assert.deepEqual(region.subarray(0, opened), SUNSCREEN);
    }
  });

  test(`${name}: an empty plaintext seals to a bare tag (keepalives)`, () => {
    const out = new Uint8Array(AEAD_TAG_SIZE);
    const nonce = new Uint8Array(12);
    assert.equal(crypto.seal(out, VECTOR_KEY, nonce, new Uint8Array(0), new Uint8Array(0)), AEAD_TAG_SIZE);
    assert.equal(crypto.open(new Uint8Array(0), VECTOR_KEY, nonce, out, new Uint8Array(0)), 0);
  });

  test(`${name}: wrong-size keys, nonces and outputs are programming errors and throw`, () => {
    const out = new Uint8Array(64);
    assert.throws(() => crypto.seal(out, VECTOR_KEY.subarray(0, 31), RFC8439_NONCE, SUNSCREEN.subarray(0, 8), VECTOR_AAD), RangeError);
    assert.throws(() => crypto.seal(out, VECTOR_KEY, XCHACHA_NONCE, SUNSCREEN.subarray(0, 8), VECTOR_AAD), RangeError);
    assert.throws(() => crypto.seal(new Uint8Array(8 + 15), VECTOR_KEY, RFC8439_NONCE, SUNSCREEN.subarray(0, 8), VECTOR_AAD), RangeError);
    assert.throws(() => crypto.open(new Uint8Array(10), VECTOR_KEY, RFC8439_NONCE, RFC8439_SEALED, VECTOR_AAD), RangeError);
    assert.throws(() => crypto.xseal(VECTOR_KEY, RFC8439_NONCE, SUNSCREEN, VECTOR_AAD), RangeError);
    assert.throws(() => crypto.sharedSecret(VECTOR_KEY, new Uint8Array(31)), RangeError);
  });
}

test('what one backend seals, the other opens, in both directions', () => {
  const noble = nobleBackend;
  const sodium = sodiumLoad.backend;
  const key = noble.generatePrivateKey();
  const nonce = new Uint8Array(12);
  new DataView(nonce.buffer).setBigUint64(4, 123_456_789n, true); // WireGuard's counter layout
  const ad = new Uint8Array(0);
  const packet = new Uint8Array(1420);
  sodium.randomFill(packet);

  for (const [sender, receiver] of [[noble, sodium], [sodium, noble]] as const) {
    const sealed = new Uint8Array(packet.length + AEAD_TAG_SIZE);
    sender.seal(sealed, key, nonce, packet, ad);
    const opened = new Uint8Array(packet.length);
    assert.equal(receiver.open(opened, key, nonce, sealed, ad), packet.length, `${sender.name} -> ${receiver.name}`);
    assert.deepEqual(opened, packet);

    const xnonce = new Uint8Array(24);
    sender.randomFill(xnonce);
    const cookie = sender.xseal(key, xnonce, packet.subarray(0, 16), packet.subarray(16, 32));
    assert.deepEqual(receiver.xopen(key, xnonce, cookie, packet.subarray(16, 32)), packet.subarray(0, 16));
  }

  const alice = noble.generatePrivateKey();
  const bob = sodium.generatePrivateKey();
  assert.deepEqual(noble.publicKey(bob), sodium.publicKey(bob));
  assert.deepEqual(noble.sharedSecret(alice, sodium.publicKey(bob)), sodium.sharedSecret(bob, noble.publicKey(alice)));
});
