/**
 * The text forms of a WireGuard key (private, public or preshared: always 32 bytes).
 *
 * - base64, as `wg genkey`, wg-quick .conf files and `wg show` write it: 44 characters, the last
 *   one `=`. wg rejects any other length and any non-canonical padding (the 43rd character must
 *   leave its 2 spare bits zero), so a key has exactly one base64 spelling and two configs with
 *   the same key compare equal as text.
 * - hex, as the cross-platform UAPI (`private_key=...`, `public_key=...`) writes it: 64
 *   characters. wireguard-go accepts either case; we write lower case as it does.
 *
 * Decoders return a result value instead of throwing: their input is untrusted (files, sockets),
 * and their messages never echo the text they were given, which may be a secret.
 */

export const KEY_BYTES = 32;
export const KEY_BASE64_LENGTH = 44;
export const KEY_HEX_LENGTH = 64;

export type KeyDecodeResult = { ok: true; key: Uint8Array } | { ok: false; message: string };

const BASE64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
/** base64 character -> 6-bit value, -1 for anything else. */
const BASE64_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < BASE64_ALPHABET.length; i++) BASE64_VALUE[BASE64_ALPHABET.charCodeAt(i)] = i;

function base64Value(code: number): number {
  return code < 128 ? BASE64_VALUE[code]! : -1;
}

/** Decodes a key from its 44-character base64 form. */
export function keyFromBase64(text: string): KeyDecodeResult {
  if (text.length !== KEY_BASE64_LENGTH || text.charCodeAt(43) !== 0x3d /* '=' */) {
    return {
      ok: false,
      message: `a key is 44 base64 characters ending in '=' (32 bytes); this one has ${text.length} characters`,
    };
  }
  const key = new Uint8Array(KEY_BYTES);
  // 43 characters carry 258 bits: 10 groups of 4 characters (30 bytes) and a last group of 3
  // characters (2 bytes + 2 spare bits).
  let byteIndex = 0;
  for (let group = 0; group < 11; group++) {
    const charsInGroup = group < 10 ? 4 : 3;
    let acc = 0;
    for (let j = 0; j < charsInGroup; j++) {
      const v = base64Value(text.charCodeAt(group * 4 + j));
      if (v < 0) return { ok: false, message: 'a key may only contain base64 characters (A-Z, a-z, 0-9, +, /)' };
      acc = (acc << 6) | v;
    }
    if (charsInGroup === 4) {
      key[byteIndex++] = (acc >>> 16) & 0xff;
      key[byteIndex++] = (acc >>> 8) & 0xff;
      key[byteIndex++] = acc & 0xff;
    } else {
      if ((acc & 0x3) !== 0) {
        return { ok: false, message: 'the key is not canonical base64 (its last character before = has spare bits set)' };
      }
      key[byteIndex++] = (acc >>> 10) & 0xff;
      key[byteIndex++] = (acc >>> 2) & 0xff;
    }
  }
  return { ok: true, key };
}

/** Encodes a 32-byte key as 44 characters of base64. */
export function keyToBase64(key: Uint8Array): string {
  assertKeyLength(key);
  let out = '';
  for (let i = 0; i < 30; i += 3) {
    const acc = (key[i]! << 16) | (key[i + 1]! << 8) | key[i + 2]!;
    out +=
      BASE64_ALPHABET[(acc >>> 18) & 63]! +
      BASE64_ALPHABET[(acc >>> 12) & 63]! +
      BASE64_ALPHABET[(acc >>> 6) & 63]! +
      BASE64_ALPHABET[acc & 63]!;
  }
  const last = (key[30]! << 10) | (key[31]! << 2);
  out += BASE64_ALPHABET[(last >>> 12) & 63]! + BASE64_ALPHABET[(last >>> 6) & 63]! + BASE64_ALPHABET[last & 63]! + '=';
  return out;
}

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30; // 0-9
  if (code >= 0x61 && code <= 0x66) return code - 0x61 + 10; // a-f
  if (code >= 0x41 && code <= 0x46) return code - 0x41 + 10; // A-F
  return -1;
}

/** Decodes a key from its 64-character hex form (the UAPI's). */
export function keyFromHex(text: string): KeyDecodeResult {
  if (text.length !== KEY_HEX_LENGTH) {
    return { ok: false, message: `a key is 64 hex characters (32 bytes); this one has ${text.length} characters` };
  }
  const key = new Uint8Array(KEY_BYTES);
  for (let i = 0; i < KEY_BYTES; i++) {
    const hi = hexValue(text.charCodeAt(2 * i));
    const lo = hexValue(text.charCodeAt(2 * i + 1));
    if (hi < 0 || lo < 0) return { ok: false, message: 'a key in hex may only contain 0-9 and a-f' };
    key[i] = (hi << 4) | lo;
  }
  return { ok: true, key };
}

const HEX_DIGITS = '0123456789abcdef';

/** Encodes a 32-byte key as 64 lower-case hex characters. */
export function keyToHex(key: Uint8Array): string {
  assertKeyLength(key);
  let out = '';
  for (let i = 0; i < KEY_BYTES; i++) out += HEX_DIGITS[key[i]! >>> 4]! + HEX_DIGITS[key[i]! & 15]!;
  return out;
}

/** Whether every byte is zero (the UAPI's "no key"), in time independent of the contents. */
export function isAllZero(bytes: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < bytes.length; i++) acc |= bytes[i]!;
  return acc === 0;
}

/** Whether two keys hold the same bytes, in time independent of where they differ. */
export function keysEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let acc = 0;
  for (let i = 0; i < a.length; i++) acc |= a[i]! ^ b[i]!;
  return acc === 0;
}

function assertKeyLength(key: Uint8Array): void {
  // A wrong size here is a programming error (keys are checked where they enter), not bad input.
  if (key.length !== KEY_BYTES) throw new RangeError(`a key is ${KEY_BYTES} bytes, got ${key.length}`);
}
