/**
 * One peer's protocol state: handshake, keypairs, staged packets and every timer of
 * whitepaper §6, as wireguard-go (device/timers.go, send.go, receive.go, keypair.go) applies them.
 *
 * Sans-I/O: every entry point takes `now` (monotonic ms); datagrams to send come out of
 * `encrypt` (in place, the hot path), as return values of `receiveInitiation`, or from `poll`,
 * which runs whatever timers expired and hands out queued datagrams one per call. The device
 * sleeps until `nextDeadline()` and polls then, and after any call that may have queued
 * something (nextDeadline() is then 0).
 *
 * Timers are plain deadlines (Infinity = not armed), named after wireguard-go's:
 *
 *   retransmitHandshake  REKEY_TIMEOUT + jitter after an initiation: send another, up to
 *                        MAX_TIMER_HANDSHAKES retries, then give up and drop staged packets
 *   sendKeepalive        KEEPALIVE_TIMEOUT after receiving data if we have sent nothing since
 *   newHandshake         KEEPALIVE_TIMEOUT + REKEY_TIMEOUT after sending data if nothing came back
 *   zeroKeyMaterial      REJECT_AFTER_TIME * 3 after the last session was derived: wipe all keys
 *   persistentKeepalive  the configured interval after the last authenticated packet either way
 *
 * Hooks named timers*() are called where wireguard-go calls them; each says when in one line.
 * On the packet path nothing is allocated: the nonce buffer is reused and the only objects made
 * are the subarray views the crypto backend takes.
 */
import type { CryptoBackend } from '../crypto/backend.js';
import { HEADROOM, TAILROOM } from '../packet-buffer.js';
import type { ConsumedInitiation, IndexTable, LocalIdentity, PeerSession, PeerSessionOptions } from './api.js';
import { CookieGenerator } from './cookie.js';
import {
  HANDSHAKE_INITIATION_RATE,
  KEEPALIVE_TIMEOUT,
  MAX_STAGED_PACKETS,
  MAX_TIMER_HANDSHAKES,
  MESSAGE_KEEPALIVE_SIZE,
  MESSAGE_PADDING_MULTIPLE,
  MESSAGE_TRANSPORT,
  MESSAGE_TRANSPORT_HEADER_SIZE,
  AEAD_TAG_SIZE,
  REJECT_AFTER_TIME,
  REKEY_AFTER_TIME,
  REKEY_TIMEOUT,
  REKEY_TIMEOUT_JITTER_MAX,
} from './constants.js';
import {
  asNoiseIdentity,
  consumeResponse,
  createInitiation,
  createResponse,
  isDecryptedInitiation,
  ZERO_PRESHARED_KEY,
  type DecryptedInitiation,
  type InitiationInFlight,
  type NoiseIdentity,
} from './handshake.js';
import { Keypair, KeypairSlots } from './keypair.js';
import { readU32, TRANSPORT_COUNTER, TRANSPORT_RECEIVER, writeTransportHeader } from './messages.js';
import { isAfter, tai64n } from './tai64n.js';

/** REJECT_AFTER_MESSAGES = 2^64 - 2^13 - 1 as (hi, lo) words of a counter. */
const REJECT_HI = 0xffffffff;
const REJECT_LO = 0xffffdfff;
/** REKEY_AFTER_MESSAGES = 2^60: hi word 2^28, lo word 0. */
const REKEY_HI = 0x10000000;
const EMPTY = new Uint8Array(0);

/** A packet waiting for a keypair, copied with room to be encrypted in place. */
interface StagedPacket {
  buffer: Uint8Array;
  length: number;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Whether counter (hi, lo) has reached REJECT_AFTER_MESSAGES. */
/**
 * Zero bytes to add after a plaintext of `length` bytes: up to the next multiple of 16 ("padded
 * to a multiple of 16", whitepaper §5.4.6), but never past the MTU, so a full-size packet stays
 * one datagram on the underlay (wireguard-go and the kernel cap it the same way). With mtu 0
 * (unknown) there is no cap.
 */
export function paddingFor(length: number, mtu: number): number {
  // A packet longer than the MTU (possible only when the OS hands us one) pads its last unit.
  const lastUnit = mtu > 0 && length > mtu ? length % mtu : length;
  const rounded = (lastUnit + MESSAGE_PADDING_MULTIPLE - 1) & ~(MESSAGE_PADDING_MULTIPLE - 1);
  return (mtu > 0 && rounded > mtu ? mtu : rounded) - lastUnit;
}

function exhausted(keypair: Keypair): boolean {
  return keypair.sendCounterHi === REJECT_HI && keypair.sendCounterLo >= REJECT_LO;
}

export class NoisePeerSession implements PeerSession {
  readonly remotePublicKey: Uint8Array;
  lastHandshake: number | null = null;
  rxBytes = 0;

  /**
   * Monotonic time of the first packet we sent that expected an answer (data, or a handshake
   * initiation) since the peer last sent anything authenticated; null when it has answered.
   * Keepalives expect none, so they do not count.
   */
  private unansweredSendSince: number | null = null;
  /** Our initiation went out and nothing authenticated came back since. */
  private initiationUnanswered = false;

  private readonly crypto: CryptoBackend;
  private readonly indices: IndexTable<PeerSession>;
  private local: NoiseIdentity;
  private presharedKey: Uint8Array;
  /** DH(our static, their static), precomputed; null when their key is low-order. */
  private staticStatic: Uint8Array | null;
  private persistentKeepaliveMs: number;
  /** The TUN's MTU, the cap on padding; 0 when unknown. */
  private mtu: number;
  private readonly cookies: CookieGenerator;
  private readonly keypairs = new KeypairSlots();
  /** Our initiation awaiting a response, if any. */
  private inFlight: InitiationInFlight | null = null;
  private destroyed = false;

  // Handshake bookkeeping.
  private lastSentHandshake = -Infinity;
  /** Greatest TAI64N timestamp accepted from this peer (replay protection). */
  private lastTimestamp: Uint8Array | null = null;
  private lastInitiationConsumption = -Infinity;
  private handshakeAttempts = 0;
  /** Set by the two timers after which the device forgets the sticky source (takeSourceStale). */
  private sourceStale = false;
  private sentLastMinuteHandshake = false;
  private needAnotherKeepalive = false;

  // Timer deadlines (monotonic ms; Infinity: not armed).
  private retransmitHandshakeAt = Infinity;
  private sendKeepaliveAt = Infinity;
  private newHandshakeAt = Infinity;
  private zeroKeyMaterialAt = Infinity;
  private persistentKeepaliveAt = Infinity;

  // Work due at the next poll.
  private initiationWanted = false;
  private keepaliveWanted = false;
  private stagedFlushWanted = false;
  private readonly staged: StagedPacket[] = [];
  private readonly outbox: Uint8Array[] = [];

  // Reused per packet.
  private readonly nonce = new Uint8Array(12);
  /**
   * Random bytes for timer jitter, drawn 4 at a time. Request/response traffic re-arms the
   * newHandshake timer once per round trip; one getrandom() per 64 of those instead of each.
   */
  private readonly jitterPool = new Uint8Array(256);
  private jitterPoolUsed = 256;

  constructor(options: PeerSessionOptions) {
    this.crypto = options.crypto;
    this.indices = options.indices;
    this.local = asNoiseIdentity(options.crypto, options.local);
    this.remotePublicKey = options.remotePublicKey.slice();
    this.presharedKey = (options.presharedKey ?? ZERO_PRESHARED_KEY).slice();
    this.staticStatic = options.crypto.sharedSecret(this.local.privateKey, this.remotePublicKey);
    this.cookies = new CookieGenerator(options.crypto, this.remotePublicKey);
    this.persistentKeepaliveMs = Math.max(0, options.persistentKeepalive) * 1000;
    this.mtu = options.mtu ?? 0;
    // wireguard-go sends a keepalive when a peer with persistent keepalive comes up; with no
    // keypair yet that starts a handshake.
    if (this.persistentKeepaliveMs > 0) this.keepaliveWanted = true;
  }

  // --- Transport data (hot path) -------------------------------------------------------------

  encrypt(buffer: Uint8Array, offset: number, length: number, now: number): number {
    if (this.destroyed) return 0;
    const keypair = this.keypairs.current;
    // "a keypair is not used to send after REJECT_AFTER_TIME or REJECT_AFTER_MESSAGES"
    if (keypair === null || exhausted(keypair) || now - keypair.created >= REJECT_AFTER_TIME) {
      this.stage(buffer, offset, length);
      this.requestInitiation(false, now);
      return 0;
    }
    return this.seal(keypair, buffer, offset, length, now);
  }

  decrypt(buffer: Uint8Array, offset: number, length: number, now: number): number {
    if (this.destroyed || length < MESSAGE_KEEPALIVE_SIZE) return -1;
    if (buffer[offset] !== MESSAGE_TRANSPORT || (buffer[offset + 1]! | buffer[offset + 2]! | buffer[offset + 3]!) !== 0) return -1;
    const keypair = this.keypairs.find(readU32(buffer, offset + TRANSPORT_RECEIVER));
    if (keypair === null) return -1;
    // "a keypair is not used to receive after REJECT_AFTER_TIME"
    if (now - keypair.created > REJECT_AFTER_TIME) return -1;
    const lo = readU32(buffer, offset + TRANSPORT_COUNTER);
    const hi = readU32(buffer, offset + TRANSPORT_COUNTER + 4);
    // "counters >= REJECT_AFTER_MESSAGES are refused" (before spending a decryption on it)
    if (hi === REJECT_HI && lo >= REJECT_LO) return -1;
    const nonce = this.nonce;
    for (let i = 0; i < 8; i++) nonce[4 + i] = buffer[offset + TRANSPORT_COUNTER + i]!;
    const body = buffer.subarray(offset + MESSAGE_TRANSPORT_HEADER_SIZE, offset + length);
    const plaintextLength = this.crypto.open(body, keypair.receiveKey, nonce, body, EMPTY);
    if (plaintextLength < 0) return -1;
    // The replay window moves only for authenticated packets.
    if (!keypair.replay.validate(lo, hi)) return -1;
    this.rxBytes += length;
    if (keypair === this.keypairs.next) {
      // Key confirmation: the initiator used the keypair we made as responder.
      this.discard(this.keypairs.confirmNext());
      this.timersHandshakeComplete(now);
      this.stagedFlushWanted = true;
    }
    this.keepKeyFreshReceiving(now);
    this.timersAnyAuthenticatedPacketTraversal(now);
    this.timersAnyAuthenticatedPacketReceived();
    if (plaintextLength > 0) this.timersDataReceived(now);
    return plaintextLength;
  }

  /** Encrypts in place with `keypair` (usable, checked by the caller); returns the datagram length. */
  private seal(keypair: Keypair, buffer: Uint8Array, offset: number, length: number, now: number): number {
    const padded = length + paddingFor(length, this.mtu);
    if (padded > length) buffer.fill(0, offset + length, offset + padded);
    const lo = keypair.sendCounterLo;
    const hi = keypair.sendCounterHi;
    if (lo === 0xffffffff) {
      keypair.sendCounterLo = 0;
      keypair.sendCounterHi = hi + 1;
    } else {
      keypair.sendCounterLo = lo + 1;
    }
    writeTransportHeader(buffer, offset - MESSAGE_TRANSPORT_HEADER_SIZE, keypair.remoteIndex, lo, hi);
    const nonce = this.nonce;
    nonce[4] = lo & 0xff;
    nonce[5] = (lo >>> 8) & 0xff;
    nonce[6] = (lo >>> 16) & 0xff;
    nonce[7] = lo >>> 24;
    nonce[8] = hi & 0xff;
    nonce[9] = (hi >>> 8) & 0xff;
    nonce[10] = (hi >>> 16) & 0xff;
    nonce[11] = hi >>> 24;
    const sealed = buffer.subarray(offset, offset + padded + AEAD_TAG_SIZE);
    this.crypto.seal(sealed, keypair.sendKey, nonce, sealed.subarray(0, padded), EMPTY);
    const datagramLength = MESSAGE_TRANSPORT_HEADER_SIZE + padded + AEAD_TAG_SIZE;
    this.timersAnyAuthenticatedPacketTraversal(now);
    this.timersAnyAuthenticatedPacketSent();
    if (length > 0) this.timersDataSent(now);
    this.keepKeyFreshSending(keypair, now);
    return datagramLength;
  }

  // --- Handshake messages ----------------------------------------------------------------------

  precomputedStaticStatic(): Uint8Array | null {
    return this.destroyed ? null : this.staticStatic;
  }

  receiveInitiation(initiation: ConsumedInitiation, now: number): Uint8Array | null {
    if (!isDecryptedInitiation(initiation)) return null;
    // The initiation's chaining key is a secret of this handshake: it serves one answer at most.
    try {
      return this.answerInitiation(initiation, now);
    } finally {
      initiation.state.wipe();
    }
  }

  private answerInitiation(initiation: DecryptedInitiation, now: number): Uint8Array | null {
    if (this.destroyed) return null;
    if (!bytesEqual(initiation.remoteStatic, this.remotePublicKey)) return null;
    if (!bytesEqual(initiation.localPublicKey, this.local.publicKey)) return null;
    // "the timestamp must be strictly greater than the greatest one accepted from this peer"
    if (this.lastTimestamp !== null && !isAfter(initiation.timestamp, this.lastTimestamp)) return null;
    // Flood protection: at most one initiation per HANDSHAKE_INITIATION_RATE is answered.
    if (now - this.lastInitiationConsumption <= HANDSHAKE_INITIATION_RATE) return null;
    this.lastTimestamp = initiation.timestamp.slice();
    this.lastInitiationConsumption = now;
    this.rxBytes += 148;
    this.timersAnyAuthenticatedPacketTraversal(now);
    this.timersAnyAuthenticatedPacketReceived();

    // Answering replaces any initiation of ours in flight (one handshake state per peer).
    this.dropInFlight();
    this.lastSentHandshake = now;
    const localIndex = this.indices.allocate(this);
    const created = createResponse(this.crypto, initiation, this.presharedKey, localIndex);
    if (created === null) {
      this.indices.free(localIndex);
      return null;
    }
    // Responder: (T_recv, T_send) := KDF2(C, ε).
    const [receiveKey, sendKey] = created.state.split();
    created.state.wipe();
    this.installKeypair(new Keypair(sendKey, receiveKey, now, false, localIndex, initiation.remoteIndex));
    this.timersSessionDerived(now);
    this.cookies.addMacs(created.message, now);
    this.timersAnyAuthenticatedPacketTraversal(now);
    this.timersAnyAuthenticatedPacketSent();
    return created.message;
  }

  receiveResponse(message: Uint8Array, now: number): boolean {
    const inFlight = this.inFlight;
    if (this.destroyed || inFlight === null) return false;
    const result = consumeResponse(this.crypto, this.local, inFlight, this.presharedKey, message);
    if (result === null) return false;
    this.rxBytes += message.length;
    this.timersAnyAuthenticatedPacketTraversal(now);
    this.timersAnyAuthenticatedPacketReceived();
    // Initiator: (T_send, T_recv) := KDF2(C, ε). The handshake's index now names the keypair.
    const [sendKey, receiveKey] = result.state.split();
    result.state.wipe();
    inFlight.state.wipe();
    inFlight.ephemeralPrivate.fill(0);
    this.inFlight = null;
    this.installKeypair(new Keypair(sendKey, receiveKey, now, true, inFlight.localIndex, result.remoteIndex));
    this.timersSessionDerived(now);
    this.timersHandshakeComplete(now);
    // Confirm the keypair to the responder at once: it will not send with it before this.
    this.sendKeepalive(now);
    return true;
  }

  receiveCookieReply(message: Uint8Array, now: number): boolean {
    if (this.destroyed) return false;
    return this.cookies.consumeReply(message, now);
  }

  // --- Timers ----------------------------------------------------------------------------------

  poll(now: number, wallNow: number): Uint8Array | null {
    if (this.destroyed) return null;
    if (now >= this.zeroKeyMaterialAt) this.expiredZeroKeyMaterial();
    if (now >= this.retransmitHandshakeAt) this.expiredRetransmitHandshake(now);
    if (now >= this.newHandshakeAt) this.expiredNewHandshake(now);
    if (now >= this.sendKeepaliveAt) this.expiredSendKeepalive(now);
    if (now >= this.persistentKeepaliveAt) this.expiredPersistentKeepalive(now);
    if (this.keepaliveWanted) {
      this.keepaliveWanted = false;
      this.sendKeepalive(now);
    }
    if (this.stagedFlushWanted) {
      this.stagedFlushWanted = false;
      this.sendStaged(now);
    }
    if (this.initiationWanted) {
      this.initiationWanted = false;
      this.sendInitiation(now, wallNow);
    }
    return this.outbox.shift() ?? null;
  }

  nextDeadline(): number {
    if (this.destroyed) return Infinity;
    if (this.outbox.length > 0 || this.initiationWanted || this.keepaliveWanted || this.stagedFlushWanted) return 0;
    return Math.min(this.retransmitHandshakeAt, this.sendKeepaliveAt, this.newHandshakeAt, this.zeroKeyMaterialAt, this.persistentKeepaliveAt);
  }

  requestHandshake(): void {
    if (!this.destroyed) this.requestInitiation(false, null);
  }

  takeSourceStale(): boolean {
    const stale = this.sourceStale;
    this.sourceStale = false;
    return stale;
  }

  /** Handshake did not complete in REKEY_TIMEOUT: retry, or after MAX_TIMER_HANDSHAKES retries give up. */
  private expiredRetransmitHandshake(now: number): void {
    this.retransmitHandshakeAt = Infinity;
    if (this.handshakeAttempts > MAX_TIMER_HANDSHAKES) {
      // "after REKEY_ATTEMPT_TIME of retries, give up and drop the packets waiting for a session"
      this.sendKeepaliveAt = Infinity;
      this.staged.length = 0;
      // Destroy whatever a partial exchange left, unless that is already scheduled.
      if (this.zeroKeyMaterialAt === Infinity) this.zeroKeyMaterialAt = now + REJECT_AFTER_TIME * 3;
    } else {
      this.handshakeAttempts++;
      this.sourceStale = true; // our source address may be why no answer came
      this.requestInitiation(true, now);
    }
  }

  /** We received data and sent nothing for KEEPALIVE_TIMEOUT: send a keepalive. */
  private expiredSendKeepalive(now: number): void {
    this.sendKeepaliveAt = Infinity;
    this.sendKeepalive(now);
    if (this.needAnotherKeepalive) {
      this.needAnotherKeepalive = false;
      this.sendKeepaliveAt = now + KEEPALIVE_TIMEOUT;
    }
  }

  /** We sent data and heard nothing for KEEPALIVE_TIMEOUT + REKEY_TIMEOUT: start a new handshake. */
  private expiredNewHandshake(now: number): void {
    this.newHandshakeAt = Infinity;
    this.sourceStale = true;
    this.requestInitiation(false, now);
  }

  /** Nothing new for REJECT_AFTER_TIME * 3: erase every key. */
  private expiredZeroKeyMaterial(): void {
    this.zeroKeyMaterialAt = Infinity;
    this.zeroAndFlushAll();
  }

  /** The persistent keepalive interval passed without an authenticated packet either way. */
  private expiredPersistentKeepalive(now: number): void {
    this.persistentKeepaliveAt = Infinity;
    if (this.persistentKeepaliveMs > 0) this.sendKeepalive(now);
  }

  /** Should be called after an authenticated data packet is sent. */
  private timersDataSent(now: number): void {
    this.unansweredSendSince ??= now;
    if (this.newHandshakeAt === Infinity) this.newHandshakeAt = now + KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + this.jitter();
  }

  /** Should be called after an authenticated data packet is received. */
  private timersDataReceived(now: number): void {
    if (this.sendKeepaliveAt === Infinity) this.sendKeepaliveAt = now + KEEPALIVE_TIMEOUT;
    else this.needAnotherKeepalive = true;
  }

  /** Should be called after any authenticated packet is sent: keepalive, data or handshake. */
  private timersAnyAuthenticatedPacketSent(): void {
    this.sendKeepaliveAt = Infinity;
  }

  /** Should be called after any authenticated packet is received: keepalive, data or handshake. */
  private timersAnyAuthenticatedPacketReceived(): void {
    this.newHandshakeAt = Infinity;
    this.unansweredSendSince = null;
    this.initiationUnanswered = false;
  }

  /** Should be called after a handshake initiation is sent. */
  private timersHandshakeInitiated(now: number): void {
    this.retransmitHandshakeAt = now + REKEY_TIMEOUT + this.jitter();
  }

  /** Should be called after a response is consumed, or on the first data with a responder's keypair. */
  private timersHandshakeComplete(now: number): void {
    this.retransmitHandshakeAt = Infinity;
    this.handshakeAttempts = 0;
    this.sentLastMinuteHandshake = false;
    this.lastHandshake = now;
  }

  /** Should be called after a session's keys are derived (response sent or consumed). */
  private timersSessionDerived(now: number): void {
    this.zeroKeyMaterialAt = now + REJECT_AFTER_TIME * 3;
  }

  /** Should be called before an authenticated packet is sent or after one is received. */
  private timersAnyAuthenticatedPacketTraversal(now: number): void {
    if (this.persistentKeepaliveMs > 0) this.persistentKeepaliveAt = now + this.persistentKeepaliveMs;
  }

  /** Random 0..REKEY_TIMEOUT_JITTER_MAX-1 ms, so peers do not retry in lockstep. */
  private jitter(): number {
    if (this.jitterPoolUsed + 4 > this.jitterPool.length) {
      this.crypto.randomFill(this.jitterPool);
      this.jitterPoolUsed = 0;
    }
    const word = readU32(this.jitterPool, this.jitterPoolUsed);
    this.jitterPoolUsed += 4;
    return word % REKEY_TIMEOUT_JITTER_MAX;
  }

  // --- Sending helpers -------------------------------------------------------------------------

  /**
   * Asks for an initiation at the next poll. A fresh request (not a retry) restarts the attempt
   * count; like wireguard-go, a request within REKEY_TIMEOUT of the last handshake message we
   * sent is dropped (`now` null: checked at poll).
   */
  private requestInitiation(isRetry: boolean, now: number | null): void {
    if (!isRetry) this.handshakeAttempts = 0;
    if (now !== null && now - this.lastSentHandshake < REKEY_TIMEOUT) return;
    this.initiationWanted = true;
  }

  private sendInitiation(now: number, wallNow: number): void {
    // "initiations are sent no more often than once per REKEY_TIMEOUT"
    if (now - this.lastSentHandshake < REKEY_TIMEOUT) return;
    this.lastSentHandshake = now;
    this.dropInFlight();
    const localIndex = this.indices.allocate(this);
    const created = createInitiation(this.crypto, this.local, this.remotePublicKey, this.staticStatic, tai64n(wallNow), localIndex);
    if (created === null) {
      // A low-order peer key or ephemeral result: nothing can be sent to this peer.
      this.indices.free(localIndex);
      return;
    }
    this.inFlight = created.inFlight;
    this.cookies.addMacs(created.message, now);
    this.timersAnyAuthenticatedPacketTraversal(now);
    this.timersAnyAuthenticatedPacketSent();
    this.outbox.push(created.message);
    this.timersHandshakeInitiated(now);
    this.unansweredSendSince ??= now;
    this.initiationUnanswered = true;
  }

  get unansweredSince(): number | null {
    return this.initiationUnanswered ? this.unansweredSendSince : null;
  }

  /** wireguard-go's SendKeepalive: an empty packet, unless data is staged (it serves as one). */
  private sendKeepalive(now: number): void {
    if (this.staged.length === 0) this.staged.push({ buffer: new Uint8Array(HEADROOM + TAILROOM), length: 0 });
    this.sendStaged(now);
  }

  /** Encrypts the staged packets into the outbox, or asks for a handshake when no keypair can. */
  private sendStaged(now: number): void {
    while (this.staged.length > 0) {
      const keypair = this.keypairs.current;
      if (keypair === null || exhausted(keypair) || now - keypair.created >= REJECT_AFTER_TIME) {
        this.requestInitiation(false, now);
        return;
      }
      const packet = this.staged.shift()!;
      const length = this.seal(keypair, packet.buffer, HEADROOM, packet.length, now);
      this.outbox.push(packet.buffer.subarray(0, length));
    }
  }

  /** Copies a packet into the staging queue, dropping the oldest past MAX_STAGED_PACKETS. */
  private stage(buffer: Uint8Array, offset: number, length: number): void {
    const copy = new Uint8Array(HEADROOM + length + TAILROOM);
    copy.set(buffer.subarray(offset, offset + length), HEADROOM);
    if (this.staged.length >= MAX_STAGED_PACKETS) this.staged.shift();
    this.staged.push({ buffer: copy, length });
  }

  /** After sending with `keypair`: rekey after REKEY_AFTER_MESSAGES, or (initiator) REKEY_AFTER_TIME. */
  private keepKeyFreshSending(keypair: Keypair, now: number): void {
    const hi = keypair.sendCounterHi;
    const pastMessages = hi > REKEY_HI || (hi === REKEY_HI && keypair.sendCounterLo > 0);
    // "if a keypair has sent REKEY_AFTER_MESSAGES, or the initiator's is REKEY_AFTER_TIME old, rekey"
    if (pastMessages || (keypair.isInitiator && now - keypair.created > REKEY_AFTER_TIME)) this.requestInitiation(false, now);
  }

  /** After receiving: the initiator rekeys once its keypair nears REJECT_AFTER_TIME. */
  private keepKeyFreshReceiving(now: number): void {
    if (this.sentLastMinuteHandshake) return;
    const keypair = this.keypairs.current;
    // "initiator: rekey on receive once the keypair is REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT old"
    if (keypair !== null && keypair.isInitiator && now - keypair.created > REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT) {
      this.sentLastMinuteHandshake = true;
      this.requestInitiation(false, now);
    }
  }

  // --- Key management --------------------------------------------------------------------------

  private installKeypair(keypair: Keypair): void {
    for (const dropped of this.keypairs.install(keypair)) this.discard(dropped);
  }

  /** Wipes a keypair that left the slots and frees its index. */
  private discard(keypair: Keypair | null): void {
    if (keypair === null) return;
    keypair.wipe();
    this.indices.free(keypair.localIndex);
  }

  private dropInFlight(): void {
    const inFlight = this.inFlight;
    if (inFlight === null) return;
    inFlight.state.wipe();
    inFlight.ephemeralPrivate.fill(0);
    this.indices.free(inFlight.localIndex);
    this.inFlight = null;
  }

  /** wireguard-go's ZeroAndFlushAll: every keypair, the handshake and the staged packets. */
  private zeroAndFlushAll(): void {
    for (const keypair of this.keypairs.clear()) this.discard(keypair);
    this.dropInFlight();
    this.staged.length = 0;
  }

  setPresharedKey(key: Uint8Array | null): void {
    this.presharedKey.fill(0);
    this.presharedKey = (key ?? ZERO_PRESHARED_KEY).slice();
  }

  setMtu(mtu: number): void {
    this.mtu = mtu;
  }

  setPersistentKeepalive(seconds: number, now: number): void {
    const wasOff = this.persistentKeepaliveMs === 0;
    this.persistentKeepaliveMs = Math.max(0, seconds) * 1000;
    if (this.persistentKeepaliveMs === 0) {
      this.persistentKeepaliveAt = Infinity;
    } else if (wasOff) {
      // Turning it on sends a keepalive at once (wireguard-go), which also starts a handshake.
      this.keepaliveWanted = true;
    } else if (this.persistentKeepaliveAt !== Infinity) {
      this.persistentKeepaliveAt = now + this.persistentKeepaliveMs;
    }
  }

  /**
   * Our private key changed (wireguard-go SetPrivateKey + ExpireCurrentKeypairs): recompute the
   * static DH, abandon the handshake, stop sending with the keypairs made under the old key
   * (they may still receive until they expire) and allow a new initiation at once.
   */
  setLocal(local: LocalIdentity): void {
    this.local = asNoiseIdentity(this.crypto, local);
    this.staticStatic?.fill(0);
    this.staticStatic = this.crypto.sharedSecret(this.local.privateKey, this.remotePublicKey);
    this.dropInFlight();
    this.lastSentHandshake = -Infinity;
    for (const keypair of [this.keypairs.current, this.keypairs.next]) {
      if (keypair === null) continue;
      keypair.sendCounterHi = REJECT_HI;
      keypair.sendCounterLo = REJECT_LO;
    }
  }

  destroy(): void {
    if (this.destroyed) return;
    this.zeroAndFlushAll();
    this.destroyed = true;
    this.staticStatic?.fill(0);
    this.presharedKey.fill(0);
    this.cookies.clear();
    this.outbox.length = 0;
    this.retransmitHandshakeAt = this.sendKeepaliveAt = this.newHandshakeAt = Infinity;
    this.zeroKeyMaterialAt = this.persistentKeepaliveAt = Infinity;
    this.initiationWanted = this.keepaliveWanted = this.stagedFlushWanted = false;
  }

  /** For tests and diagnostics: which slots hold a keypair. */
  keypairState(): { current: boolean; previous: boolean; next: boolean } {
    return { current: this.keypairs.current !== null, previous: this.keypairs.previous !== null, next: this.keypairs.next !== null };
  }
}

/** A PeerSession for one configured peer. */
export function createPeerSession(options: PeerSessionOptions): NoisePeerSession {
  return new NoisePeerSession(options);
}
