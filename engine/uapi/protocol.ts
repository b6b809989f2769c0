/**
 * The text of the cross-platform userspace API (wireguard.com/xplatform), without any I/O.
 *
 * set=1: after the "set=1" line come "key=value" lines up to an empty line. Device keys
 * (private_key, listen_port, fwmark, replace_peers) come first; each public_key line starts a
 * peer, and the keys after it (remove, update_only, preshared_key, endpoint,
 * persistent_keepalive_interval, replace_allowed_ips, allowed_ip, protocol_version) belong to
 * that peer. A device key after a peer, or a peer key before any public_key, is an error, as in
 * wireguard-go. The whole request is parsed before anything is applied, so a bad line changes
 * nothing (wireguard-go applies line by line; that is the one deliberate difference).
 *
 * get=1: the reply lists the device, then each peer, in wireguard-go's order (device/uapi.go):
 * private_key, listen_port, fwmark; then per peer public_key, preshared_key, protocol_version,
 * endpoint, last_handshake_time_sec, last_handshake_time_nsec, tx_bytes, rx_bytes,
 * persistent_keepalive_interval, allowed_ip...; then errno=0 and an empty line.
 *
 * Errors carry a positive errno (EINVAL for a bad value, EPROTO for a line that is not
 * key=value; the numbers are the platform's, see uapiErrno) and a message naming the key; key material never appears in a message.
 */
import { isAllZero, keyFromHex } from '../keys.js';
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from '../routing/cidr.js';
import { PrefixChanges } from '../routing/prefix-changes.js';
import {
  UAPI_EINVAL,
  uapiErrno,
  type UapiDeviceSnapshot,
  type UapiDeviceView,
  type UapiError,
  type UapiPeerSnapshot,
  type UapiPeerView,
  type UapiPeerChange,
  type UapiSetRequest,
} from './types.js';

/**
 * Appends value[start...] to `list` as an allowed_ip ("address/length", host bits cleared, a
 * removal with `remove`); false if it is not one. What parseCidr then maskCidr accept, without
 * their objects: a 1000 x 131 setconf has 131,000 of these lines.
 */
function addAllowedIp(value: string, start: number, remove: boolean, list: PrefixChanges): boolean {
  const slash = value.indexOf('/', start);
  if (slash < 0) return false;
  const addressText = value.slice(start, slash);
  const address = addressText.includes(':') ? parseIPv6(addressText) : parseIPv4(addressText);
  if (address === null) return false;
  // 1 to 3 decimal digits, at most 32 or 128 (as parseCidr)
  const digits = value.length - slash - 1;
  if (digits < 1 || digits > 3) return false;
  let bits = 0;
  for (let i = slash + 1; i < value.length; i++) {
    const digit = value.charCodeAt(i) - 0x30;
    if (digit < 0 || digit > 9) return false;
    bits = bits * 10 + digit;
  }
  if (bits > address.length * 8) return false;
  list.add(address.length === 4 ? 4 : 6, address, bits, remove);
  return true;
}

export type UapiSetParseResult = { ok: true; request: UapiSetRequest } | { ok: false; error: UapiError };

function invalid(message: string): { ok: false; error: UapiError } {
  return { ok: false, error: { errno: UAPI_EINVAL, message } };
}

/** An unsigned decimal integer up to `max` (Go's strconv.ParseUint: digits only), or null. */
function parseUnsigned(text: string, max: number): number | null {
  if (!/^[0-9]{1,20}$/.test(text)) return null;
  const n = Number(text);
  return n <= max ? n : null;
}

/**
 * Parses and normalises a UAPI endpoint: "192.0.2.1:51820" or "[fd00::1]:51820", IP literals
 * only. Returns the canonical text or null.
 */
export function parseUapiEndpoint(text: string): string | null {
  let host: Uint8Array | null;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || text.charCodeAt(close + 1) !== 0x3a /* ':' */) return null;
    host = parseIPv6(text.slice(1, close));
    portText = text.slice(close + 2);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) return null;
    host = parseIPv4(text.slice(0, colon));
    portText = text.slice(colon + 1);
  }
  const port = parseUnsigned(portText, 65535);
  if (!host || port === null) return null;
  return host.length === 4 ? `${formatIPv4(host)}:${port}` : `[${formatIPv6(host)}]:${port}`;
}

/**
 * A set=1 request read as a stream: `line` takes one key=value line at a time (the server feeds
 * them as they arrive, so a request of any size is never held as text), `finish` gives the
 * request or the first error. After an error the remaining lines are ignored; the caller still
 * reads up to the empty line so the connection stays in step.
 */
export class UapiSetParser {
  private readonly request: UapiSetRequest = { replacePeers: false, peers: [] };
  private peer: UapiPeerChange | null = null;
  private error: UapiError | null = null;

  /** Takes one line (without its newline); returns the error once the request is refused. */
  line(line: string): UapiError | null {
    if (this.error === null) {
      const failed = this.parseLine(line);
      if (failed !== null) this.error = failed.error;
    }
    return this.error;
  }

  finish(): UapiSetParseResult {
    return this.error === null ? { ok: true, request: this.request } : { ok: false, error: this.error };
  }

  private parseLine(line: string): { ok: false; error: UapiError } | null {
    const request = this.request;
    const peer = this.peer;
    const equals = line.indexOf('=');
    if (equals < 0) {
      // The message is logged, and a malformed "private_key..." line would put key material
      // into the log: say how long the line is, not what it holds.
      return { ok: false, error: { errno: uapiErrno('EPROTO'), message: `a line is not key=value (${line.length} characters)` } };
    }
    const key = line.slice(0, equals);
    const value = line.slice(equals + 1);

    if (key === 'public_key') {
      const decoded = keyFromHex(value);
      if (!decoded.ok) return invalid(`public_key: ${decoded.message}`);
      const next: UapiPeerChange = { publicKey: decoded.key, remove: false, updateOnly: false, replaceAllowedIps: false, allowedIps: new PrefixChanges() };
      this.peer = next;
      request.peers.push(next);
      return null;
    }

    if (!peer) {
      switch (key) {
        case 'private_key': {
          // An all-zero key is allowed: it removes the private key.
          const decoded = keyFromHex(value);
          if (!decoded.ok) return invalid(`private_key: ${decoded.message}`);
          request.privateKey = decoded.key;
          break;
        }
        case 'listen_port': {
          const port = parseUnsigned(value, 65535);
          if (port === null) return invalid(`listen_port: '${value.slice(0, 32)}' is not a port (0 to 65535)`);
          request.listenPort = port;
          break;
        }
        case 'fwmark': {
          const mark = parseUnsigned(value, 0xffffffff);
          if (mark === null) return invalid(`fwmark: '${value.slice(0, 32)}' is not a 32-bit unsigned number`);
          request.fwmark = mark;
          break;
        }
        case 'replace_peers':
          if (value !== 'true') return invalid(`replace_peers: the only value is true, got '${value.slice(0, 32)}'`);
          request.replacePeers = true;
          break;
        default:
          return invalid(`'${key.slice(0, 64)}' is not a device key (peer keys come after a public_key line)`);
      }
      return null;
    }

    switch (key) {
      case 'remove':
        if (value !== 'true') return invalid(`remove: the only value is true, got '${value.slice(0, 32)}'`);
        peer.remove = true;
        break;
      case 'update_only':
        if (value !== 'true') return invalid(`update_only: the only value is true, got '${value.slice(0, 32)}'`);
        peer.updateOnly = true;
        break;
      case 'preshared_key': {
        const decoded = keyFromHex(value);
        if (!decoded.ok) return invalid(`preshared_key: ${decoded.message}`);
        peer.presharedKey = decoded.key; // all zero removes it
        break;
      }
      case 'endpoint': {
        const endpoint = parseUapiEndpoint(value);
        if (!endpoint) return invalid(`endpoint: '${value.slice(0, 64)}' is not an IP:port or [IPv6]:port`);
        peer.endpoint = endpoint;
        break;
      }
      case 'persistent_keepalive_interval': {
        const seconds = parseUnsigned(value, 65535);
        if (seconds === null) return invalid(`persistent_keepalive_interval: '${value.slice(0, 32)}' is not 0 to 65535 seconds`);
        peer.persistentKeepaliveInterval = seconds;
        break;
      }
      case 'replace_allowed_ips':
        if (value !== 'true') return invalid(`replace_allowed_ips: the only value is true, got '${value.slice(0, 32)}'`);
        // Lines apply in order (wireguard-go): it also drops the allowed_ip lines above it.
        peer.replaceAllowedIps = true;
        peer.allowedIps.clear();
        break;
      case 'allowed_ip': {
        // "-PREFIX" removes that one prefix from the peer (wireguard-go and wg since 2025-05:
        // `wg set ... allowed-ips +A,-B`); a plain prefix adds it. A prefix length is required
        // (Go's netip.ParsePrefix); host bits are cleared.
        const remove = value.charCodeAt(0) === 0x2d; /* '-' */
        if (!addAllowedIp(value, remove ? 1 : 0, remove, peer.allowedIps)) {
          return invalid(`allowed_ip: '${value.slice(0, 64)}' is not an address/prefix-length`);
        }
        break;
      }
      case 'protocol_version':
        if (value !== '1') return invalid(`protocol_version: only version 1 exists, got '${value.slice(0, 32)}'`);
        break;
      default:
        return invalid(`'${key.slice(0, 64)}' is not a peer key`);
    }
    return null;
  }
}

/** Parses the lines of a set=1 request (without the "set=1" line and the final empty line). */
export function parseUapiSetLines(lines: readonly string[]): UapiSetParseResult {
  const parser = new UapiSetParser();
  for (const line of lines) if (parser.line(line) !== null) break;
  return parser.finish();
}

/** Parses a set=1 body given as text: lines up to the first empty line (or the end). */
export function parseUapiSet(body: string): UapiSetParseResult {
  const lines = body.split('\n');
  const end = lines.indexOf('');
  return parseUapiSetLines(end < 0 ? lines : lines.slice(0, end));
}

/** "00".."ff" as the two ASCII codes of each byte's lower-case hex, high digit first. */
const HEX_PAIRS = (() => {
  const digits = '0123456789abcdef';
  const pairs = new Uint16Array(256);
  for (let i = 0; i < 256; i++) pairs[i] = (digits.charCodeAt(i >>> 4) << 8) | digits.charCodeAt(i & 15);
  return pairs;
})();

const ALLOWED_IP = Buffer.from('allowed_ip=', 'latin1');

/**
 * The get=1 reply written as bytes into one growing buffer: 1000 peers x 131 prefixes is a
 * 3.8 MB reply, which as a string built from small pieces left some 260,000 short-lived
 * strings and cons cells to the garbage collector. Keys go out through a byte-to-hex table,
 * prefixes digit by digit, in exactly the text formatCidr gives.
 */
class UapiReplyWriter {
  private buffer = Buffer.allocUnsafe(16 * 1024);
  private length = 0;
  /** formatIPv6's 16-bit groups, reused. */
  private readonly groups = new Uint16Array(8);

  private reserve(bytes: number): void {
    if (this.length + bytes <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.length + bytes));
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
  }

  text(text: string): void {
    this.reserve(text.length * 3);
    this.length += this.buffer.write(text, this.length, 'utf8');
  }

  hex(key: Uint8Array): void {
    this.reserve(key.length * 2);
    const buffer = this.buffer;
    let at = this.length;
    for (let i = 0; i < key.length; i++) {
      const pair = HEX_PAIRS[key[i]!]!;
      buffer[at++] = pair >>> 8;
      buffer[at++] = pair & 0xff;
    }
    this.length = at;
  }

  private byte(code: number): void {
    this.buffer[this.length++] = code;
  }

  /** A non-negative integer below 2^32, in decimal. */
  private decimal(value: number): void {
    if (value >= 10) this.decimal(Math.floor(value / 10));
    this.byte(0x30 + (value % 10));
  }

  private hexGroup(value: number): void {
    let shift = value >= 0x1000 ? 12 : value >= 0x100 ? 8 : value >= 0x10 ? 4 : 0;
    for (; shift >= 0; shift -= 4) {
      const digit = (value >>> shift) & 15;
      this.byte(digit < 10 ? 0x30 + digit : 0x57 + digit);
    }
  }

  private ipv4(address: Uint8Array, offset: number): void {
    for (let i = 0; i < 4; i++) {
      if (i > 0) this.byte(0x2e);
      this.decimal(address[offset + i]!);
    }
  }

  /** As formatIPv6 (glibc inet_ntop): the longest run of 2+ zero groups as "::", the first on a tie. */
  private ipv6(address: Uint8Array): void {
    const groups = this.groups;
    for (let i = 0; i < 8; i++) groups[i] = (address[2 * i]! << 8) | address[2 * i + 1]!;
    let bestStart = -1;
    let bestLen = 0;
    for (let i = 0; i < 8; ) {
      if (groups[i] !== 0) {
        i++;
        continue;
      }
      let j = i;
      while (j < 8 && groups[j] === 0) j++;
      if (j - i > bestLen) {
        bestStart = i;
        bestLen = j - i;
      }
      i = j;
    }
    if (bestLen < 2) bestStart = -1;
    for (let i = 0; i < 8; i++) {
      if (i === bestStart) {
        this.byte(0x3a);
        i += bestLen - 1;
        if (i === 7) this.byte(0x3a);
        continue;
      }
      if (i > 0) this.byte(0x3a);
      if (i === 6 && bestStart === 0 && (bestLen === 6 || (bestLen === 5 && groups[5] === 0xffff))) {
        this.ipv4(address, 12);
        return;
      }
      this.hexGroup(groups[i]!);
    }
  }

  /** "allowed_ip=PREFIX\n", PREFIX as formatCidr writes it. */
  allowedIp(family: 4 | 6, address: Uint8Array, bits: number): void {
    // the longest line: "allowed_ip=" + 39 characters of IPv6 (or 45 with a dotted quad) + "/128\n"
    this.reserve(ALLOWED_IP.length + 45 + 5);
    ALLOWED_IP.copy(this.buffer, this.length);
    this.length += ALLOWED_IP.length;
    if (family === 4) this.ipv4(address, 0);
    else this.ipv6(address);
    this.byte(0x2f);
    this.decimal(bits);
    this.byte(0x0a);
  }

  finish(): Buffer {
    return this.buffer.subarray(0, this.length);
  }
}

/** The whole get=1 reply, ending in "errno=0\n\n", as bytes. */
export function formatUapiGetReply(device: UapiDeviceSnapshot | UapiDeviceView): Buffer {
  const out = new UapiReplyWriter();
  if (device.privateKey && !isAllZero(device.privateKey)) {
    out.text('private_key=');
    out.hex(device.privateKey);
    out.text('\n');
  }
  // wireguard-go omits a zero listen port (not yet bound) and a zero fwmark.
  if (device.listenPort !== 0) out.text(`listen_port=${device.listenPort}\n`);
  if (device.fwmark !== 0) out.text(`fwmark=${device.fwmark}\n`);
  const writeAllowedIp = (family: 4 | 6, address: Uint8Array, bits: number) => out.allowedIp(family, address, bits);
  for (const peer of device.peers as ReadonlyArray<UapiPeerSnapshot | UapiPeerView>) {
    out.text('public_key=');
    out.hex(peer.publicKey);
    out.text('\npreshared_key=');
    if (peer.presharedKey) out.hex(peer.presharedKey);
    else out.text(ZERO_KEY_HEX);
    out.text('\nprotocol_version=1\n');
    if (peer.endpoint !== null) out.text(`endpoint=${peer.endpoint}\n`);
    out.text(
      `last_handshake_time_sec=${Math.trunc(peer.lastHandshakeTimeSec)}\nlast_handshake_time_nsec=${Math.trunc(peer.lastHandshakeTimeNsec)}\n` +
        `tx_bytes=${Math.trunc(peer.txBytes)}\nrx_bytes=${Math.trunc(peer.rxBytes)}\npersistent_keepalive_interval=${peer.persistentKeepaliveInterval}\n`,
    );
    if ('allowedIps' in peer) for (const cidr of peer.allowedIps) out.allowedIp(cidr.family, cidr.address, cidr.bits);
    else peer.forEachAllowedIp(writeAllowedIp);
  }
  out.text('errno=0\n\n');
  return out.finish();
}

const ZERO_KEY_HEX = '0'.repeat(64);

/** The whole get=1 reply, ending in "errno=0\n\n". */
export function formatUapiGet(device: UapiDeviceSnapshot | UapiDeviceView): string {
  return formatUapiGetReply(device).toString('utf8');
}

/** The reply to a failed request. The number is negated on the wire as wireguard-go does
 *  (IpcErrorInvalid = -EINVAL): `wg` reads it back as -errno, so it reports "Invalid argument". */
export function formatUapiErrno(errno: number): string {
  return errno === 0 ? 'errno=0\n\n' : `errno=${-Math.abs(errno)}\n\n`;
}
