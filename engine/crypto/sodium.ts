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
 *
 * Transport AEAD calls go straight to sodium-native's binding (its `binding.js`) when that
 * passes a probe at load time. The public functions wrap the same calls in argument asserts
 * and turn a failed tag check into a thrown Error. Measured here with 64-byte packets, the
 * wrappers made open about 3 times slower, and a forged packet about 13 times dearer to
 * reject than a good one to accept (building the Error), which is a gift to anyone flooding
 * us with forged transport packets. Our own size checks replace the asserts. Should a
 * sodium-native update change the binding, the probe fails and the public functions are used.
 */
import { createRequire } from 'node:module';
import type * as SodiumNative from 'sodium-native';
import type * as SodiumBinding from 'sodium-native/binding.js';
import { AEAD_NONCE_SIZE, AEAD_TAG_SIZE, KEY_SIZE, XAEAD_NONCE_SIZE, type CryptoBackend } from './backend.js';
import { assertKeySize, assertSize, clampPrivateKey, isAllZero } from './keys.js';

type Sodium = typeof SodiumNative;
type Binding = typeof SodiumBinding;

export type SodiumLoadResult =
  | { readonly ok: true; readonly backend: CryptoBackend; readonly transportPath: TransportPath }
  | { readonly ok: false; readonly reason: string };

/** How seal/open reach libsodium: the binding directly, or sodium-native's public functions. */
export type TransportPath = 'binding' | 'public';

/**
 * ChaCha20-Poly1305-IETF with libsodium's argument order. Sizes are the caller's duty:
 * `c.length === m.length + 16`, 12-byte nonce, 32-byte key. Both return the output length,
 * or a negative number when the tag does not verify; neither throws for a bad tag.
 */
interface TransportAead {
  encrypt(c: Uint8Array, m: Uint8Array, ad: Uint8Array, nonce: Uint8Array, key: Uint8Array): number;
  decrypt(m: Uint8Array, c: Uint8Array, ad: Uint8Array, nonce: Uint8Array, key: Uint8Array): number;
}

function publicTransportAead(sodium: Sodium): TransportAead {
  return {
    encrypt: (c, m, ad, nonce, key) => sodium.crypto_aead_chacha20poly1305_ietf_encrypt(c, m, ad, null, nonce, key),
    decrypt: (m, c, ad, nonce, key) => {
      try {
        return sodium.crypto_aead_chacha20poly1305_ietf_decrypt(m, null, c, ad, nonce, key);
      } catch {
        return -1; // libsodium verifies the tag before it writes any plaintext
      }
    },
  };
}

function bindingTransportAead(binding: Binding): TransportAead {
  return {
    encrypt: (c, m, ad, nonce, key) => binding.crypto_aead_chacha20poly1305_ietf_encrypt(c, m, ad, nonce, key),
    decrypt: (m, c, ad, nonce, key) => binding.crypto_aead_chacha20poly1305_ietf_decrypt(m, c, ad, nonce, key),
  };
}

/**
 * Whether `candidate` computes exactly what the public functions compute, and reports a bad
 * tag as a negative number rather than throwing.
 */
function transportAeadAgrees(candidate: TransportAead, reference: TransportAead): boolean {
  const key = Uint8Array.from({ length: KEY_SIZE }, (_, i) => i + 1);
  const nonce = Uint8Array.from({ length: AEAD_NONCE_SIZE }, (_, i) => 0x40 + i);
  const ad = Uint8Array.of(1, 2, 3);
  const plain = Uint8Array.from({ length: 100 }, (_, i) => i);
  const expected = new Uint8Array(plain.length + AEAD_TAG_SIZE);
  reference.encrypt(expected, plain, ad, nonce, key);

  const sealed = new Uint8Array(expected.length);
  if (candidate.encrypt(sealed, plain, ad, nonce, key) !== sealed.length) return false;
  if (!sealed.every((byte, i) => byte === expected[i])) return false;
  const opened = new Uint8Array(plain.length);
  if (candidate.decrypt(opened, sealed, ad, nonce, key) !== plain.length) return false;
  if (!opened.every((byte, i) => byte === plain[i])) return false;
  sealed[sealed.length - 1]! ^= 1;
  const rejected = candidate.decrypt(opened, sealed, ad, nonce, key);
  return typeof rejected === 'number' && rejected < 0;
}

/**
 * Builds the backend over an already loaded sodium-native module. With `binding` (its
 * binding.js), seal/open call it directly if it agrees with the public functions.
 */
export function createSodiumBackend(sodium: Sodium, binding?: Binding): { backend: CryptoBackend; transportPath: TransportPath } {
  const reference = publicTransportAead(sodium);
  let aead = reference;
  let transportPath: TransportPath = 'public';
  if (binding !== undefined) {
    try {
      const direct = bindingTransportAead(binding);
      if (transportAeadAgrees(direct, reference)) {
        aead = direct;
        transportPath = 'binding';
      }
    } catch {
      // A binding with other functions or signatures: keep the public functions.
    }
  }

  const backend: CryptoBackend = {
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
      if (aead.encrypt(target, plaintext, ad, nonce, key) !== sealedLength) {
        throw new Error('seal: libsodium refused to encrypt'); // only on a too-long message
      }
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
      return aead.decrypt(target, ciphertext, ad, nonce, key) === plainLength ? plainLength : -1;
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
  return { backend, transportPath };
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

/** What loadSodiumBackend loads: the module, and its binding when that can be reached. */
export interface SodiumModules {
  sodium: unknown;
  binding?: unknown;
}

function requireSodium(): SodiumModules {
  const sodium: unknown = requireFromHere('sodium-native');
  let binding: unknown;
  try {
    binding = requireFromHere('sodium-native/binding.js');
  } catch {
    binding = undefined; // the public functions will do
  }
  return { sodium, binding };
}

/**
 * Loads sodium-native and checks it works; never throws. `load` is replaceable so tests can
 * play a missing or broken native module.
 */
export function loadSodiumBackend(load: () => SodiumModules = requireSodium): SodiumLoadResult {
  let modules: SodiumModules;
  try {
    modules = load();
  } catch (error) {
    return { ok: false, reason: `sodium-native did not load: ${describe(error)}` };
  }
  try {
    const { backend, transportPath } = createSodiumBackend(modules.sodium as Sodium, modules.binding as Binding | undefined);
    selfTest(backend);
    return { ok: true, backend, transportPath };
  } catch (error) {
    return { ok: false, reason: `sodium-native loaded but failed its self-test: ${describe(error)}` };
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
