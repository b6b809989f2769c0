/**
 * An IP prefix as WireGuard's allowed IPs and wg-quick's Address and AllowedIPs hold them.
 * `address` has its host bits cleared for allowed IPs (as `wg` does); conf Addresses keep them.
 */
export interface Cidr {
  readonly family: 4 | 6;
  /** 4 or 16 bytes, network byte order. */
  readonly address: Uint8Array;
  /** Prefix length: 0..32 for IPv4, 0..128 for IPv6. */
  readonly bits: number;
}

// ---------------------------------------------------------------------------------------------
// Address and prefix text, written by hand rather than with node:net: these run on every config
// line and UAPI allowed_ip, need byte results (not strings), and must print IPv6 exactly as `wg`
// does (glibc inet_ntop), which node:net has no function for.

/** Parses a dotted-quad IPv4 address ("192.0.2.1"); null if it is not one. Leading zeros are
 *  rejected, as inet_pton and Go's netip do (they would otherwise be read as octal by some tools). */
export function parseIPv4(text: string): Uint8Array | null {
  const out = new Uint8Array(4);
  return parseIPv4Into(text, 0, text.length, out, 0) ? out : null;
}

function parseIPv4Into(text: string, start: number, end: number, out: Uint8Array, outOffset: number): boolean {
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = start; i <= end; i++) {
    const code = i < end ? text.charCodeAt(i) : 0x2e; // a virtual '.' closes the last part
    if (code >= 0x30 && code <= 0x39) {
      if (digits > 0 && value === 0) return false; // leading zero
      value = value * 10 + (code - 0x30);
      if (value > 255 || ++digits > 3) return false;
    } else if (code === 0x2e) {
      if (digits === 0 || part > 3) return false;
      out[outOffset + part++] = value;
      value = 0;
      digits = 0;
    } else {
      return false;
    }
  }
  return part === 4;
}

/** Parses an IPv6 address ("fd00::1", "::ffff:192.0.2.1"); null if it is not one. No zone ids. */
export function parseIPv6(text: string): Uint8Array | null {
  const out = new Uint8Array(16);
  const len = text.length;
  if (len < 2 || len > 45) return null;
  let word = 0; // next 16-bit group to fill
  let gapAt = -1; // group index where "::" stands
  let i = 0;
  if (text.charCodeAt(0) === 0x3a) {
    if (text.charCodeAt(1) !== 0x3a) return null;
    gapAt = 0;
    i = 2;
    if (i === len) return out; // "::"
  }
  while (i < len) {
    if (word === 8) return null;
    // one group: 1-4 hex digits, or a trailing dotted quad
    let value = 0;
    let digits = 0;
    let j = i;
    for (; j < len; j++) {
      const code = text.charCodeAt(j);
      let v: number;
      if (code >= 0x30 && code <= 0x39) v = code - 0x30;
      else if (code >= 0x61 && code <= 0x66) v = code - 0x61 + 10;
      else if (code >= 0x41 && code <= 0x46) v = code - 0x41 + 10;
      else break;
      value = (value << 4) | v;
      if (++digits > 4) return null;
    }
    if (j < len && text.charCodeAt(j) === 0x2e) {
      // embedded IPv4 in the last 32 bits
      if (word > 6 || !parseIPv4Into(text, i, len, out, word * 2)) return null;
      word += 2;
      break;
    }
    if (digits === 0) return null;
    out[word * 2] = value >>> 8;
    out[word * 2 + 1] = value & 0xff;
    word++;
    i = j;
    if (i === len) break;
    if (text.charCodeAt(i) !== 0x3a) return null;
    i++;
    if (i < len && text.charCodeAt(i) === 0x3a) {
      if (gapAt >= 0) return null; // a second "::"
      gapAt = word;
      i++;
      if (i === len) break;
    } else if (i === len) {
      return null; // trailing single ':'
    }
  }
  if (gapAt < 0) return word === 8 ? out : null;
  if (word === 8) return null; // "::" must stand for at least one group
  // move the groups after the gap to the end
  const tailBytes = (word - gapAt) * 2;
  out.copyWithin(16 - tailBytes, gapAt * 2, word * 2);
  out.fill(0, gapAt * 2, 16 - tailBytes);
  return out;
}

/** Parses an IPv4 or IPv6 address; null if it is neither. */
export function parseAddress(text: string): Uint8Array | null {
  return text.includes(':') ? parseIPv6(text) : parseIPv4(text);
}

/** Formats 4 bytes as a dotted quad. */
export function formatIPv4(bytes: Uint8Array, offset = 0): string {
  return `${bytes[offset]!}.${bytes[offset + 1]!}.${bytes[offset + 2]!}.${bytes[offset + 3]!}`;
}

/**
 * Formats 16 bytes as `wg` prints an IPv6 address (glibc inet_ntop, RFC 5952 style): lower-case
 * hex without leading zeros, the longest run of two or more zero groups (the first on a tie)
 * written "::", and the last 32 bits as a dotted quad for IPv4-mapped (::ffff:a.b.c.d) and
 * IPv4-compatible (::a.b.c.d) addresses.
 */
export function formatIPv6(bytes: Uint8Array, offset = 0): string {
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push((bytes[offset + 2 * i]! << 8) | bytes[offset + 2 * i + 1]!);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) bestStart = -1;
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      out += ':';
      i += bestLen - 1;
      if (i === 7) out += ':';
      continue;
    }
    if (i > 0) out += ':';
    if (i === 6 && bestStart === 0 && (bestLen === 6 || (bestLen === 5 && words[5] === 0xffff))) {
      out += formatIPv4(bytes, offset + 12);
      break;
    }
    out += words[i]!.toString(16);
  }
  return out;
}

/** Formats a 4- or 16-byte address. */
export function formatAddress(bytes: Uint8Array): string {
  return bytes.length === 4 ? formatIPv4(bytes) : formatIPv6(bytes);
}

export type CidrParseResult = { ok: true; cidr: Cidr } | { ok: false; message: string };

/**
 * Parses "10.0.0.0/24", "fd00::/64", or a bare address (meaning /32 or /128). Host bits are kept
 * (use maskCidr for a route); the prefix length is 0-32 or 0-128 in decimal digits.
 */
export function parseCidr(text: string): CidrParseResult {
  const slash = text.indexOf('/');
  const addressText = slash < 0 ? text : text.slice(0, slash);
  const address = parseAddress(addressText);
  if (!address) return { ok: false, message: `'${text}' is not a valid CIDR` };
  const family: 4 | 6 = address.length === 4 ? 4 : 6;
  const maxBits = family === 4 ? 32 : 128;
  let bits = maxBits;
  if (slash >= 0) {
    const bitsText = text.slice(slash + 1);
    if (!/^[0-9]{1,3}$/.test(bitsText) || Number(bitsText) > maxBits) {
      return { ok: false, message: `'${text}' is not a valid CIDR` };
    }
    bits = Number(bitsText);
  }
  return { ok: true, cidr: { family, address, bits } };
}

/** The same prefix with its host bits cleared ("10.0.0.1/24" -> "10.0.0.0/24"). */
export function maskCidr(cidr: Cidr): Cidr {
  const address = new Uint8Array(cidr.address);
  for (let i = 0; i < address.length; i++) {
    const keep = cidr.bits - i * 8;
    if (keep <= 0) address[i] = 0;
    else if (keep < 8) address[i]! &= (0xff << (8 - keep)) & 0xff;
  }
  return { family: cidr.family, address, bits: cidr.bits };
}

/** Formats a prefix as `wg` prints it: "10.0.0.0/24", "fd00::1/128". */
export function formatCidr(cidr: Cidr): string {
  return `${formatAddress(cidr.address)}/${cidr.bits}`;
}

/** Whether two prefixes are the same family, address bytes and length. */
export function cidrEquals(a: Cidr, b: Cidr): boolean {
  if (a.family !== b.family || a.bits !== b.bits || a.address.length !== b.address.length) return false;
  for (let i = 0; i < a.address.length; i++) if (a.address[i] !== b.address[i]) return false;
  return true;
}

/** A total order: IPv4 before IPv6, then by address bytes, then shorter prefixes first. */
export function compareCidr(a: Cidr, b: Cidr): number {
  if (a.family !== b.family) return a.family - b.family;
  for (let i = 0; i < a.address.length; i++) {
    const d = a.address[i]! - b.address[i]!;
    if (d !== 0) return d;
  }
  return a.bits - b.bits;
}
