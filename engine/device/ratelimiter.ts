/**
 * Per-source rate limit on handshake messages, as wireguard-go's ratelimiter package and the
 * Linux module's ratelimiter.c do it: a token bucket per source address that refills at
 * HANDSHAKES_PER_SECOND and holds at most HANDSHAKE_BURST packets. The device asks it only
 * while under load and only after mac2 proved the source address (whitepaper §5.3), so the
 * address really is the sender's.
 *
 * IPv4 sources are keyed by the full address. IPv6 sources are keyed by their /64, as the Linux
 * module does: one host usually owns a whole /64 and could otherwise pick a fresh address per
 * packet. IPv4-mapped IPv6 addresses count as the IPv4 address they carry.
 *
 * No timers inside: every call takes `now` (monotonic milliseconds). Entries idle for longer than
 * a second are full buckets again, so they are dropped; that sweep runs at most once a second
 * from `allow` itself (or when the caller calls `collectGarbage`). The table is capped: while
 * MAX_RATE_LIMITED_SOURCES sources are tracked, a new source is refused until the next sweep
 * makes room, as the Linux module refuses when its table is full.
 */
import { HANDSHAKE_BURST, HANDSHAKES_PER_SECOND } from '../noise/constants.js';

/** Most sources tracked at once (about 10 MB of entries at worst). */
export const MAX_RATE_LIMITED_SOURCES = 100_000;
/** An entry untouched this long has refilled its bucket and can be forgotten. */
const IDLE_ENTRY_MS = 1_000;
/** How often `allow` sweeps idle entries. */
const GARBAGE_COLLECT_INTERVAL_MS = 1_000;

/** Tokens are measured in milliseconds of refill time: one packet costs 1000 / rate ms. */
const PACKET_COST_MS = 1_000 / HANDSHAKES_PER_SECOND;
const MAX_TOKENS_MS = PACKET_COST_MS * HANDSHAKE_BURST;

interface Bucket {
  tokens: number;
  lastTime: number;
}

export class RateLimiter {
  /**
   * Buckets by source: an IPv4 address as an unsigned 32-bit number, an IPv6 /64 as 16 hex
   * digits (a string, so it can never equal an IPv4 key).
   */
  private readonly buckets = new Map<number | string, Bucket>();
  private lastCollect = Number.NEGATIVE_INFINITY;

  constructor(private readonly maxSources: number = MAX_RATE_LIMITED_SOURCES) {}

  /**
   * Whether a handshake message from `address` (4 or 16 bytes) may be processed at `now`.
   * Takes a token when it says yes. Any other address length is refused.
   */
  allow(address: Uint8Array, now: number): boolean {
    if (now - this.lastCollect >= GARBAGE_COLLECT_INTERVAL_MS) this.collectGarbage(now);

    const key = sourceKey(address);
    if (key === null) return false;

    const bucket = this.buckets.get(key);
    if (bucket === undefined) {
      // Full: refuse rather than sweep here, or a flood of new sources would buy a walk of the
      // whole table per packet. The once-a-second sweep above makes room again.
      if (this.buckets.size >= this.maxSources) return false;
      // A new source starts with a full bucket and pays for this packet.
      this.buckets.set(key, { tokens: MAX_TOKENS_MS - PACKET_COST_MS, lastTime: now });
      return true;
    }

    // Refill for the time since the last packet; a clock that went backwards adds nothing.
    const elapsed = now - bucket.lastTime;
    if (elapsed > 0) {
      bucket.tokens = Math.min(MAX_TOKENS_MS, bucket.tokens + elapsed);
      bucket.lastTime = now;
    }
    // `>=` as in the Linux module, so a fresh source gets exactly HANDSHAKE_BURST packets
    // (wireguard-go's `>` lets one fewer through).
    if (bucket.tokens >= PACKET_COST_MS) {
      bucket.tokens -= PACKET_COST_MS;
      return true;
    }
    return false;
  }

  /** Forgets every source idle for more than a second (their buckets are full again). */
  collectGarbage(now: number): void {
    this.lastCollect = now;
    for (const [key, bucket] of this.buckets) {
      if (now - bucket.lastTime > IDLE_ENTRY_MS) this.buckets.delete(key);
    }
  }

  /** How many sources are tracked. */
  get size(): number {
    return this.buckets.size;
  }

  /** Forgets every source (the device is closing or reconfiguring). */
  clear(): void {
    this.buckets.clear();
  }
}

/** The bucket key of a 4- or 16-byte address, or null for any other length. */
function sourceKey(address: Uint8Array): number | string | null {
  if (address.length === 4) return ipv4Key(address, 0);
  if (address.length !== 16) return null;
  return isIpv4Mapped(address) ? ipv4Key(address, 12) : ipv6PrefixKey(address);
}

function ipv4Key(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>> 0;
}

/** ::ffff:a.b.c.d (RFC 4291 §2.5.5.2). */
function isIpv4Mapped(bytes: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

const HEX_DIGITS = '0123456789abcdef';

function ipv6PrefixKey(bytes: Uint8Array): string {
  let key = '';
  for (let i = 0; i < 8; i++) key += HEX_DIGITS[bytes[i]! >> 4]! + HEX_DIGITS[bytes[i]! & 15]!;
  return key;
}
