/**
 * Text forms of addresses and prefixes as the OS tools (ip, ifconfig, route, netsh) take them,
 * and the strict checks every value passes before it becomes a command argument.
 *
 * Values reach these functions from imported .conf files, i.e. from untrusted input. Commands are
 * run without a shell (execFile), so a value can never split into two arguments or start a second
 * command; the checks here add a second line: a value that is not exactly the kind of thing it
 * claims to be (an interface name, an IP address, a DNS domain) is refused before any command runs.
 */
import { isIP } from 'node:net';
import { formatCidr as formatCidrText, maskCidr, parseAddress, parseCidr, type Cidr } from '../routing/cidr.js';

/** A value refused before it could reach a command line. */
export class OsValueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OsValueError';
  }
}

/** "10.0.0.2/24", "fd00::2/64": the prefix as `wg` and inet_ntop print it, after checkCidr. */
export function formatCidr(cidr: Cidr): string {
  checkCidr(cidr);
  return formatCidrText(cidr);
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
  return maskCidr(cidr);
}

/** Parses "10.0.0.2/24" or "fd00::1" (a host prefix when the length is left out); no zone ids. */
export function parseCidrText(text: string): Cidr {
  const parsed = parseCidr(text);
  if (parsed.ok) return parsed.cidr;
  const slash = text.indexOf('/');
  if (parseAddress(slash < 0 ? text : text.slice(0, slash)) === null) {
    throw new OsValueError(`not an IP address: ${JSON.stringify(text)}`);
  }
  throw new OsValueError(`bad prefix length in ${JSON.stringify(text)}`);
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
