/**
 * UDP endpoints: parsing "192.0.2.1:51820" / "[2001:db8::1]:51820", the text form `wg`
 * prints (inet_ntop's, so IPv6 in RFC 5952 short form), and a cache that turns the sender
 * records the addon writes into shared Endpoint objects without allocating per datagram.
 */
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from '../routing/cidr.js';
import type { Endpoint } from './bind.js';

/** An Endpoint made by this module; immutable. */
export class UdpEndpoint implements Endpoint {
  readonly key: string;
  constructor(
    readonly family: 4 | 6,
    readonly address: string,
    readonly port: number,
    readonly addressBytes: Uint8Array,
  ) {
    this.key = family === 4 ? `${address}:${port}` : `[${address}]:${port}`;
  }

  toString(): string {
    return this.key;
  }
}

/** Makes an Endpoint from a 4- or 16-byte address and a port. */
export function endpointFromBytes(addressBytes: Uint8Array, port: number): UdpEndpoint {
  const bytes = Uint8Array.from(addressBytes);
  if (bytes.length === 4) return new UdpEndpoint(4, formatIPv4(bytes), port, bytes);
  if (bytes.length === 16) return new UdpEndpoint(6, formatIPv6(bytes), port, bytes);
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

/**
 * Endpoint objects for the 20-byte sender records the addon writes per datagram
 * ([family][0][port BE][16 address bytes]). A hit costs a Map lookup on a number and no
 * allocation; only a new sender creates an Endpoint.
 */
export class EndpointCache {
  private readonly v4 = new Map<number, UdpEndpoint>();
  /** IPv6 senders by a 32-bit hash of the record; collisions share a small list. */
  private readonly v6 = new Map<number, UdpEndpoint[]>();
  private size = 0;

  fromRecord(records: Uint8Array, at: number): UdpEndpoint {
    const port = (records[at + 2]! << 8) | records[at + 3]!;
    if (records[at] === 4) {
      const address = ((records[at + 4]! << 24) | (records[at + 5]! << 16) | (records[at + 6]! << 8) | records[at + 7]!) >>> 0;
      const key = address * 65536 + port;
      const hit = this.v4.get(key);
      if (hit) return hit;
      return this.remember(() => {
        const endpoint = endpointFromBytes(records.subarray(at + 4, at + 8), port);
        this.v4.set(key, endpoint);
        return endpoint;
      });
    }
    let hash = port | 0;
    for (let i = at + 4; i < at + 20; i++) hash = Math.imul(hash ^ records[i]!, 0x01000193);
    const bucket = this.v6.get(hash);
    if (bucket) {
      for (const endpoint of bucket) {
        if (endpoint.port === port && sameBytes(endpoint.addressBytes, records, at + 4)) return endpoint;
      }
    }
    return this.remember(() => {
      const endpoint = endpointFromBytes(records.subarray(at + 4, at + 20), port);
      if (bucket) bucket.push(endpoint);
      else this.v6.set(hash, [endpoint]);
      return endpoint;
    });
  }

  private remember(make: () => UdpEndpoint): UdpEndpoint {
    if (this.size >= MAX_CACHED_ENDPOINTS) {
      this.v4.clear();
      this.v6.clear();
      this.size = 0;
    }
    this.size++;
    return make();
  }
}

function sameBytes(address: Uint8Array, records: Uint8Array, at: number): boolean {
  for (let i = 0; i < 16; i++) if (address[i] !== records[at + i]) return false;
  return true;
}
