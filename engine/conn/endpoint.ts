/**
 * UDP endpoints: parsing "192.0.2.1:51820" / "[2001:db8::1]:51820", the text form `wg`
 * prints (inet_ntop's, so IPv6 in RFC 5952 short form), and a cache that turns the sender
 * records the addon writes into shared Endpoint objects without allocating per datagram. An
 * endpoint learnt from a datagram also carries its sticky source: the local address the
 * datagram was sent to, which replies then leave from (engine/native/src/udp_posix.c).
 */
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from '../routing/cidr.js';
import type { Endpoint } from './bind.js';
import { SOURCE_RECORD_BYTES } from '../native/addon.js';

/**
 * An Endpoint made by this module. Immutable but for `sourceRefused`, which the bind sets once
 * the OS has refused its sticky source (the address is gone), so sends stop asking for it.
 */
export class UdpEndpoint implements Endpoint {
  readonly key: string;
  readonly sourceAddress: string | null;
  sourceRefused = false;
  private sourceless: UdpEndpoint | null = null;
  constructor(
    readonly family: 4 | 6,
    readonly address: string,
    readonly port: number,
    readonly addressBytes: Uint8Array,
    /** The sticky source's bytes (4 or 16, the family's), or null. */
    readonly sourceBytes: Uint8Array | null = null,
    /** The interface the peer's datagram came in on (used for an IPv6 link-local source). */
    readonly sourceIfindex = 0,
  ) {
    this.key = family === 4 ? `${address}:${port}` : `[${address}]:${port}`;
    this.sourceAddress = sourceBytes === null ? null : sourceBytes.length === 4 ? formatIPv4(sourceBytes) : formatIPv6(sourceBytes);
  }

  withoutSource(): UdpEndpoint {
    if (this.sourceBytes === null) return this;
    this.sourceless ??= new UdpEndpoint(this.family, this.address, this.port, this.addressBytes);
    return this.sourceless;
  }

  toString(): string {
    return this.key;
  }
}

/** Makes an Endpoint from a 4- or 16-byte address and a port. */
export function endpointFromBytes(addressBytes: Uint8Array, port: number, sourceBytes: Uint8Array | null = null, sourceIfindex = 0): UdpEndpoint {
  const bytes = Uint8Array.from(addressBytes);
  const source = sourceBytes === null ? null : Uint8Array.from(sourceBytes);
  if (bytes.length === 4) return new UdpEndpoint(4, formatIPv4(bytes), port, bytes, source, sourceIfindex);
  if (bytes.length === 16) return new UdpEndpoint(6, formatIPv6(bytes), port, bytes, source, sourceIfindex);
  throw new Error(`an IP address is 4 or 16 bytes, not ${bytes.length}`);
}

/**
 * Parses "host:port" with a literal IPv4 address or "[v6]:port" with a literal IPv6 address.
 * Throws an Error saying what is wrong otherwise (hostnames are resolved elsewhere).
 */
export function parseEndpoint(text: string): UdpEndpoint {
  const v6 = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text);
  const v4 = v6 ? null : /^([^:[\]]+):(\d{1,5})$/.exec(text);
  const match = v6 ?? v4;
  if (!match) throw new Error(`endpoint "${text}" is not host:port or [IPv6]:port`);
  const port = Number(match[2]);
  if (port < 1 || port > 65535) throw new Error(`endpoint "${text}" has port ${port}; ports are 1 to 65535`);
  const host = match[1]!;
  if (v6) {
    if (host.includes('%')) throw new Error(`endpoint "${text}": IPv6 zone indices are not supported`);
    const bytes = parseIPv6(host);
    if (!bytes) throw new Error(`endpoint "${text}" does not hold a valid IPv6 address`);
    return new UdpEndpoint(6, formatIPv6(bytes), port, bytes);
  }
  const bytes = parseIPv4(host);
  if (!bytes) throw new Error(`endpoint "${text}" does not hold a literal IPv4 address`);
  return new UdpEndpoint(4, formatIPv4(bytes), port, bytes);
}

/** Most distinct senders remembered before the cache starts over (spoofed sources cannot grow it without bound). */
const MAX_CACHED_ENDPOINTS = 4096;
/** Bytes of a sender record. */
const RECORD = SOURCE_RECORD_BYTES;

/**
 * Endpoint objects for the 40-byte sender records the addon writes per datagram ([family]
 * [has local][port BE][16 address bytes][16 local address bytes][ifindex BE]). The same sender
 * writing to the same local address gets the same object: a run of datagrams from one sender
 * costs one comparison with the previous record each, and another sender a hash lookup; only a
 * new (sender, local address) pair creates an Endpoint. Records are compared whole, so an
 * endpoint's sticky source is always the one its own datagrams carried.
 */
export class EndpointCache {
  private readonly byHash = new Map<number, Array<{ record: Uint8Array; endpoint: UdpEndpoint }>>();
  private size = 0;
  private lastRecord = new Uint8Array(RECORD);
  private lastEndpoint: UdpEndpoint | null = null;

  fromRecord(records: Uint8Array, at: number): UdpEndpoint {
    const last = this.lastEndpoint;
    if (last !== null && sameBytes(this.lastRecord, records, at, RECORD)) return last;
    const hasSource = records[at + 1] === 1;
    const length = hasSource ? RECORD : 20; // without a source the rest of the record is zero
    let hash = 0x811c9dc5;
    for (let i = at; i < at + length; i++) hash = Math.imul(hash ^ records[i]!, 0x01000193);
    const bucket = this.byHash.get(hash);
    let endpoint: UdpEndpoint | undefined;
    if (bucket) {
      for (const entry of bucket) {
        if (sameBytes(entry.record, records, at, RECORD)) {
          endpoint = entry.endpoint;
          break;
        }
      }
    }
    if (endpoint === undefined) endpoint = this.remember(records, at, hash, hasSource);
    this.lastRecord.set(records.subarray(at, at + RECORD));
    this.lastEndpoint = endpoint;
    return endpoint;
  }

  private remember(records: Uint8Array, at: number, hash: number, hasSource: boolean): UdpEndpoint {
    if (this.size >= MAX_CACHED_ENDPOINTS) {
      this.byHash.clear();
      this.size = 0;
    }
    this.size++;
    const port = (records[at + 2]! << 8) | records[at + 3]!;
    const bytes = records[at] === 4 ? 4 : 16;
    const source = hasSource ? records.subarray(at + 20, at + 20 + bytes) : null;
    const ifindex = hasSource ? ((records[at + 36]! << 24) | (records[at + 37]! << 16) | (records[at + 38]! << 8) | records[at + 39]!) >>> 0 : 0;
    const endpoint = endpointFromBytes(records.subarray(at + 4, at + 4 + bytes), port, source, ifindex);
    const entry = { record: records.slice(at, at + RECORD), endpoint };
    const bucket = this.byHash.get(hash);
    if (bucket) bucket.push(entry);
    else this.byHash.set(hash, [entry]);
    return endpoint;
  }
}

function sameBytes(record: Uint8Array, records: Uint8Array, at: number, length: number): boolean {
  for (let i = 0; i < length; i++) if (record[i] !== records[at + i]) return false;
  return true;
}
