/** Choosing the crypto backend: default, explicit, WIRELANE_CRYPTO, and the fallback to noble. */
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { CRYPTO_BACKEND_ENV, loadCryptoBackend, nobleBackend, selectCryptoBackend, sodiumAvailability } from '../../engine/crypto/index.js';
import { createRequire } from 'node:module';
import { loadSodiumBackend } from '../../engine/crypto/sodium.js';

const savedEnv = process.env[CRYPTO_BACKEND_ENV];
afterEach(() => {
  if (savedEnv === undefined) delete process.env[CRYPTO_BACKEND_ENV];
  else process.env[CRYPTO_BACKEND_ENV] = savedEnv;
});

test('without a choice, sodium is used when it loads', () => {
  delete process.env[CRYPTO_BACKEND_ENV];
  assert.deepEqual(sodiumAvailability(), { available: true });
  assert.equal(loadCryptoBackend().name, 'sodium');
  assert.deepEqual(selectCryptoBackend().fallbackReason, null);
});

test('an explicit name is honoured', () => {
  delete process.env[CRYPTO_BACKEND_ENV];
  assert.equal(loadCryptoBackend('noble'), nobleBackend);
  assert.equal(loadCryptoBackend('sodium').name, 'sodium');
});

test('WIRELANE_CRYPTO overrides the caller', () => {
  process.env[CRYPTO_BACKEND_ENV] = 'noble';
  assert.equal(loadCryptoBackend('sodium').name, 'noble');
  process.env[CRYPTO_BACKEND_ENV] = 'sodium';
  assert.equal(loadCryptoBackend('noble').name, 'sodium');
  process.env[CRYPTO_BACKEND_ENV] = '';
  assert.equal(loadCryptoBackend('noble').name, 'noble');
});

test('an invalid WIRELANE_CRYPTO is refused with a message naming the variable', () => {
  process.env[CRYPTO_BACKEND_ENV] = 'openssl';
  assert.throws(() => loadCryptoBackend(), /WIRELANE_CRYPTO must be "noble" or "sodium", not "openssl"/);
});

test('a missing native module is reported, not thrown', () => {
  const result = loadSodiumBackend(() => {
    throw new Error("Cannot find module 'sodium-native'");
  });
  assert.equal(result.ok, false);
  assert.match(result.ok ? '' : result.reason, /sodium-native did not load: Cannot find module 'sodium-native'/);
});

test('a native module that loads but misbehaves is refused by the self-test', () => {
  const broken = {
    randombytes_buf: (buffer: Uint8Array) => buffer.fill(7),
    crypto_scalarmult_base: () => {},
    crypto_scalarmult: () => {},
    crypto_aead_chacha20poly1305_ietf_encrypt: () => 0,
    crypto_aead_chacha20poly1305_ietf_decrypt: () => {
      throw new Error('could not verify data');
    },
  };
  const result = loadSodiumBackend(() => ({ sodium: broken }));
  assert.equal(result.ok, false);
  assert.match(result.ok ? '' : result.reason, /self-test/);
});

test('seal/open call the native binding directly when it agrees with the public functions', () => {
  const result = loadSodiumBackend();
  assert.ok(result.ok);
  assert.equal(result.transportPath, 'binding');
});

test('a binding that disagrees or throws is not used; the public functions take over', () => {
  const real = createRequire(import.meta.url)('sodium-native') as Record<string, unknown>;
  // sodium-native's public AEAD functions: (out, in, ad, nsec, nonce, key) -> bytes written.
  type PublicAead = (out: Uint8Array, input: Uint8Array | null, ad: Uint8Array, nsec: null | Uint8Array, n: Uint8Array, k: Uint8Array) => number;
  const wrongBindings: unknown[] = [
    {}, // functions missing
    { // throws for a bad tag instead of returning a negative number
      crypto_aead_chacha20poly1305_ietf_encrypt: (c: Uint8Array, m: Uint8Array, ad: Uint8Array, n: Uint8Array, k: Uint8Array) =>
        (real.crypto_aead_chacha20poly1305_ietf_encrypt as PublicAead)(c, m, ad, null, n, k),
      crypto_aead_chacha20poly1305_ietf_decrypt: (m: Uint8Array, c: Uint8Array, ad: Uint8Array, n: Uint8Array, k: Uint8Array) =>
        (real.crypto_aead_chacha20poly1305_ietf_decrypt as PublicAead)(m, null, c, ad, n, k),
    },
    { // encrypts to something else
      crypto_aead_chacha20poly1305_ietf_encrypt: (c: Uint8Array) => c.length,
      crypto_aead_chacha20poly1305_ietf_decrypt: (m: Uint8Array) => m.length,
    },
  ];
  for (const binding of wrongBindings) {
    const result = loadSodiumBackend(() => ({ sodium: real, binding }));
    assert.ok(result.ok);
    assert.equal(result.transportPath, 'public');
  }
});
