/**
 * The hash functions of the WireGuard handshake (whitepaper §5.4), shared by both backends.
 *
 *   HASH(input)         BLAKE2s-256(input)
 *   MAC(key, input)     keyed BLAKE2s with a 16-byte output (mac1, mac2, cookies)
 *   HMAC(key, input)    HMAC-BLAKE2s-256 (RFC 2104 over BLAKE2s, 64-byte blocks)
 *   KDFn(key, input)    HKDF (RFC 5869) with HMAC-BLAKE2s, n = 1..3 outputs of 32 bytes
 *
 * They run only for handshake and cookie messages, never per data packet, so returning fresh
 * arrays is fine here. Every function takes its message as several parts and hashes their
 * concatenation, which is how the paper writes them (e.g. HASH(H || ephemeral)) and saves the
 * caller from building the joined buffer.
 */
import { blake2s } from '@noble/hashes/blake2.js';
import { hmac as nobleHmac } from '@noble/hashes/hmac.js';

/** Output size of HASH, HMAC and each KDF output. */
export const HASH_SIZE = 32;
/** Output size of MAC (mac1, mac2, the cookie). */
export const MAC_SIZE = 16;

/** HASH(a || b || ...): BLAKE2s-256 of the concatenated parts. */
export function hash(...parts: Uint8Array[]): Uint8Array {
  const state = blake2s.create({ dkLen: HASH_SIZE });
  for (const part of parts) state.update(part);
  return state.digest();
}

/** Keyed BLAKE2s (RFC 7693 §2.5) of the concatenated parts: key 1..32 bytes, output 1..32 bytes. */
export function keyedBlake2s(key: Uint8Array, outputLength: number, ...parts: Uint8Array[]): Uint8Array {
  const state = blake2s.create({ dkLen: outputLength, key });
  for (const part of parts) state.update(part);
  return state.digest();
}

/**
 * MAC(key, a || b || ...): keyed BLAKE2s with a 16-byte output. `key` is 1..32 bytes: the
 * 32-byte HASH(LABEL_MAC1 || Spub) for mac1, the 16-byte cookie for mac2, or the cookie secret.
 */
export function mac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  return keyedBlake2s(key, MAC_SIZE, ...parts);
}

/** HMAC(key, a || b || ...) with BLAKE2s-256 as the hash. */
export function hmac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const state = nobleHmac.create(blake2s, key);
  for (const part of parts) state.update(part);
  return state.digest();
}

const COUNTER_1 = Uint8Array.of(0x1);
const COUNTER_2 = Uint8Array.of(0x2);
const COUNTER_3 = Uint8Array.of(0x3);

/**
 * KDF as the whitepaper §5.4 defines it (HKDF-Extract then HKDF-Expand):
 *   τ0 := HMAC(key, input)
 *   τ1 := HMAC(τ0, 0x1)
 *   τi := HMAC(τ0, τi-1 || i)
 * and KDFn returns (τ1, ..., τn). τ0 is a secret and is wiped before returning.
 */
function kdf(count: 1 | 2 | 3, key: Uint8Array, input: Uint8Array): Uint8Array[] {
  const t0 = hmac(key, input);
  const out: Uint8Array[] = [];
  const t1 = hmac(t0, COUNTER_1);
  out.push(t1);
  if (count >= 2) {
    const t2 = hmac(t0, t1, COUNTER_2);
    out.push(t2);
    if (count === 3) out.push(hmac(t0, t2, COUNTER_3));
  }
  t0.fill(0);
  return out;
}

/** KDF1(key, input) = τ1. */
export function kdf1(key: Uint8Array, input: Uint8Array): Uint8Array {
  return kdf(1, key, input)[0]!;
}

/** KDF2(key, input) = (τ1, τ2). */
export function kdf2(key: Uint8Array, input: Uint8Array): [Uint8Array, Uint8Array] {
  const [t1, t2] = kdf(2, key, input);
  return [t1!, t2!];
}

/** KDF3(key, input) = (τ1, τ2, τ3). */
export function kdf3(key: Uint8Array, input: Uint8Array): [Uint8Array, Uint8Array, Uint8Array] {
  const [t1, t2, t3] = kdf(3, key, input);
  return [t1!, t2!, t3!];
}
