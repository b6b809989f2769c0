/**
 * The fast backend: libsodium through sodium-native (prebuilt N-API binaries for Linux, macOS
 * and Windows; no types shipped, see ./sodium-native.d.ts).
 *
 * sodium-native is a native module, so it may be missing or unloadable (an Electron build whose
 * native modules were not rebuilt, an unsupported platform). `loadSodiumBackend` therefore
 * loads it at run time and reports why it could not, instead of throwing at import; see
 * ./index.ts for the fallback to the noble backend.
 *
 * The transport path (seal/open) allocates no buffers: libsodium writes straight into the
 * caller's buffer, in place when `out` starts where the input starts, with the caller's 12-byte
 * nonce. The only per-call object is a subarray view when `out` is larger than the result.
 */
import { createRequire } from 'node:module';
import type * as SodiumNative from 'sodium-native';
import { AEAD_NONCE_SIZE, AEAD_TAG_SIZE, KEY_SIZE, XAEAD_NONCE_SIZE, type CryptoBackend } from './backend.js';
import { assertKeySize, assertSize, clampPrivateKey, isAllZero } from './keys.js';

type Sodium = typeof SodiumNative;

export type SodiumLoadResult =
  | { readonly ok: true; readonly backend: CryptoBackend }
  | { readonly ok: false; readonly reason: string };

/** Builds the backend over an already loaded sodium-native module. */
export function createSodiumBackend(sodium: Sodium): CryptoBackend {
  return {
    name: 'sodium',

    randomFill(out: Uint8Array): void {
      sodium.randombytes_buf(out);
    },

    generatePrivateKey(): Uint8Array {
      const key = new Uint8Array(KEY_SIZE);
      sodium.randombytes_buf(key);
      return clampPrivateKey(key);
    },

    publicKey(privateKey: Uint8Array): Uint8Array {
      assertKeySize(privateKey, 'private key');
      const pub = new Uint8Array(KEY_SIZE);
      sodium.crypto_scalarmult_base(pub, privateKey);
      return pub;
    },

    sharedSecret(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array | null {
      assertKeySize(privateKey, 'private key');
      assertKeySize(publicKey, 'public key');
      const shared = new Uint8Array(KEY_SIZE);
      try {
        // libsodium returns -1 (sodium-native throws) when the result is all zeros or the
        // point is on its low-order blocklist: RFC 7748 §6.1's "abort if so".
        sodium.crypto_scalarmult(shared, privateKey, publicKey);
      } catch {
        return null;
      }
      // libsodium already refused an all-zero result; checked again so the contract does not
      // rest on one library's build options.
      return isAllZero(shared) ? null : shared;
    },

    seal(out: Uint8Array, key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): number {
      assertKeySize(key, 'key');
      assertSize(nonce, AEAD_NONCE_SIZE, 'nonce');
      const sealedLength = plaintext.length + AEAD_TAG_SIZE;
      if (out.length < sealedLength) {
        throw new RangeError(`seal: output has ${out.length} bytes, needs ${sealedLength}`);
      }
      const target = out.length === sealedLength ? out : out.subarray(0, sealedLength);
      sodium.crypto_aead_chacha20poly1305_ietf_encrypt(target, plaintext, ad, null, nonce, key);
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
        // libsodium verifies the tag before it writes any plaintext.
        sodium.crypto_aead_chacha20poly1305_ietf_decrypt(target, null, ciphertext, ad, nonce, key);
      } catch {
        return -1;
      }
      return plainLength;
    },

    xseal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Uint8Array {
      assertKeySize(key, 'key');
      assertSize(nonce, XAEAD_NONCE_SIZE, 'nonce');
      const sealed = new Uint8Array(plaintext.length + AEAD_TAG_SIZE);
      sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(sealed, plaintext, ad, null, nonce, key);
      return sealed;
    },

    xopen(key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, ad: Uint8Array): Uint8Array | null {
      assertKeySize(key, 'key');
      assertSize(nonce, XAEAD_NONCE_SIZE, 'nonce');
      if (ciphertext.length < AEAD_TAG_SIZE) return null;
      const plain = new Uint8Array(ciphertext.length - AEAD_TAG_SIZE);
      try {
        sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(plain, null, ciphertext, ad, nonce, key);
      } catch {
        return null;
      }
      return plain;
    },
  };
}

/**
 * A round trip through every primitive, so a module that loads but misbehaves (a mismatched
 * binary) is refused at load time rather than failing on the first packet.
 */
function selfTest(backend: CryptoBackend): void {
  const a = backend.generatePrivateKey();
  const b = backend.generatePrivateKey();
  const ab = backend.sharedSecret(a, backend.publicKey(b));
  const ba = backend.sharedSecret(b, backend.publicKey(a));
  if (ab === null || ba === null || !ab.every((byte, i) => byte === ba[i])) {
    throw new Error('X25519 self-test failed');
  }
  const nonce = new Uint8Array(AEAD_NONCE_SIZE);
  const buffer = new Uint8Array(3 + AEAD_TAG_SIZE);
  buffer.set([1, 2, 3]);
  backend.seal(buffer, ab, nonce, buffer.subarray(0, 3), buffer.subarray(0, 0));
  const opened = backend.open(buffer, ab, nonce, buffer, new Uint8Array(0));
  if (opened !== 3 || buffer[0] !== 1 || buffer[1] !== 2 || buffer[2] !== 3) {
    throw new Error('ChaCha20-Poly1305 self-test failed');
  }
}

const requireFromHere = createRequire(import.meta.url);

/**
 * Loads sodium-native and checks it works; never throws. `load` is replaceable so tests can
 * play a missing or broken native module.
 */
export function loadSodiumBackend(load: () => unknown = () => requireFromHere('sodium-native')): SodiumLoadResult {
  let sodium: Sodium;
  try {
    sodium = load() as Sodium;
  } catch (error) {
    return { ok: false, reason: `sodium-native did not load: ${describe(error)}` };
  }
  const backend = createSodiumBackend(sodium);
  try {
    selfTest(backend);
  } catch (error) {
    return { ok: false, reason: `sodium-native loaded but failed its self-test: ${describe(error)}` };
  }
  return { ok: true, backend };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
