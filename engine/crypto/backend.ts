/**
 * The cryptographic primitives WireGuard needs, behind one small interface.
 *
 * Two backends implement it: `noble` (pure JavaScript, always available, the reference) and
 * `sodium` (libsodium through sodium-native, fast). Nothing in the engine may depend on
 * node:crypto's chacha20-poly1305: Electron's BoringSSL build does not have it.
 *
 * The hash functions (BLAKE2s, HMAC-BLAKE2s, HKDF) are not part of a backend: both use
 * @noble/hashes, see ./hash.ts. They run only during handshakes.
 *
 * Every method writes into buffers owned by the caller where it can, so the transport path
 * allocates nothing per packet.
 */

export const KEY_SIZE = 32;
export const AEAD_TAG_SIZE = 16;
/** ChaCha20-Poly1305 (RFC 8439) nonce: WireGuard puts 4 zero bytes then a 64-bit LE counter. */
export const AEAD_NONCE_SIZE = 12;
export const XAEAD_NONCE_SIZE = 24;

export type CryptoBackendName = 'noble' | 'sodium';

export interface CryptoBackend {
  readonly name: CryptoBackendName;

  /** Fills `out` with cryptographically secure random bytes. */
  randomFill(out: Uint8Array): void;

  /** A new X25519 private key, clamped as RFC 7748 and `wg genkey` do. */
  generatePrivateKey(): Uint8Array;

  /** The X25519 public key of `privateKey` (32 bytes). */
  publicKey(privateKey: Uint8Array): Uint8Array;

  /**
   * X25519(privateKey, publicKey), 32 bytes. Returns null when the result is all zeros, which
   * happens exactly when `publicKey` is a low-order point: the caller must then refuse the peer.
   */
  sharedSecret(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array | null;

  /**
   * ChaCha20-Poly1305 encryption. Writes ciphertext || tag (plaintext.length + 16 bytes) into
   * `out`, which must not overlap `plaintext` unless it starts at the same byte. `ad` may be
   * empty. Returns the number of bytes written.
   */
  seal(out: Uint8Array, key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): number;

  /**
   * ChaCha20-Poly1305 decryption of ciphertext || tag into `out` (ciphertext.length - 16 bytes;
   * may start at the same byte as the ciphertext). Returns the plaintext length, or -1 when the
   * tag does not verify (then `out` holds nothing the caller may use).
   */
  open(out: Uint8Array, key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, ad: Uint8Array): number;

  /** XChaCha20-Poly1305 encryption (cookie replies): returns ciphertext || tag. */
  xseal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Uint8Array;

  /** XChaCha20-Poly1305 decryption: the plaintext, or null when the tag does not verify. */
  xopen(key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, ad: Uint8Array): Uint8Array | null;
}
