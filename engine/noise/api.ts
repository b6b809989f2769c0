/**
 * The boundary between the sans-I/O protocol core (engine/noise) and the device (engine/device).
 *
 * The core takes bytes and `now` (a monotonic millisecond clock) and returns bytes. It never
 * touches sockets, timers or clocks. The device owns sockets, the TUN, the index table, the
 * allowed-IPs trie, the per-source rate limiter and the decision whether it is under load; it
 * asks the core when each peer next needs attention (`nextDeadline`) and calls `poll` then.
 *
 * Classes implementing these interfaces live in files named for what they hold:
 * handshake.ts (LocalIdentity, consumeInitiation), cookie.ts (CookieChecker),
 * peer-session.ts (PeerSession), keypair.ts, replay.ts, tai64n.ts, messages.ts.
 */
import type { CryptoBackend } from '../crypto/backend.js';

/** Our static identity: the private key and what is derived from it once. */
export interface LocalIdentity {
  readonly privateKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

/**
 * The device's map of 32-bit receiver indices to sessions. Indices are random (never
 * sequential), and one index names one handshake or one keypair.
 */
export interface IndexTable<Owner> {
  /** Registers `owner` under a fresh random index not in use and returns the index. */
  allocate(owner: Owner): number;
  /** Forgets `index` (its keypair or handshake is gone). */
  free(index: number): void;
  /** The owner registered under `index`, if any. */
  lookup(index: number): Owner | undefined;
}

/** An initiation whose static key and timestamp decrypted; not yet matched against a peer. */
export interface ConsumedInitiation {
  /** The initiator's static public key: the device finds the peer by it. */
  readonly remoteStatic: Uint8Array;
}

/**
 * Checks mac1/mac2 of incoming handshake messages and makes cookie replies (whitepaper §5.4.7).
 * One per device; its secret rotates every COOKIE_REFRESH_TIME.
 */
export interface CookieChecker {
  /** Whether the message's mac1 is right for our public key. */
  checkMac1(message: Uint8Array): boolean;
  /** Whether the message's mac2 is right for a cookie given to `sourceAddress` (4/16 bytes + port-less). */
  checkMac2(message: Uint8Array, sourceAddress: Uint8Array, now: number): boolean;
  /** A 64-byte cookie reply to `message` (initiation or response), bound to `sourceAddress`. */
  createReply(message: Uint8Array, sourceAddress: Uint8Array, now: number): Uint8Array;
}

export interface PeerSessionOptions {
  crypto: CryptoBackend;
  local: LocalIdentity;
  remotePublicKey: Uint8Array;
  presharedKey: Uint8Array | null;
  /** Seconds, 0 = off. */
  persistentKeepalive: number;
  indices: IndexTable<PeerSession>;
  now: number;
  /** The TUN's MTU: padding never takes a packet past it (absent: pad to 16 without a cap). */
  mtu?: number;
}

/**
 * Everything WireGuard keeps per peer: the handshake in flight, the keypairs (current, previous,
 * next), counters and replay windows, staged packets, and every timer of whitepaper §6.
 */
export interface PeerSession {
  readonly remotePublicKey: Uint8Array;

  /**
   * Encrypts one IP packet. The packet lies at `buffer[offset, offset+length)` with HEADROOM
   * free bytes before and TAILROOM after (engine/packet-buffer.ts); the datagram is written in place
   * starting at offset - HEADROOM. Returns the datagram's length, or 0 when no keypair can send:
   * the packet was then copied into the staging queue and a handshake will be due (call poll).
   */
  encrypt(buffer: Uint8Array, offset: number, length: number, now: number): number;

  /**
   * Decrypts a transport message (type 4) whose receiver index belongs to this session, in place:
   * the plaintext starts at offset + 16. Returns the plaintext length (0 for a keepalive, which
   * callers do not deliver), or -1 when the packet is rejected (unknown keypair, bad tag, replay,
   * expired). Padding is not stripped here: the device trims by the IP header's length.
   */
  decrypt(buffer: Uint8Array, offset: number, length: number, now: number): number;

  /** Answers an initiation for this peer: the 92-byte response, or null when refused (stale timestamp, too soon after the last one). */
  receiveInitiation(initiation: ConsumedInitiation, now: number): Uint8Array | null;

  /** Completes our handshake with a response whose receiver index is ours; false when refused. */
  receiveResponse(message: Uint8Array, now: number): boolean;

  /** Stores the cookie from a cookie reply to our last handshake message; false when refused. */
  receiveCookieReply(message: Uint8Array, now: number): boolean;

  /**
   * What is due now: a handshake initiation (first, retry with jitter, rekey), a keepalive, or a
   * staged packet that a fresh keypair can now carry. Returns the next datagram to send or null
   * when nothing is due; call until null. `wallNow` (Unix ms) stamps initiations (TAI64N).
   */
  poll(now: number, wallNow: number): Uint8Array | null;

  /** The earliest `now` at which poll might have something to do; Infinity when idle. */
  nextDeadline(): number;

  /** Starts a handshake at the next poll (an endpoint change or a wake from sleep calls for it). */
  requestHandshake(): void;

  /**
   * True once after a handshake retry or a new handshake started because nothing came back:
   * the device should then forget the local source address its replies stick to, in case that
   * address is the trouble (wireguard-go clears it in the same two timers).
   */
  takeSourceStale(): boolean;

  setPresharedKey(key: Uint8Array | null): void;
  setPersistentKeepalive(seconds: number, now: number): void;
  /** The TUN's MTU changed: padding is capped at it, as wireguard-go and the kernel do. */
  setMtu(mtu: number): void;
  /** Our private key changed: drop handshakes and keypairs that used the old one. */
  setLocal(local: LocalIdentity): void;
  /** Zeroes every key and frees every index (peer removed or device closing). */
  destroy(): void;

  /**
   * DH(our static, the peer's static), computed when the keys were set (null for a low-order
   * key): the responder's ss, so a received initiation costs one DH, not two. Not to be changed.
   */
  precomputedStaticStatic(): Uint8Array | null;
  /** Monotonic time of the last completed handshake, or null. */
  readonly lastHandshake: number | null;
  /**
   * While a handshake initiation of ours waits for an answer: the monotonic time since which the
   * peer has not answered anything we sent that expected an answer (data or initiations; the
   * first of them since it was last heard). Null when no initiation waits. This is what tells a
   * person "the server is not answering" (engine/helper/tunnel-state.ts).
   */
  readonly unansweredSince: number | null;
  /**
   * Bytes of datagrams received and authenticated, as wg show counts them (whole UDP payloads).
   * What was sent is the device's to count: only it knows which datagrams the OS took.
   */
  readonly rxBytes: number;
}

export type { CryptoBackend };
