/**
 * Text forms of addresses and prefixes as the OS tools (ip, ifconfig, route, netsh) take them,
 * and the strict checks every value passes before it becomes a command argument.
 *
 * Values reach these functions from imported .conf files, i.e. from untrusted input. Commands are
 * run without a shell (execFile), so a value can never split into two arguments or start a second
 * command; the checks here add a second line: a value that is not exactly the kind of thing it
 * claims to be (an interface name, an IP address, a DNS domain) is refused before any command runs.
 */
import { isIP, isIPv4, isIPv6 } from 'node:net';
import type { Cidr } from '../routing/cidr.js';

/** A value refused before it could reach a command line. */
export class OsValueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OsValueError';
  }
}

/** The address of a prefix in the usual text form: dotted quad, or RFC 5952 compressed IPv6. */
export function formatAddress(family: 4 | 6, bytes: Uint8Array): string {
  if (family === 4) {
    if (bytes.length !== 4) throw new OsValueError(`an IPv4 address has 4 bytes, not ${bytes.length}`);
    return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  }
  if (bytes.length !== 16) throw new OsValueError(`an IPv6 address has 16 bytes, not ${bytes.length}`);
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  // RFC 5952 section 4.2: the longest run of two or more zero groups becomes "::" (the first if tied).
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/** "10.0.0.2/24", "fd00::2/64". */
export function formatCidr(cidr: Cidr): string {
  checkCidr(cidr);
  return `${formatAddress(cidr.family, cidr.address)}/${cidr.bits}`;
}

/** The IPv4 netmask of a prefix length, e.g. 24 -> "255.255.255.0" (netsh wants masks). */
export function ipv4Netmask(bits: number): string {
  if (!Number.isInteger(bits) || bits < 0 || bits > 32) throw new OsValueError(`bad IPv4 prefix length ${bits}`);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return `${mask >>> 24}.${(mask >>> 16) & 255}.${(mask >>> 8) & 255}.${mask & 255}`;
}

/** The same prefix with its host bits cleared (the form route tables hold). */
export function networkOf(cidr: Cidr): Cidr {
  checkCidr(cidr);
  const address = new Uint8Array(cidr.address);
  for (let i = 0; i < address.length; i++) {
    const keep = Math.max(0, Math.min(8, cidr.bits - i * 8));
    address[i] = (address[i] ?? 0) & ((0xff << (8 - keep)) & 0xff);
  }
  return { family: cidr.family, address, bits: cidr.bits };
}

/** Parses "10.0.0.2/24" or "fd00::1" (a host prefix when the length is left out). */
export function parseCidrText(text: string): Cidr {
  const slash = text.indexOf('/');
  const addressText = slash < 0 ? text : text.slice(0, slash);
  const family = isIP(addressText);
  if (family !== 4 && family !== 6) throw new OsValueError(`not an IP address: ${JSON.stringify(text)}`);
  const max = family === 4 ? 32 : 128;
  const bitsText = slash < 0 ? String(max) : text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bitsText) || Number(bitsText) > max) {
    throw new OsValueError(`bad prefix length in ${JSON.stringify(text)}`);
  }
  return { family, address: addressBytes(addressText), bits: Number(bitsText) };
}

/** The bytes of an IP address in text form (checked with node:net first). */
export function addressBytes(text: string): Uint8Array {
  if (isIPv4(text)) return Uint8Array.from(text.split('.').map(Number));
  if (!isIPv6(text)) throw new OsValueError(`not an IP address: ${JSON.stringify(text)}`);
  let head = text;
  let tail = '';
  const gap = text.indexOf('::');
  if (gap >= 0) {
    head = text.slice(0, gap);
    tail = text.slice(gap + 2);
  }
  const toWords = (part: string): number[] => {
    if (part === '') return [];
    const words: number[] = [];
    for (const piece of part.split(':')) {
      if (piece.includes('.')) {
        const v4 = piece.split('.').map(Number);
        words.push((((v4[0] ?? 0) << 8) | (v4[1] ?? 0)), (((v4[2] ?? 0) << 8) | (v4[3] ?? 0)));
      } else {
        words.push(parseInt(piece, 16));
      }
    }
    return words;
  };
  const headWords = toWords(head);
  const tailWords = toWords(tail);
  const words = [...headWords, ...new Array<number>(8 - headWords.length - tailWords.length).fill(0), ...tailWords];
  const bytes = new Uint8Array(16);
  words.forEach((w, i) => {
    bytes[i * 2] = w >> 8;
    bytes[i * 2 + 1] = w & 255;
  });
  return bytes;
}

export function checkCidr(cidr: Cidr): void {
  const length = cidr.family === 4 ? 4 : cidr.family === 6 ? 16 : -1;
  if (length < 0 || cidr.address.length !== length) throw new OsValueError('a prefix with a bad address family or length');
  const max = length * 8;
  if (!Number.isInteger(cidr.bits) || cidr.bits < 0 || cidr.bits > max) {
    throw new OsValueError(`bad prefix length ${String(cidr.bits)}`);
  }
}

/** An IP address literal, as node:net reads it; zone ids ("%eth0") are refused. */
export function checkIpAddress(text: string, what: string): string {
  if (typeof text !== 'string' || isIP(text) === 0 || text.includes('%')) {
    throw new OsValueError(`${what} is not an IP address: ${JSON.stringify(text)}`);
  }
  return text;
}

/**
 * A DNS search domain: LDH labels (letters, digits, hyphen; underscore too, as it occurs in
 * real-world names), dot separated, 253 characters at most. Nothing a tool could read as an option
 * (a leading "-") or as a second value (space, comma, newline).
 */
export function checkSearchDomain(text: string): string {
  const label = '[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?';
  const pattern = new RegExp(`^${label}(?:\\.${label})*\\.?$`);
  if (typeof text !== 'string' || text.length > 253 || !pattern.test(text)) {
    throw new OsValueError(`not a DNS search domain: ${JSON.stringify(text)}`);
  }
  return text;
}

/** An MTU an interface can take (IPv6 needs 1280; 65535 is the largest IP packet). */
export function checkMtu(mtu: number): number {
  if (!Number.isInteger(mtu) || mtu < 576 || mtu > 65535) throw new OsValueError(`MTU ${String(mtu)} is out of range 576..65535`);
  return mtu;
}
