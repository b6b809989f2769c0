/**
 * TAI64N timestamps (whitepaper §5.1): 8 bytes of seconds since 1970 plus 2^62 + 10, then
 * 4 bytes of nanoseconds, both big-endian. The responder keeps the greatest timestamp it has
 * accepted from each peer and refuses an initiation whose timestamp is not strictly greater,
 * which defeats replayed initiations.
 *
 * Like wireguard-go, we clear the low 24 bits of the nanoseconds (about 16.8 ms of resolution)
 * so the timestamp, readable by whoever holds the responder's key, says little about the
 * initiator's clock; two initiations are at least REKEY_TIMEOUT apart anyway.
 */
import { TIMESTAMP_LENGTH } from './messages.js';

/** 2^62 + 10: the TAI64 label of the Unix epoch (10 leap seconds in 1970, as tai64n does). */
const TAI64_EPOCH_HIGH = 0x40000000;
const TAI64_EPOCH_LOW = 10;
/** Nanosecond bits cleared: 2^24 ns. */
const WHITENER_MASK = 0x1000000 - 1;

/** The TAI64N timestamp of Unix time `wallMs` (milliseconds, may carry a fraction). */
export function tai64n(wallMs: number): Uint8Array {
  const out = new Uint8Array(TIMESTAMP_LENGTH);
  const seconds = Math.floor(wallMs / 1000);
  const nanos = Math.floor((wallMs - seconds * 1000) * 1e6) & ~WHITENER_MASK;
  // seconds + 2^62 + 10 as a 64-bit big-endian integer; seconds < 2^53 fits split in two words.
  const low = seconds + TAI64_EPOCH_LOW;
  const lowWord = low % 0x100000000;
  const highWord = TAI64_EPOCH_HIGH + Math.floor(low / 0x100000000);
  writeU32BE(out, 0, highWord);
  writeU32BE(out, 4, lowWord);
  writeU32BE(out, 8, nanos >>> 0);
  return out;
}

/** Whether timestamp `a` is strictly later than `b` (byte-wise big-endian comparison). */
export function isAfter(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < TIMESTAMP_LENGTH; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x !== y) return x > y;
  }
  return false;
}

function writeU32BE(out: Uint8Array, offset: number, value: number): void {
  out[offset] = (value >>> 24) & 0xff;
  out[offset + 1] = (value >>> 16) & 0xff;
  out[offset + 2] = (value >>> 8) & 0xff;
  out[offset + 3] = value & 0xff;
}
