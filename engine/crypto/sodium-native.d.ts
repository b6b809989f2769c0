/**
 * Types for the parts of sodium-native (v5, which ships none) that engine/crypto/sodium.ts uses.
 * Every call validates sizes and throws an Error on a wrong size or a failed verification.
 * The argument order is libsodium's: outputs first, `nsec` is always null.
 */
declare module 'sodium-native' {
  /** Fills the whole view with random bytes (randombytes_buf). */
  export function randombytes_buf(buffer: ArrayBufferView): void;

  /** q = X25519(n, basepoint). */
  export function crypto_scalarmult_base(q: Uint8Array, n: Uint8Array): void;
  /** q = X25519(n, p); throws when the result is all zeros (p of low order). */
  export function crypto_scalarmult(q: Uint8Array, n: Uint8Array, p: Uint8Array): void;

  /** c (m.length + 16 bytes) = ChaCha20-Poly1305-IETF(m); c and m may start at the same byte. Returns c's length. */
  export function crypto_aead_chacha20poly1305_ietf_encrypt(
    c: Uint8Array, m: Uint8Array, ad: Uint8Array | null, nsec: null, npub: Uint8Array, k: Uint8Array,
  ): number;
  /** m (c.length - 16 bytes) = open(c); throws when the tag does not verify. Returns m's length. */
  export function crypto_aead_chacha20poly1305_ietf_decrypt(
    m: Uint8Array, nsec: null, c: Uint8Array, ad: Uint8Array | null, npub: Uint8Array, k: Uint8Array,
  ): number;

  /** As crypto_aead_chacha20poly1305_ietf_encrypt with a 24-byte nonce. */
  export function crypto_aead_xchacha20poly1305_ietf_encrypt(
    c: Uint8Array, m: Uint8Array, ad: Uint8Array | null, nsec: null, npub: Uint8Array, k: Uint8Array,
  ): number;
  /** As crypto_aead_chacha20poly1305_ietf_decrypt with a 24-byte nonce. */
  export function crypto_aead_xchacha20poly1305_ietf_decrypt(
    m: Uint8Array, nsec: null, c: Uint8Array, ad: Uint8Array | null, npub: Uint8Array, k: Uint8Array,
  ): number;
}

/**
 * sodium-native's raw N-API binding, which its public functions wrap. Only the two transport
 * AEAD calls are declared; engine/crypto/sodium.ts probes them before use. Unlike the public
 * functions they do not check sizes (the caller must) and return a negative number for a bad
 * tag instead of throwing.
 */
declare module 'sodium-native/binding.js' {
  /** Writes m.length + 16 bytes to c; returns that length, or negative on failure. */
  export function crypto_aead_chacha20poly1305_ietf_encrypt(
    c: Uint8Array, m: Uint8Array, ad: Uint8Array | undefined, npub: Uint8Array, k: Uint8Array,
  ): number;
  /** Verifies c's tag, then writes c.length - 16 bytes to m; returns that length, or negative for a bad tag. */
  export function crypto_aead_chacha20poly1305_ietf_decrypt(
    m: Uint8Array, c: Uint8Array, ad: Uint8Array | undefined, npub: Uint8Array, k: Uint8Array,
  ): number;
}
