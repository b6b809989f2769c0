/**
 * mac1, mac2 and cookie replies (whitepaper §5.3, §5.4.4, §5.4.7): WireGuard's defence against
 * handshake floods.
 *
 * Every handshake message ends with mac1 = MAC(HASH(LABEL_MAC1 || S_pub of the receiver), msg)
 * and mac2. A device under load answers a handshake message whose mac2 is missing or stale with
 * a cookie reply instead of doing any Diffie-Hellman: the cookie is MAC(R, source address),
 * R a secret rotated every COOKIE_REFRESH_TIME, sent sealed with XChaCha20-Poly1305 under
 * HASH(LABEL_COOKIE || S_pub) with the message's mac1 as associated data. The sender then puts
 * mac2 = MAC(cookie, msg up to mac2) on its next handshake message.
 *
 * `DeviceCookieChecker` is the receiving side (one per device); `CookieGenerator` the sending
 * side (one per peer).
 */
import type { CryptoBackend } from '../crypto/backend.js';
import { mac } from '../crypto/hash.js';
import type { CookieChecker, LocalIdentity } from './api.js';
import { COOKIE_REFRESH_TIME, REKEY_TIMEOUT } from './constants.js';
import { asNoiseIdentity, cookieKeyFor, mac1KeyFor, type NoiseIdentity } from './handshake.js';
import {
  COOKIE_NONCE_LENGTH,
  decodeCookieReply,
  encodeCookieReply,
  INITIATION_SENDER,
  MAC_LENGTH,
  mac1Offset,
  mac2Offset,
  readU32,
} from './messages.js';

/**
 * A received cookie is used for mac2 while younger than this: the responder's secret lives
 * COOKIE_REFRESH_TIME, less the latency of a round trip (the kernel's
 * COOKIE_SECRET_MAX_AGE - COOKIE_SECRET_LATENCY, 120 s - 5 s; wireguard-go uses 120 s).
 */
export const COOKIE_VALIDITY = COOKIE_REFRESH_TIME - REKEY_TIMEOUT;

/** Smallest handshake message we may hold macs of: type, sender and both macs. */
const MIN_MACCED_LENGTH = 8 + 2 * MAC_LENGTH;

/** Constant-time comparison of a.subarray(aOffset, aOffset+length) with b. */
function equalAt(a: Uint8Array, aOffset: number, b: Uint8Array, length: number): boolean {
  let diff = 0;
  for (let i = 0; i < length; i++) diff |= a[aOffset + i]! ^ b[i]!;
  return diff === 0;
}

/** The device's side: checks mac1/mac2 of messages sent to us and writes cookie replies. */
export class DeviceCookieChecker implements CookieChecker {
  private local: NoiseIdentity;
  private readonly secret = new Uint8Array(32);
  /** When `secret` was drawn; -Infinity: never (a first reply draws it). */
  private secretSetAt = -Infinity;

  constructor(private readonly crypto: CryptoBackend, local: LocalIdentity) {
    this.local = asNoiseIdentity(crypto, local);
  }

  /** Our private key changed: mac1 and cookie keys follow the new public key. */
  setLocal(local: LocalIdentity): void {
    this.local = asNoiseIdentity(this.crypto, local);
  }

  checkMac1(message: Uint8Array): boolean {
    if (message.length < MIN_MACCED_LENGTH) return false;
    const at = mac1Offset(message.length);
    return equalAt(message, at, mac(this.local.mac1Key, message.subarray(0, at)), MAC_LENGTH);
  }

  checkMac2(message: Uint8Array, sourceAddress: Uint8Array, now: number): boolean {
    if (message.length < MIN_MACCED_LENGTH) return false;
    // "the secret changes every COOKIE_REFRESH_TIME": a cookie from an older secret is worthless.
    if (now - this.secretSetAt > COOKIE_REFRESH_TIME) return false;
    const cookie = mac(this.secret, sourceAddress);
    const at = mac2Offset(message.length);
    return equalAt(message, at, mac(cookie, message.subarray(0, at)), MAC_LENGTH);
  }

  createReply(message: Uint8Array, sourceAddress: Uint8Array, now: number): Uint8Array {
    if (message.length < MIN_MACCED_LENGTH) throw new RangeError('not a handshake message');
    if (now - this.secretSetAt > COOKIE_REFRESH_TIME) {
      this.crypto.randomFill(this.secret);
      this.secretSetAt = now;
    }
    const cookie = mac(this.secret, sourceAddress);
    const nonce = new Uint8Array(COOKIE_NONCE_LENGTH);
    this.crypto.randomFill(nonce);
    const at = mac1Offset(message.length);
    const encryptedCookie = this.crypto.xseal(this.local.cookieKey, nonce, cookie, message.subarray(at, at + MAC_LENGTH));
    cookie.fill(0);
    // Initiations and responses both carry their sender's index at offset 4.
    return encodeCookieReply({ receiver: readU32(message, INITIATION_SENDER), nonce, encryptedCookie });
  }
}

/** A peer's side: puts mac1 (and mac2 when we hold a fresh cookie) on what we send it. */
export class CookieGenerator {
  private mac1Key: Uint8Array;
  private cookieKey: Uint8Array;
  private readonly cookie = new Uint8Array(MAC_LENGTH);
  private cookieSetAt = -Infinity;
  /** mac1 of the last handshake message we sent: the AD a cookie reply to it is sealed with. */
  private readonly lastMac1 = new Uint8Array(MAC_LENGTH);
  private hasLastMac1 = false;

  constructor(
    private readonly crypto: CryptoBackend,
    remotePublicKey: Uint8Array,
  ) {
    this.mac1Key = mac1KeyFor(remotePublicKey);
    this.cookieKey = cookieKeyFor(remotePublicKey);
  }

  /** Writes mac1, and mac2 if we hold a cookie younger than COOKIE_VALIDITY, into `message`. */
  addMacs(message: Uint8Array, now: number): void {
    const at1 = mac1Offset(message.length);
    const mac1 = mac(this.mac1Key, message.subarray(0, at1));
    message.set(mac1, at1);
    this.lastMac1.set(mac1);
    this.hasLastMac1 = true;
    const at2 = mac2Offset(message.length);
    // "mac2 := MAC(Lm, msg_β) if Lm is younger than COOKIE_REFRESH_TIME (less latency), else 0^16"
    if (now - this.cookieSetAt < COOKIE_VALIDITY) {
      message.set(mac(this.cookie, message.subarray(0, at2)), at2);
    } else {
      message.fill(0, at2, at2 + MAC_LENGTH);
    }
  }

  /**
   * Takes the cookie from a reply to the last message we sent. False when there is none, the
   * reply does not decrypt with that message's mac1, or it was already used (as the kernel).
   */
  consumeReply(message: Uint8Array, now: number): boolean {
    const fields = decodeCookieReply(message);
    if (fields === null || !this.hasLastMac1) return false;
    const cookie = this.crypto.xopen(this.cookieKey, fields.nonce, fields.encryptedCookie, this.lastMac1);
    if (cookie === null || cookie.length !== MAC_LENGTH) return false;
    this.cookie.set(cookie);
    cookie.fill(0);
    this.cookieSetAt = now;
    this.hasLastMac1 = false;
    return true;
  }

  /** Forgets the cookie (keys being zeroed). */
  clear(): void {
    this.cookie.fill(0);
    this.cookieSetAt = -Infinity;
    this.hasLastMac1 = false;
  }
}
