/** Small helpers both backends share: X25519 key handling and argument size checks. */
import { KEY_SIZE } from './backend.js';

/**
 * Clamps a 32-byte X25519 scalar in place as RFC 7748 §5 decodeScalar25519 does (and as
 * `wg genkey` stores it): clear the 3 low bits, clear bit 255, set bit 254.
 */
export function clampPrivateKey(key: Uint8Array): Uint8Array {
  key[0]! &= 248;
  key[31]! &= 127;
  key[31]! |= 64;
  return key;
}

/** Whether every byte is zero, in time independent of where a non-zero byte is. */
export function isAllZero(bytes: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < bytes.length; i++) acc |= bytes[i]!;
  return acc === 0;
}

/**
 * Throws a RangeError unless `bytes` has exactly `size` bytes. Keys and nonces always come from
 * our own code, so a wrong size is a programming error, never something to report as a failed
 * decryption.
 */
export function assertSize(bytes: Uint8Array, size: number, what: string): void {
  if (bytes.length !== size) throw new RangeError(`${what} must be ${size} bytes, got ${bytes.length}`);
}

/** assertSize for 32-byte keys. */
export function assertKeySize(bytes: Uint8Array, what: string): void {
  assertSize(bytes, KEY_SIZE, what);
}
