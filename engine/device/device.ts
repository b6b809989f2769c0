/**
 * The Device: one WireGuard interface, joining the protocol core (engine/noise) to the TUN, the
 * UDP bind, the allowed-IPs trie and the clock.
 *
 * Outbound (TUN -> UDP). The TUN hands a batch of IP packets in one buffer with room around each
 * packet. For each packet the trie maps its destination to a peer (no peer: dropped and counted,
 * quietly - the OS routinely sends IPv6 link-local and multicast packets into the TUN); the peer's
 * PeerSession encrypts it in place (or stages it while a handshake is due); the resulting
 * datagram's place is noted on the peer. After the batch, each peer that got datagrams sends them
 * in one Bind.send to its endpoint. Nothing is allocated per packet.
 *
 * Inbound (UDP -> TUN). Each datagram of a batch is dispatched on its message type. Transport
 * messages: receiver index -> session -> decrypt in place -> the inner packet's source address
 * must route back to the same peer (cryptokey routing) -> trimmed to the IP header's total length
 * (the sender padded it) -> collected for one TUN write per batch. Any authenticated packet roams
 * the peer's endpoint to the address it came from. The batch's handshake messages go through the
 * handshake filter in one call (handshake-filter.ts, native where the addon is built: size, mac1,
 * under load mac2 or else a cookie reply, sent at once; no Diffie-Hellman on that path); what it
 * passes meets the per-source rate limiter when mac2 was required, is copied into a bounded
 * queue and handled in slices (setImmediate), so initiations, each costing a DH, cannot starve
 * transport packets. There initiations are consumed (one DH: the static-static one is
 * precomputed per peer), matched to a peer by static key and answered, and responses and cookie
 * replies go to the session that owns their receiver index.
 *
 * Timers. The protocol core tells each peer's next deadline; the device keeps one setTimeout for
 * the earliest and polls peers whose deadline has come. Every peer a batch touched is polled
 * right after the batch (its timers may have moved, a handshake may be due), so there is no timer
 * per packet and no periodic tick.
 *
 * Configuration is the UAPI's typed `set` request, validated whole before anything changes.
 */
import { performance } from 'node:perf_hooks';
import type { Bind, DatagramBatch, Endpoint } from '../conn/bind.js';
import { SOURCE_RECORD_BYTES } from '../native/addon.js';
import type { CryptoBackend } from '../crypto/backend.js';
import { isAllZero, keysEqual } from '../keys.js';
import type { Logger } from '../logger.js';
import {
  MAX_PEERS,
  MAX_STAGED_PACKETS,
  MESSAGE_COOKIE_REPLY,
  MESSAGE_INITIATION,
  MESSAGE_KEEPALIVE_SIZE,
  MESSAGE_RESPONSE,
  MESSAGE_TRANSPORT,
  MESSAGE_TRANSPORT_HEADER_SIZE,
} from '../noise/constants.js';
import type { LocalIdentity, PeerSession as PeerSessionApi } from '../noise/api.js';
import { createLocalIdentity, consumeInitiation, createPeerSession } from '../noise/index.js';
import { AllowedIps } from '../routing/allowed-ips.js';
import { HEADROOM, type PacketBatch } from '../packet-buffer.js';
import type { TunDevice } from '../tun/tun.js';
import {
  UAPI_EADDRINUSE,
  UAPI_EINVAL,
  type UapiDeviceSnapshot,
  type UapiDeviceView,
  type UapiError,
  type UapiPeerChange,
  type UapiPeerSnapshot,
  type UapiSetRequest,
} from '../uapi/types.js';
import type { DeviceOptions, EngineDevice } from './api.js';
import { DropCounters, type DropReason } from './drop-counters.js';
import {
  COOKIE_REPLY_SLOT,
  createHandshakeFilter,
  VERDICT_BAD_MAC1,
  VERDICT_BAD_SIZE,
  VERDICT_COOKIE_REPLY,
  VERDICT_NO_KEY,
  VERDICT_PASS,
  VERDICT_PROVEN,
  writeSourceRecord,
  type HandshakeFilter,
} from './handshake-filter.js';
import { HandshakeQueue } from './handshake-queue.js';
import { RandomIndexTable } from './index-table.js';
import { Peer } from './peer.js';
import { RateLimiter } from './ratelimiter.js';

/** Handshake messages handled per slice before yielding to I/O, and the slice's time budget. */
const HANDSHAKES_PER_SLICE = 64;
const HANDSHAKE_SLICE_BUDGET_MS = 4;
/** How often, at most, the aggregated drop counts go to the debug log. */
const DROP_REPORT_INTERVAL_MS = 10_000;

/** The device's clocks: monotonic milliseconds for the protocol, Unix milliseconds for humans. */
export interface DeviceClock {
  now(): number;
  wallNow(): number;
}

export const systemClock: DeviceClock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
};

export interface DeviceConstructorOptions extends DeviceOptions {
  /** Tests drive a hand-stepped clock through this; defaults to the system's. */
  clock?: DeviceClock;
  /** The handshake filter: the addon's where it is built, else JavaScript's; tests force one. */
  handshakeFilter?: 'native' | 'js';
}

/** Zeroes a private key the device no longer uses. */
function wipeIdentity(identity: LocalIdentity | null): void {
  if (identity !== null) identity.privateKey.fill(0);
}

function keyHex(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('hex');
}

/** A peer as logs may name it: the first characters of its public key, which is not secret. */
function peerName(peer: Peer): string {
  return `peer(${Buffer.from(peer.publicKey).toString('base64').slice(0, 4)}…)`;
}

export class Device implements EngineDevice {
  readonly name: string;
  private readonly tun: TunDevice;
  private readonly bind: Bind;
  private readonly crypto: CryptoBackend;
  private readonly logger: Logger;
  private readonly clock: DeviceClock;

  private local: LocalIdentity | null = null;
  private readonly handshakeFilter: HandshakeFilter;
  private fwmark = 0;
  private readonly peers = new Map<string, Peer>();
  private readonly peerBySession = new Map<PeerSessionApi, Peer>();
  private readonly allowedIps = new AllowedIps<Peer>();
  private readonly indices: RandomIndexTable<PeerSessionApi>;
  private readonly rateLimiter = new RateLimiter();
  private readonly handshakes = new HandshakeQueue();
  private handshakeSliceScheduled = false;
  private readonly drops = new DropCounters();
  private lastDropReport = 0;

  /** Peers a batch touched, polled once the batch is done. */
  private touched: Peer[] = [];
  /** Inner packets of the current UDP batch, collected for one TUN write. */
  private tunOffsets = new Int32Array(64);
  private tunLengths = new Int32Array(64);
  /** The batch's handshake messages for the filter: datagram indices, senders, verdicts, replies. */
  private filterIndices = new Int32Array(64);
  private filterSources = new Uint8Array(64 * SOURCE_RECORD_BYTES);
  private filterVerdicts = new Uint8Array(64);
  private filterReplies = Buffer.alloc(64 * COOKIE_REPLY_SLOT);
  private replyOffsets = new Int32Array(64);
  private replyLengths = new Int32Array(64);
  /** For sending one datagram the core handed us (handshakes, keepalives, staged packets). */
  private readonly oneOffset = new Int32Array(1);
  private readonly oneLength = new Int32Array(1);

  /** The TUN's MTU as the sessions know it (it caps their padding); followed once per TUN batch. */
  private mtu: number;

  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private closed = false;
  private readonly closedListeners: Array<() => void> = [];

  constructor(options: DeviceConstructorOptions) {
    this.tun = options.tun;
    this.bind = options.bind;
    this.crypto = options.crypto;
    this.logger = options.logger;
    this.clock = options.clock ?? systemClock;
    this.name = options.tun.name;
    this.mtu = options.tun.mtu();
    this.indices = new RandomIndexTable<PeerSessionApi>(options.crypto);
    this.handshakeFilter = createHandshakeFilter(options.crypto, options.handshakeFilter);
    this.bind.open(0);
    this.bind.start(this.onDatagrams);
    this.tun.start(this.onTunPackets);
    this.tun.onClosed(() => {
      if (this.closed) return;
      this.logger.info(`interface ${this.name} was removed; closing the device`);
      this.close();
      for (const listener of this.closedListeners) listener();
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Outbound: TUN -> peers -> UDP

  /** The interface's MTU changed (`ip link set mtu`): padding follows it, as in wireguard-go. */
  private followMtu(): void {
    this.mtu = this.tun.mtu();
    for (const peer of this.peers.values()) peer.session?.setMtu(this.mtu);
  }

  private readonly onTunPackets = (batch: PacketBatch): void => {
    if (this.closed) return;
    const now = this.clock.now();
    if (this.tun.mtu() !== this.mtu) this.followMtu();
    const { buffer, offsets, lengths, count } = batch;
    for (let i = 0; i < count; i++) {
      const offset = offsets[i]!;
      const length = lengths[i]!;
      const version = length > 0 ? buffer[offset]! >>> 4 : 0;
      if (!((version === 4 && length >= 20) || (version === 6 && length >= 40))) {
        this.drops.add('badTunPacket');
        continue;
      }
      const peer = this.allowedIps.lookupDestination(buffer, offset);
      if (peer === undefined) {
        this.drops.add('noRoute');
        continue;
      }
      const session = peer.session;
      if (session === null) {
        this.drops.add('noPrivateKey');
        continue;
      }
      const datagramLength = session.encrypt(buffer, offset, length, now);
      this.touch(peer);
      if (datagramLength > 0) peer.queueDatagram(offset - HEADROOM, datagramLength);
    }
    // One send per peer for the whole batch. Polling (afterBatch) comes after, so a handshake
    // initiation a staged packet triggered goes out too.
    for (const peer of this.touched) {
      if (peer.txCount === 0) continue;
      const endpoint = peer.endpoint;
      if (endpoint === null) this.drops.add('noEndpoint', peer.txCount);
      else {
        const sent = this.bind.send(buffer, peer.txOffsets, peer.txLengths, peer.txCount, endpoint);
        if (sent < peer.txCount) this.drops.add('sendFailed', peer.txCount - sent);
        // tx_bytes counts what the OS took. The bind reports how many, not which: it stops at a
        // full socket buffer (the first `sent` went out) and skips a datagram refused alone;
        // a peer's batch is mostly one size, so the first `sent` lengths are the bytes sent.
        for (let k = 0; k < sent; k++) peer.txBytes += peer.txLengths[k]!;
      }
      peer.txCount = 0;
    }
    this.afterBatch(now);
  };

  // ---------------------------------------------------------------------------------------------
  // Inbound: UDP -> sessions -> TUN

  private readonly onDatagrams = (batch: DatagramBatch): void => {
    if (this.closed) return;
    const now = this.clock.now();
    const { buffer, offsets, lengths, count, endpoints } = batch;
    if (this.tunOffsets.length < count) {
      this.tunOffsets = new Int32Array(count);
      this.tunLengths = new Int32Array(count);
    }
    if (this.filterIndices.length < count) {
      this.filterIndices = new Int32Array(count);
      this.filterSources = new Uint8Array(count * SOURCE_RECORD_BYTES);
      this.filterVerdicts = new Uint8Array(count);
      this.filterReplies = Buffer.alloc(count * COOKIE_REPLY_SLOT);
      this.replyOffsets = new Int32Array(count);
      this.replyLengths = new Int32Array(count);
    }
    let deliver = 0;
    let handshakeCount = 0;
    for (let i = 0; i < count; i++) {
      const offset = offsets[i]!;
      const length = lengths[i]!;
      // The type is a little-endian u32: 1..4 in the first byte, three zero bytes.
      if (length < 4 || (buffer[offset + 1]! | buffer[offset + 2]! | buffer[offset + 3]!) !== 0) {
        this.drops.add('unknownMessageType');
        continue;
      }
      const type = buffer[offset]!;
      if (type === MESSAGE_TRANSPORT) {
        const inner = this.receiveTransport(buffer, offset, length, endpoints[i]!, now);
        if (inner > 0) {
          this.tunOffsets[deliver] = offset + MESSAGE_TRANSPORT_HEADER_SIZE;
          this.tunLengths[deliver] = inner;
          deliver++;
        }
      } else if (type === MESSAGE_INITIATION || type === MESSAGE_RESPONSE || type === MESSAGE_COOKIE_REPLY) {
        // For the filter, after the loop (the native bind's record of the sender, for the cookie).
        this.filterIndices[handshakeCount] = i;
        writeSourceRecord(this.filterSources, handshakeCount * SOURCE_RECORD_BYTES, endpoints[i]!);
        handshakeCount++;
      } else {
        this.drops.add('unknownMessageType');
      }
    }
    if (deliver > 0) {
      const written = this.tun.write(buffer, this.tunOffsets, this.tunLengths, deliver);
      if (written < deliver) this.drops.add('tunWriteFailed', deliver - written);
    }
    if (handshakeCount > 0) this.filterHandshakes(batch, handshakeCount, now);
    this.afterBatch(now);
  };

  /** The cheap path for the batch's handshake messages: one filter call, then each verdict. */
  private filterHandshakes(batch: DatagramBatch, count: number, now: number): void {
    const { buffer, offsets, lengths, endpoints } = batch;
    const indices = this.filterIndices;
    const verdicts = this.filterVerdicts;
    this.handshakeFilter.run(buffer, offsets, lengths, indices, count, this.filterSources, verdicts, this.filterReplies, now, this.handshakes.length);
    let queued = false;
    // Reply k's destination record is moved down to slot k of filterSources: k <= j always, and
    // record j is read (above, by the filter) before any later reply overwrites it.
    let replies = 0;
    for (let j = 0; j < count; j++) {
      const i = indices[j]!;
      const from = endpoints[i]!;
      const verdict = verdicts[j];
      switch (verdict) {
        case VERDICT_PROVEN:
        case VERDICT_PASS:
          // The rate limit is per host (IP, IPv6 /64), as wireguard-go's and the kernel's; it
          // applies once mac2 proved the address.
          if (verdict === VERDICT_PROVEN && !this.rateLimiter.allow(from.addressBytes, now)) this.drops.add('rateLimited');
          else if (this.handshakes.push(buffer, offsets[i]!, lengths[i]!, from)) queued = true;
          else this.drops.add('handshakeQueueFull');
          break;
        case VERDICT_COOKIE_REPLY:
          // "If the responder is under load, it may reject an initiation with a valid mac1 but an
          // invalid mac2, and reply with a cookie reply" (whitepaper §5.3): no DH spent. The
          // replies leave together after the loop, each to the sender record of its message.
          this.replyOffsets[replies] = j * COOKIE_REPLY_SLOT;
          this.replyLengths[replies] = COOKIE_REPLY_SLOT;
          this.filterSources.copyWithin(replies * SOURCE_RECORD_BYTES, j * SOURCE_RECORD_BYTES, (j + 1) * SOURCE_RECORD_BYTES);
          replies++;
          break;
        case VERDICT_BAD_MAC1:
          this.drops.add('badMac1');
          break;
        case VERDICT_NO_KEY:
          this.drops.add('noPrivateKey');
          break;
        case VERDICT_BAD_SIZE:
        default:
          this.drops.add('badMessageSize');
      }
    }
    if (replies > 0) {
      const sent = this.bind.sendEach(this.filterReplies, this.replyOffsets, this.replyLengths, replies, this.filterSources);
      this.drops.add('cookieReplySent', sent);
      if (sent < replies) this.drops.add('sendFailed', replies - sent);
    }
    if (queued) this.scheduleHandshakes();
  }

  /**
   * Decrypts one transport message in place. Returns the length of the inner IP packet to
   * deliver (it starts 16 bytes into the message), or 0 when there is nothing to deliver.
   */
  private receiveTransport(buffer: Buffer, offset: number, length: number, from: Endpoint, now: number): number {
    if (length < MESSAGE_KEEPALIVE_SIZE) {
      this.drops.add('badMessageSize');
      return 0;
    }
    const session = this.indices.lookup(buffer.readUInt32LE(offset + 4));
    const peer = session === undefined ? undefined : this.peerBySession.get(session);
    if (session === undefined || peer === undefined) {
      this.drops.add('unknownReceiver');
      return 0;
    }
    const plain = session.decrypt(buffer, offset, length, now);
    this.touch(peer);
    if (plain < 0) {
      this.drops.add('decryptFailed');
      return 0;
    }
    // Authenticated: the peer is wherever this came from (whitepaper §2.1, "roaming"), and our
    // replies leave from the local address it wrote to (the endpoint's sticky source).
    if (peer.endpoint !== from) peer.endpoint = from;
    if (plain === 0) return 0; // keepalive
    const inner = offset + MESSAGE_TRANSPORT_HEADER_SIZE;
    const version = buffer[inner]! >>> 4;
    let total: number;
    if (version === 4 && plain >= 20) total = buffer.readUInt16BE(inner + 2);
    else if (version === 6 && plain >= 40) total = 40 + buffer.readUInt16BE(inner + 4);
    else total = -1;
    if (total < (version === 4 ? 20 : 40) || total > plain) {
      this.drops.add('badInnerPacket');
      return 0;
    }
    // Cryptokey routing: "the source IP of the decrypted packet must be in the sending peer's
    // allowed IPs", else the packet is dropped (whitepaper §2).
    if (this.allowedIps.lookupSource(buffer, inner) !== peer) {
      this.drops.add('sourceNotAllowed');
      return 0;
    }
    return total;
  }

  // ---------------------------------------------------------------------------------------------
  // Handshakes: the slow path, in slices

  private scheduleHandshakes(): void {
    if (this.handshakeSliceScheduled || this.closed) return;
    this.handshakeSliceScheduled = true;
    setImmediate(this.processHandshakeSlice);
  }

  private readonly processHandshakeSlice = (): void => {
    this.handshakeSliceScheduled = false;
    if (this.closed) return;
    const started = performance.now();
    const now = this.clock.now();
    for (let n = 0; n < HANDSHAKES_PER_SLICE && performance.now() - started < HANDSHAKE_SLICE_BUDGET_MS; n++) {
      const item = this.handshakes.shift();
      if (item === undefined) break;
      try {
        this.receiveHandshake(item.message, item.from, now);
      } catch (error) {
        // A bug in the core must not take the device down with a hostile packet.
        this.logger.error(`handshake message handling failed: ${(error as Error).message}`);
      }
    }
    this.afterBatch(now);
    if (this.handshakes.length > 0) this.scheduleHandshakes();
  };

  private receiveHandshake(message: Uint8Array, from: Endpoint, now: number): void {
    const type = message[0];
    if (type === MESSAGE_COOKIE_REPLY) {
      // Cookie replies carry no macs: they are authenticated by their AEAD under our last mac1.
      const session = this.indices.lookup(readUInt32LE(message, 4));
      if (session === undefined || !session.receiveCookieReply(message, now)) this.drop('badResponse');
      return;
    }
    // The filter checked size and mac1 (and under load mac2 and the rate limit) already.
    const local = this.local;
    if (local === null) return this.drop('noPrivateKey');
    if (type === MESSAGE_INITIATION) {
      const consumed = consumeInitiation(this.crypto, local, message, this.staticStaticFor);
      if (consumed === null) return this.drop('badInitiation');
      const peer = this.peers.get(keyHex(consumed.remoteStatic));
      if (peer === undefined || peer.session === null) return this.drop('badInitiation');
      const response = peer.session.receiveInitiation(consumed, now);
      this.touch(peer);
      if (response === null) return this.drop('initiationRefused');
      peer.endpoint = from;
      this.sendDatagram(response, from, peer);
    } else {
      const session = this.indices.lookup(readUInt32LE(message, 8));
      const peer = session === undefined ? undefined : this.peerBySession.get(session);
      if (session === undefined || peer === undefined || !session.receiveResponse(message, now)) return this.drop('badResponse');
      this.touch(peer);
      peer.endpoint = from;
    }
  }

  /**
   * The precomputed DH(our static, its static) of the peer with `publicKey`, or null when it is
   * not a configured peer (or its key is low-order): an initiation then costs no second DH.
   */
  private readonly staticStaticFor = (publicKey: Uint8Array): Uint8Array | null =>
    this.peers.get(keyHex(publicKey))?.session?.precomputedStaticStatic() ?? null;

  private drop(reason: DropReason): void {
    this.drops.add(reason);
  }

  // ---------------------------------------------------------------------------------------------
  // Timers: one setTimeout for the earliest deadline, plus a poll of every peer a batch touched

  private touch(peer: Peer): void {
    if (peer.touched) return;
    peer.touched = true;
    this.touched.push(peer);
  }

  private afterBatch(now: number): void {
    const touched = this.touched;
    for (let i = 0; i < touched.length; i++) {
      const peer = touched[i]!;
      peer.touched = false;
      this.pollPeer(peer, now);
    }
    touched.length = 0;
    if (now - this.lastDropReport >= DROP_REPORT_INTERVAL_MS) {
      this.lastDropReport = now;
      const report = this.drops.takeReport();
      if (report !== null) this.logger.debug(`${this.name}: dropped packets since the last report: ${report}`);
    }
  }

  /** Sends whatever the peer's core says is due, then re-arms the timer for its next deadline. */
  private pollPeer(peer: Peer, now: number): void {
    const session = peer.session;
    if (session === null || this.closed) {
      peer.deadline = Infinity;
      return;
    }
    const wallNow = this.clock.wallNow();
    this.noteHandshakeTime(peer, session, now, wallNow);
    // A handshake retry, or a new one for lack of answers: our sticky source may be the trouble,
    // so forget it until the peer is heard from again (as wireguard-go does).
    if (session.takeSourceStale() && peer.endpoint !== null) peer.endpoint = peer.endpoint.withoutSource();
    // Bounded: at most every staged packet plus a handshake and a keepalive per poll.
    for (let n = 0; n < MAX_STAGED_PACKETS + 4; n++) {
      const datagram = session.poll(now, wallNow);
      if (datagram === null) break;
      if (peer.endpoint === null) this.drops.add('noEndpoint');
      else this.sendDatagram(datagram, peer.endpoint, peer);
    }
    peer.deadline = session.nextDeadline();
    if (peer.deadline < this.timerAt) this.armTimer(peer.deadline);
  }

  /** Stamps a newly completed handshake with the wall clock (Peer.lastHandshakeWallMs). */
  private noteHandshakeTime(peer: Peer, session: PeerSessionApi, now: number, wallNow: number): void {
    const last = session.lastHandshake;
    if (last === peer.lastHandshakeSeen) return;
    peer.lastHandshakeSeen = last;
    peer.lastHandshakeWallMs = last === null ? 0 : wallNow - (now - last);
  }

  private armTimer(deadline: number): void {
    if (this.closed) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timerAt = deadline;
    if (deadline === Infinity) {
      this.timer = null;
      return;
    }
    const delay = Math.max(0, Math.ceil(deadline - this.clock.now()));
    this.timer = setTimeout(this.onTimer, delay);
    // The device's sockets and TUN keep a process alive; its timers alone should not.
    this.timer.unref();
  }

  private readonly onTimer = (): void => {
    this.timer = null;
    this.timerAt = Infinity;
    this.runTimers();
  };

  /** Polls every peer whose deadline has come and re-arms for the next one (tests call this after stepping their clock). */
  runTimers(): void {
    if (this.closed) return;
    const now = this.clock.now();
    let earliest = Infinity;
    for (const peer of this.peers.values()) {
      if (peer.deadline <= now) this.pollPeer(peer, now);
      if (peer.deadline < earliest) earliest = peer.deadline;
    }
    this.afterBatch(now);
    if (earliest < this.timerAt) this.armTimer(earliest);
  }

  /** Sends one datagram; counted in `peer`'s tx_bytes when the OS takes it (cookie replies have no peer). */
  private sendDatagram(datagram: Uint8Array, endpoint: Endpoint, peer: Peer | null): void {
    this.oneOffset[0] = 0;
    this.oneLength[0] = datagram.byteLength;
    const buffer = Buffer.from(datagram.buffer, datagram.byteOffset, datagram.byteLength);
    if (this.bind.send(buffer, this.oneOffset, this.oneLength, 1, endpoint) < 1) this.drops.add('sendFailed');
    else if (peer !== null) peer.txBytes += datagram.byteLength;
  }

  // ---------------------------------------------------------------------------------------------
  // Configuration (UAPI)

  snapshot(): UapiDeviceSnapshot {
    return this.state((peer, state) => ({ ...state, allowedIps: this.allowedIps.entriesFor(peer) }));
  }

  /** As snapshot(), with each peer's prefixes read from the routing table as get=1 writes them. */
  view(): UapiDeviceView {
    return this.state((peer, state) => ({ ...state, forEachAllowedIp: (visit) => this.allowedIps.forEachOf(peer, visit) }));
  }

  private state<P>(withPrefixes: (peer: Peer, state: Omit<UapiPeerSnapshot, 'allowedIps'>) => P): { privateKey: Uint8Array | null; listenPort: number; fwmark: number; peers: P[] } {
    const now = this.clock.now();
    const wallNow = this.clock.wallNow();
    const peers: P[] = [];
    for (const peer of this.peers.values()) {
      const session = peer.session;
      if (session !== null) this.noteHandshakeTime(peer, session, now, wallNow);
      let sec = 0;
      let nsec = 0;
      if (session !== null && session.lastHandshake !== null && peer.lastHandshakeWallMs > 0) {
        const wallMs = peer.lastHandshakeWallMs;
        sec = Math.floor(wallMs / 1000);
        nsec = Math.min(999_999_999, Math.round((wallMs - sec * 1000) * 1e6));
      }
      const unanswered = session?.unansweredSince ?? null;
      peers.push(withPrefixes(peer, {
        publicKey: Uint8Array.from(peer.publicKey),
        presharedKey: peer.presharedKey === null ? null : Uint8Array.from(peer.presharedKey),
        endpoint: peer.endpoint?.key ?? null,
        persistentKeepaliveInterval: peer.persistentKeepalive,
        lastHandshakeTimeSec: sec,
        lastHandshakeTimeNsec: nsec,
        rxBytes: session?.rxBytes ?? 0,
        txBytes: peer.txBytes,
        unansweredSinceMs: unanswered === null ? null : wallNow - (now - unanswered),
      }));
    }
    return {
      privateKey: this.local === null ? null : Uint8Array.from(this.local.privateKey),
      listenPort: this.bind.port(),
      fwmark: this.fwmark,
      peers,
    };
  }

  applySet(request: UapiSetRequest): UapiError | null {
    if (this.closed) return { errno: UAPI_EINVAL, message: 'the device is closed' };
    // Validate everything first: a request either applies whole or changes nothing.
    const invalid = this.validate(request);
    if (typeof invalid === 'object' && 'errno' in invalid) return invalid;
    const endpoints = invalid;

    // The listen port is the one change that can still fail (port taken), so it goes first.
    // As in wireguard-go and the kernel, listen_port=0 means "a new port of the system's
    // choosing" and rebinds even when a port is open; `wg setconf` and `wg syncconf` send it for
    // a file without ListenPort, so they move the port there too. The same non-zero port is kept
    // (the kernel returns early when the port is unchanged), so a re-sent port drops no traffic.
    if (request.listenPort !== undefined && (request.listenPort === 0 || request.listenPort !== this.bind.port())) {
      const previous = this.bind.port();
      try {
        this.bind.open(request.listenPort);
      } catch (error) {
        try {
          this.bind.open(previous);
        } catch {
          this.bind.open(0);
        }
        return { errno: UAPI_EADDRINUSE, message: `listen_port=${request.listenPort}: ${(error as Error).message}` };
      }
      this.logger.info(`${this.name}: listening on UDP port ${this.bind.port()}`);
      this.forgetSources();
    }
    if (request.fwmark !== undefined && request.fwmark !== this.fwmark) {
      this.fwmark = request.fwmark;
      this.bind.setMark(request.fwmark);
      this.forgetSources();
    }
    const now = this.clock.now();
    if (request.privateKey !== undefined) this.setPrivateKey(request.privateKey, now);
    if (request.replacePeers) for (const peer of [...this.peers.values()]) this.removePeer(peer);
    for (const change of request.peers) this.applyPeerChange(change, endpoints.get(change), now);
    this.afterBatch(now);
    return null;
  }

  /** New sockets or a new mark may route differently: every peer's sticky source goes (as in wireguard-go). */
  private forgetSources(): void {
    for (const peer of this.peers.values()) if (peer.endpoint !== null) peer.endpoint = peer.endpoint.withoutSource();
  }

  /** Checks what the UAPI parser cannot know; returns the parsed endpoints or the error. */
  private validate(request: UapiSetRequest): Map<UapiPeerChange, Endpoint> | UapiError {
    const fail = (message: string): UapiError => ({ errno: UAPI_EINVAL, message });
    if (request.privateKey !== undefined && request.privateKey.length !== 32) return fail('private_key: a key is 32 bytes');
    if (request.listenPort !== undefined && !(Number.isInteger(request.listenPort) && request.listenPort >= 0 && request.listenPort <= 65535)) {
      return fail('listen_port: must be 0..65535');
    }
    if (request.fwmark !== undefined && !(Number.isInteger(request.fwmark) && request.fwmark >= 0 && request.fwmark <= 0xffffffff)) {
      return fail('fwmark: must be 0..4294967295');
    }
    const endpoints = new Map<UapiPeerChange, Endpoint>();
    const known = new Set(request.replacePeers ? [] : this.peers.keys());
    for (const change of request.peers) {
      if (change.publicKey.length !== 32) return fail('public_key: a key is 32 bytes');
      const id = keyHex(change.publicKey);
      if (change.remove) {
        known.delete(id);
        continue;
      }
      if (!change.updateOnly) known.add(id);
      if (change.presharedKey !== undefined && change.presharedKey.length !== 32) return fail('preshared_key: a key is 32 bytes');
      if (change.endpoint !== undefined) {
        try {
          endpoints.set(change, this.bind.parseEndpoint(change.endpoint));
        } catch (error) {
          return fail(`endpoint: ${(error as Error).message}`);
        }
      }
      const keepalive = change.persistentKeepaliveInterval;
      if (keepalive !== undefined && !(Number.isInteger(keepalive) && keepalive >= 0 && keepalive <= 65535)) {
        return fail('persistent_keepalive_interval: must be 0..65535');
      }
      // allowed IPs need no check here: PrefixChanges takes only valid prefixes
    }
    if (known.size > MAX_PEERS) return fail(`public_key: too many peers (at most ${MAX_PEERS})`);
    return endpoints;
  }

  private setPrivateKey(given: Uint8Array, now: number): void {
    // Kept clamped, as wireguard-go and the kernel keep it (X25519 clamps anyway, so the key is
    // the same key): `wg showconf` then gives back what they give back.
    const privateKey = Uint8Array.from(given);
    privateKey[0]! &= 248;
    privateKey[31] = (privateKey[31]! & 127) | 64;
    const previous = this.local;
    if (previous !== null && keysEqual(previous.privateKey, privateKey)) return;
    if (isAllZero(given)) {
      this.local = null;
      this.handshakeFilter.setIdentity(null);
      for (const peer of this.peers.values()) this.dropSession(peer);
      wipeIdentity(previous);
      return;
    }
    const local = createLocalIdentity(this.crypto, privateKey);
    this.local = local;
    this.handshakeFilter.setIdentity(local);
    // A peer with our own public key would be ourselves: wireguard-go removes it.
    const self = this.peers.get(keyHex(local.publicKey));
    if (self !== undefined) this.removePeer(self);
    for (const peer of this.peers.values()) {
      if (peer.session === null) this.createSession(peer, now);
      else peer.session.setLocal(local);
      this.touch(peer);
    }
    // Nothing holds the old identity any more (checker and sessions were given the new one).
    wipeIdentity(previous);
  }

  private applyPeerChange(change: UapiPeerChange, endpoint: Endpoint | undefined, now: number): void {
    const id = keyHex(change.publicKey);
    let peer = this.peers.get(id);
    if (change.remove) {
      if (peer !== undefined) this.removePeer(peer);
      return;
    }
    // As wireguard-go: a peer with the device's own public key is ignored.
    if (this.local !== null && keysEqual(change.publicKey, this.local.publicKey)) return;
    if (peer === undefined) {
      if (change.updateOnly) return;
      peer = new Peer(change.publicKey);
      this.peers.set(id, peer);
      if (this.local !== null) this.createSession(peer, now);
      this.logger.debug(`${this.name}: ${peerName(peer)} created`);
    }
    if (change.presharedKey !== undefined) {
      peer.presharedKey?.fill(0);
      peer.presharedKey = isAllZero(change.presharedKey) ? null : Uint8Array.from(change.presharedKey);
      peer.session?.setPresharedKey(peer.presharedKey);
    }
    if (endpoint !== undefined) peer.endpoint = endpoint;
    if (change.persistentKeepaliveInterval !== undefined) {
      peer.persistentKeepalive = change.persistentKeepaliveInterval;
      peer.session?.setPersistentKeepalive(change.persistentKeepaliveInterval, now);
    }
    if (change.replaceAllowedIps) this.allowedIps.removeByValue(peer);
    const target = peer;
    change.allowedIps.forEach((family, address, bits, remove) => {
      if (remove) this.allowedIps.removePrefix(family, address, bits, target);
      else this.allowedIps.insertPrefix(family, address, bits, target);
    });
    this.touch(peer);
  }

  private createSession(peer: Peer, now: number): void {
    const local = this.local;
    if (local === null) return;
    const session = createPeerSession({
      crypto: this.crypto,
      local,
      remotePublicKey: peer.publicKey,
      presharedKey: peer.presharedKey,
      persistentKeepalive: peer.persistentKeepalive,
      indices: this.indices,
      now,
      mtu: this.mtu,
    });
    peer.session = session;
    this.peerBySession.set(session, peer);
  }

  private dropSession(peer: Peer): void {
    const session = peer.session;
    if (session === null) return;
    this.peerBySession.delete(session);
    session.destroy();
    peer.session = null;
    peer.deadline = Infinity;
  }

  private removePeer(peer: Peer): void {
    this.dropSession(peer);
    peer.presharedKey?.fill(0);
    peer.presharedKey = null;
    this.allowedIps.removeByValue(peer);
    this.peers.delete(peer.id);
    this.logger.debug(`${this.name}: ${peerName(peer)} removed`);
  }

  // ---------------------------------------------------------------------------------------------
  // Lifecycle and diagnostics

  rehandshakeAll(): void {
    if (this.closed) return;
    for (const peer of this.peers.values()) {
      peer.session?.requestHandshake();
      this.touch(peer);
    }
    this.afterBatch(this.clock.now());
  }

  /** Dropped packets by reason since the device started (for debugging and tests). */
  dropCounts(): Record<DropReason, number> {
    return this.drops.snapshot();
  }

  onClosed(listener: () => void): void {
    this.closedListeners.push(listener);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.handshakes.clear();
    this.tun.close();
    this.bind.close();
    for (const peer of this.peers.values()) this.dropSession(peer);
    this.peers.clear();
    this.allowedIps.clear();
    wipeIdentity(this.local);
    this.local = null;
    this.handshakeFilter.setIdentity(null);
    const report = this.drops.takeReport();
    if (report !== null) this.logger.debug(`${this.name}: dropped packets since the last report: ${report}`);
  }
}

function readUInt32LE(bytes: Uint8Array, offset: number): number {
  return (bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16) | (bytes[offset + 3]! << 24)) >>> 0;
}
