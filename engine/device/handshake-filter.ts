/**
 * The cheap path of the responder: what a handshake message costs before any Diffie-Hellman.
 *
 * A handshake initiation with a valid mac1 is something anyone who knows our public key can send
 * at line rate, and each one that reaches the handshake itself costs a DH. So every received
 * batch goes through a filter first, once for the whole batch, which for each handshake message
 * decides (whitepaper §5.3, and in the order wireguard-go and the kernel check):
 *
 *   1. size: 148 bytes for an initiation, 92 for a response, 64 for a cookie reply;
 *   2. mac1 = MAC(HASH("mac1----" || our public key), message up to mac1);
 *   3. under load? More than UNDER_LOAD_THRESHOLD handshake messages arrived within the current
 *      UNDER_LOAD_AFTER_TIME (a batch counts as arrived whole, so a burst in one batch is under
 *      load from its first message), or the slow path's queue holds that many; the device then stays
 *      under load for UNDER_LOAD_AFTER_TIME (wireguard-go's rule, extended to arrivals because this
 *      process drains its queue between I/O callbacks, so the queue alone never looks long);
 *   4. under load, mac2 = MAC(cookie, message up to mac2) must prove the source address; when it
 *      does not, the filter writes a cookie reply (the cookie sealed with XChaCha20-Poly1305
 *      under HASH("cookie--" || our public key), the message's mac1 as associated data) and the
 *      message costs nothing more;
 *   5. a message whose mac2 was proven still meets the per-source rate limiter (ratelimiter.ts),
 *      which the device asks: it needs the proven address, and few messages get that far.
 * Cookie replies sent to us carry no macs; they pass on their size alone.
 *
 * Two implementations keep this contract: NativeHandshakeFilter, the addon's C loop
 * (engine/native/src/handshake_filter.c: no allocation, no call per message), and
 * JsHandshakeFilter, the same decisions in JavaScript through DeviceCookieChecker, for builds
 * without the addon (Electron without the native module) and for tests that compare the two.
 */
import type { CryptoBackend } from '../crypto/backend.js';
import type { Endpoint } from '../conn/bind.js';
import { ioAddon, SOURCE_RECORD_BYTES, type HandshakeFilterHandle, type IoAddon } from '../native/addon.js';
import { COOKIE_REFRESH_TIME, MESSAGE_COOKIE_REPLY, MESSAGE_COOKIE_REPLY_SIZE, MESSAGE_INITIATION, MESSAGE_INITIATION_SIZE, MESSAGE_RESPONSE, MESSAGE_RESPONSE_SIZE, UNDER_LOAD_AFTER_TIME, UNDER_LOAD_THRESHOLD } from '../noise/constants.js';
import { DeviceCookieChecker } from '../noise/cookie.js';
import type { NoiseIdentity } from '../noise/handshake.js';

/** To the slow path: mac1 valid and not under load, or a cookie reply (no macs). */
export const VERDICT_PASS = 1;
/** Under load with a valid mac2: to the rate limiter, then the slow path. */
export const VERDICT_PROVEN = 2;
export const VERDICT_BAD_SIZE = 3;
export const VERDICT_BAD_MAC1 = 4;
/** Under load without a valid mac2: a cookie reply for its sender waits in `replies`. */
export const VERDICT_COOKIE_REPLY = 5;
/** The device has no private key: nothing can be checked or answered. */
export const VERDICT_NO_KEY = 6;

/** Bytes of each cookie-reply slot in `replies`. */
export const COOKIE_REPLY_SLOT = MESSAGE_COOKIE_REPLY_SIZE;

export interface HandshakeFilter {
  /** Which implementation this is, for logs and benchmarks. */
  readonly kind: 'native' | 'js';
  /** Our identity changed; null while the device has no private key. */
  setIdentity(local: NoiseIdentity | null): void;
  /**
   * Decides the datagrams indices[0..count) of buffer/offsets/lengths; record j of `sources`
   * (SOURCE_RECORD_BYTES each: [family][0][port BE][address][zeros]) is datagram indices[j]'s sender.
   * Writes verdicts[j], and for VERDICT_COOKIE_REPLY the reply at replies[COOKIE_REPLY_SLOT * j].
   * `queued` is the slow path's queue length before the batch. Returns how many replies it wrote.
   */
  run(
    buffer: Uint8Array, offsets: Int32Array, lengths: Int32Array, indices: Int32Array, count: number,
    sources: Uint8Array, verdicts: Uint8Array, replies: Uint8Array, now: number, queued: number,
  ): number;
}

/** Writes `endpoint` as the sender record the native bind writes per datagram. */
export function writeSourceRecord(records: Uint8Array, at: number, endpoint: Endpoint): void {
  const address = endpoint.addressBytes;
  records[at] = endpoint.family;
  records[at + 1] = 0;
  records[at + 2] = endpoint.port >>> 8;
  records[at + 3] = endpoint.port & 0xff;
  records.set(address, at + 4);
  records.fill(0, at + 4 + address.length, at + SOURCE_RECORD_BYTES); // no local address: zeros
}

/** The addon's filter: one native call per batch. */
export class NativeHandshakeFilter implements HandshakeFilter {
  readonly kind = 'native';
  private readonly handle: HandshakeFilterHandle;
  private static readonly NO_KEY = new Uint8Array(0);

  constructor(private readonly addon: IoAddon = ioAddon()) {
    this.handle = addon.handshakeFilterCreate(UNDER_LOAD_THRESHOLD, UNDER_LOAD_AFTER_TIME, COOKIE_REFRESH_TIME);
  }

  setIdentity(local: NoiseIdentity | null): void {
    if (local === null) this.addon.handshakeFilterSetKeys(this.handle, NativeHandshakeFilter.NO_KEY, NativeHandshakeFilter.NO_KEY);
    else this.addon.handshakeFilterSetKeys(this.handle, local.mac1Key, local.cookieKey);
  }

  run(
    buffer: Uint8Array, offsets: Int32Array, lengths: Int32Array, indices: Int32Array, count: number,
    sources: Uint8Array, verdicts: Uint8Array, replies: Uint8Array, now: number, queued: number,
  ): number {
    return this.addon.handshakeFilterRun(this.handle, buffer, offsets, lengths, indices, count, sources, verdicts, replies, now, queued);
  }
}

/** The same decisions in JavaScript, message by message (the fallback without the addon). */
export class JsHandshakeFilter implements HandshakeFilter {
  readonly kind = 'js';
  private checker: DeviceCookieChecker | null = null;
  private windowStart = -Infinity;
  private arrivedInWindow = 0;
  private underLoadUntil = -Infinity;

  constructor(private readonly crypto: CryptoBackend) {}

  setIdentity(local: NoiseIdentity | null): void {
    if (local === null) this.checker = null;
    else if (this.checker === null) this.checker = new DeviceCookieChecker(this.crypto, local);
    else this.checker.setLocal(local);
  }

  run(
    buffer: Uint8Array, offsets: Int32Array, lengths: Int32Array, indices: Int32Array, count: number,
    sources: Uint8Array, verdicts: Uint8Array, replies: Uint8Array, now: number, queued: number,
  ): number {
    let written = 0;
    this.arrive(now, count, queued);
    for (let j = 0; j < count; j++) {
      const i = indices[j]!;
      const message = buffer.subarray(offsets[i], offsets[i]! + lengths[i]!);
      const verdict = this.decide(message, sources, j * SOURCE_RECORD_BYTES, replies, j * COOKIE_REPLY_SLOT, now, queued);
      if (verdict === VERDICT_PASS || verdict === VERDICT_PROVEN) queued++;
      if (verdict === VERDICT_COOKIE_REPLY) written++;
      verdicts[j] = verdict;
    }
    return written;
  }

  private decide(message: Uint8Array, sources: Uint8Array, at: number, replies: Uint8Array, replyAt: number, now: number, queued: number): number {
    const type = message.length >= 4 && message[1] === 0 && message[2] === 0 && message[3] === 0 ? message[0] : 0;
    const expected =
      type === MESSAGE_INITIATION ? MESSAGE_INITIATION_SIZE
      : type === MESSAGE_RESPONSE ? MESSAGE_RESPONSE_SIZE
      : type === MESSAGE_COOKIE_REPLY ? MESSAGE_COOKIE_REPLY_SIZE
      : -1;
    if (message.length !== expected) return VERDICT_BAD_SIZE;
    if (type === MESSAGE_COOKIE_REPLY) return VERDICT_PASS;
    if (queued >= UNDER_LOAD_THRESHOLD) this.underLoadUntil = now + UNDER_LOAD_AFTER_TIME;
    const loaded = now < this.underLoadUntil;
    const checker = this.checker;
    if (checker === null) return VERDICT_NO_KEY;
    if (!checker.checkMac1(message)) return VERDICT_BAD_MAC1;
    if (!loaded) return VERDICT_PASS;
    const ipLength = sources[at] === 4 ? 4 : sources[at] === 6 ? 16 : 0;
    if (ipLength === 0) return VERDICT_BAD_SIZE;
    // The cookie binds "the concatenated source IP address and UDP source port" (§5.4.7).
    const source = new Uint8Array(ipLength + 2);
    source.set(sources.subarray(at + 4, at + 4 + ipLength));
    source[ipLength] = sources[at + 2]!;
    source[ipLength + 1] = sources[at + 3]!;
    if (checker.checkMac2(message, source, now)) return VERDICT_PROVEN;
    replies.set(checker.createReply(message, source, now), replyAt);
    return VERDICT_COOKIE_REPLY;
  }

  /** Counts a batch's handshake messages as arrived together (see the header). */
  private arrive(now: number, count: number, queued: number): void {
    if (now - this.windowStart >= UNDER_LOAD_AFTER_TIME) {
      this.windowStart = now;
      this.arrivedInWindow = 0;
    }
    this.arrivedInWindow += count;
    if (queued >= UNDER_LOAD_THRESHOLD || this.arrivedInWindow > UNDER_LOAD_THRESHOLD) this.underLoadUntil = now + UNDER_LOAD_AFTER_TIME;
  }
}

/**
 * The filter a device uses: the addon's where it is built (and has the filter), else the
 * JavaScript one. `kind` forces one (tests compare both).
 */
export function createHandshakeFilter(crypto: CryptoBackend, kind?: 'native' | 'js'): HandshakeFilter {
  if (kind === 'js') return new JsHandshakeFilter(crypto);
  if (kind === 'native') return new NativeHandshakeFilter();
  let addon: IoAddon;
  try {
    addon = ioAddon();
  } catch {
    return new JsHandshakeFilter(crypto);
  }
  return typeof addon.handshakeFilterCreate === 'function' ? new NativeHandshakeFilter(addon) : new JsHandshakeFilter(crypto);
}
