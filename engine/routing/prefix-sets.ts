/**
 * Questions about sets of IP prefixes that configuration checks ask: does one prefix contain an
 * address or another prefix, do two overlap, and does a set cover a whole address family (a full
 * tunnel, however it is written: 0.0.0.0/0, or 0.0.0.0/1 + 128.0.0.0/1, or any other set of
 * prefixes that together leave no address out).
 *
 * These run when a configuration is read or checked, never on the packet path, so they favour
 * plain code (BigInt ranges) over speed.
 */
import type { Cidr } from './cidr.js';

/** Whether `address` (4 or 16 bytes) lies inside `prefix` (same family required). */
export function prefixContainsAddress(prefix: Cidr, address: Uint8Array): boolean {
  if (address.length !== prefix.address.length) return false;
  return leadingBitsEqual(prefix.address, address, prefix.bits);
}

/** Whether `outer` contains every address of `inner` (equal prefixes contain each other). */
export function prefixContains(outer: Cidr, inner: Cidr): boolean {
  if (outer.family !== inner.family || outer.bits > inner.bits) return false;
  return leadingBitsEqual(outer.address, inner.address, outer.bits);
}

/** Whether two prefixes share at least one address (for prefixes: one contains the other). */
export function prefixesOverlap(a: Cidr, b: Cidr): boolean {
  return prefixContains(a, b) || prefixContains(b, a);
}

/**
 * Whether the prefixes of `family` in `prefixes` together cover every address of that family.
 * Host bits are ignored (each prefix is taken as its network).
 */
export function coversWholeFamily(prefixes: readonly Cidr[], family: 4 | 6): boolean {
  const width = family === 4 ? 32 : 128;
  const ranges = prefixes
    .filter((p) => p.family === family && p.bits >= 0 && p.bits <= width)
    .map((p) => {
      const start = networkValue(p);
      return { start, end: start + (1n << BigInt(width - p.bits)) - 1n };
    })
    .sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const last = (1n << BigInt(width)) - 1n;
  let next = 0n; // the lowest address not yet covered
  for (const range of ranges) {
    if (range.start > next) return false;
    if (range.end >= next) next = range.end + 1n;
    if (next > last) return true;
  }
  return false;
}

/** The prefix's network address as a number (host bits cleared). */
function networkValue(prefix: Cidr): bigint {
  let value = 0n;
  for (const byte of prefix.address) value = (value << 8n) | BigInt(byte);
  const width = prefix.address.length * 8;
  const hostBits = BigInt(width - prefix.bits);
  return (value >> hostBits) << hostBits;
}

function leadingBitsEqual(a: Uint8Array, b: Uint8Array, bits: number): boolean {
  const whole = bits >> 3;
  for (let i = 0; i < whole; i++) if (a[i] !== b[i]) return false;
  const rest = bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((a[whole]! ^ b[whole]!) & mask) === 0;
}
