/**
 * The pure-JavaScript backend: X25519 from @noble/curves, ChaCha20-Poly1305 and
 * XChaCha20-Poly1305 from @noble/ciphers, randomness from the Web Crypto CSPRNG
 * (globalThis.crypto, present in Node and in every Electron process).
 *
 * It is the reference and the fallback: always loadable, audited, no native code. It is slower
 * than the sodium backend and allocates a little per call inside @noble/ciphers (a cipher
 * object and the tag), which is the price of not carrying our own ChaCha20 implementation.
 */
import { chacha20poly1305, xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { AEAD_NONCE_SIZE, AEAD_TAG_SIZE, KEY_SIZE, XAEAD_NONCE_SIZE, type CryptoBackend } from './backend.js';
import { assertKeySize, assertSize, clampPrivateKey, isAllZero } from './keys.js';

/** getRandomValues refuses more than 65536 bytes per call (Web Crypto's quota). */
const RANDOM_CHUNK = 65_536;

function randomFill(out: Uint8Array): void {
  for (let offset = 0; offset < out.length; offset += RANDOM_CHUNK) {
    globalThis.crypto.getRandomValues(out.subarray(offset, Math.min(out.length, offset + RANDOM_CHUNK)));
  }
}

export const nobleBackend: CryptoBackend = {
  name: 'noble',

  randomFill,

  generatePrivateKey(): Uint8Array {
    const key = new Uint8Array(KEY_SIZE);
    randomFill(key);
    return clampPrivateKey(key);
  },

  publicKey(privateKey: Uint8Array): Uint8Array {
    assertKeySize(privateKey, 'private key');
    return x25519.getPublicKey(privateKey);
  },

  sharedSecret(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array | null {
    assertKeySize(privateKey, 'private key');
    assertKeySize(publicKey, 'public key');
    let shared: Uint8Array;
    try {
      shared = x25519.getSharedSecret(privateKey, publicKey);
    } catch {
      // @noble/curves refuses low-order points itself (sizes were checked above, so this
      // is the only reason it throws); the contract reports that as null.
      return null;
    }
    // RFC 7748 §6.1: "check whether the result is all zeros and abort if so".
    return isAllZero(shared) ? null : shared;
  },

  seal(out: Uint8Array, key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): number {
    assertKeySize(key, 'key');
    assertSize(nonce, AEAD_NONCE_SIZE, 'nonce');
    const sealedLength = plaintext.length + AEAD_TAG_SIZE;
    if (out.length < sealedLength) {
      throw new RangeError(`seal: output has ${out.length} bytes, needs ${sealedLength}`);
    }
    // encrypt() copies the plaintext into the output first, so out and plaintext may share
    // their first byte; it wants an output of exactly the sealed length.
    const target = out.length === sealedLength ? out : out.subarray(0, sealedLength);
    chacha20poly1305(key, nonce, ad).encrypt(plaintext, target);
    return sealedLength;
  },

  open(out: Uint8Array, key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, ad: Uint8Array): number {
    assertKeySize(key, 'key');
    assertSize(nonce, AEAD_NONCE_SIZE, 'nonce');
    const plainLength = ciphertext.length - AEAD_TAG_SIZE;
    if (plainLength < 0) return -1;
    if (out.length < plainLength) {
      throw new RangeError(`open: output has ${out.length} bytes, needs ${plainLength}`);
    }
    const target = out.length === plainLength ? out : out.subarray(0, plainLength);
    try {
      // decrypt() verifies the tag over the ciphertext before writing anything to `target`.
      chacha20poly1305(key, nonce, ad).decrypt(ciphertext, target);
    } catch {
      return -1;
    }
    return plainLength;
  },

  xseal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Uint8Array {
    assertKeySize(key, 'key');
    assertSize(nonce, XAEAD_NONCE_SIZE, 'nonce');
    return xchacha20poly1305(key, nonce, ad).encrypt(plaintext);
  },

  xopen(key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, ad: Uint8Array): Uint8Array | null {
    assertKeySize(key, 'key');
    assertSize(nonce, XAEAD_NONCE_SIZE, 'nonce');
    if (ciphertext.length < AEAD_TAG_SIZE) return null;
    try {
      return xchacha20poly1305(key, nonce, ad).decrypt(ciphertext);
    } catch {
      return null;
    }
  },
};
