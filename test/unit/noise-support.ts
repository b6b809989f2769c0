/**
 * Shared by the noise-*.test.ts files: both crypto backends, hex helpers and a pair of PeerSessions joined in memory with a hand-stepped clock.
 */
import { loadCryptoBackend, sodiumAvailability } from '../../engine/crypto/index.js';
import type { CryptoBackend } from '../../engine/crypto/backend.js';
import type { PeerSession } from '../../engine/noise/api.js';
import { HEADROOM, TAILROOM } from '../../engine/packet-buffer.js';
import { consumeInitiation, createLocalIdentity, type NoiseIdentity } from '../../engine/noise/handshake.js';
import { DeviceCookieChecker } from '../../engine/noise/cookie.js';
import { messageType, readU32 } from '../../engine/noise/messages.js';
import { NoisePeerSession } from '../../engine/noise/peer-session.js';
import { RandomIndexTable } from '../../engine/device/index-table.js';

export function hex(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text, 'hex'));
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** The backends to run every protocol test with; sodium is skipped (with its reason) where it cannot load. */
export function backends(): Array<{ name: string; crypto: CryptoBackend | null; skip: string | false }> {
  const sodium = sodiumAvailability();
  return [
    { name: 'noble', crypto: loadCryptoBackend('noble'), skip: false },
    sodium.available
      ? { name: 'sodium', crypto: loadCryptoBackend('sodium'), skip: false }
      : { name: 'sodium', crypto: null, skip: `sodium-native unavailable: ${sodium.reason}` },
  ];
}

// --- Two peers joined in memory ------------------------------------------------------------------

export interface Sent {
  from: 'a' | 'b';
  at: number;
  type: number;
  bytes: Uint8Array;
}

/** One side: its identity, its device-level index table and cookie checker, its session with the other. */
export class Side {
  /** The device's own index table, as the Device uses it. */
  readonly table: RandomIndexTable<PeerSession>;
  readonly checker: DeviceCookieChecker;
  session!: NoisePeerSession;
  /** Plaintexts delivered to this side's TUN. */
  readonly received: Uint8Array[] = [];
  /** When set, handshake messages must carry a valid mac2 (the device is under load). */
  underLoad = false;
  constructor(
    readonly name: 'a' | 'b',
    readonly crypto: CryptoBackend,
    readonly identity: NoiseIdentity,
  ) {
    this.table = new RandomIndexTable<PeerSession>(crypto);
    this.checker = new DeviceCookieChecker(crypto, identity);
  }
}

export interface PairOptions {
  psk?: [Uint8Array | null, Uint8Array | null];
  persistentKeepalive?: [number, number];
}

/**
 * Two sessions and a lossless, instantaneous network between them, driven by a hand-stepped
 * clock. Links can be cut per direction; every datagram put on the wire is recorded.
 */
export class Pair {
  now = 1_000_000;
  wall = 1_700_000_000_000;
  readonly a: Side;
  readonly b: Side;
  readonly wire: Sent[] = [];
  /** Directions that drop everything: 'a' drops what a sends, 'b' what b sends. */
  readonly cut = new Set<'a' | 'b'>();
  /** Source address bytes each side is seen from (cookie binding). */
  readonly address = { a: Uint8Array.of(192, 0, 2, 1, 0xca, 0x6c), b: Uint8Array.of(192, 0, 2, 2, 0xca, 0x6c) };

  constructor(readonly crypto: CryptoBackend, options: PairOptions = {}) {
    this.a = new Side('a', crypto, createLocalIdentity(crypto, crypto.generatePrivateKey()));
    this.b = new Side('b', crypto, createLocalIdentity(crypto, crypto.generatePrivateKey()));
    const psk = options.psk ?? [null, null];
    const pka = options.persistentKeepalive ?? [0, 0];
    this.a.session = new NoisePeerSession({
      crypto, local: this.a.identity, remotePublicKey: this.b.identity.publicKey,
      presharedKey: psk[0], persistentKeepalive: pka[0], indices: this.a.table, now: this.now,
    });
    this.b.session = new NoisePeerSession({
      crypto, local: this.b.identity, remotePublicKey: this.a.identity.publicKey,
      presharedKey: psk[1], persistentKeepalive: pka[1], indices: this.b.table, now: this.now,
    });
  }

  other(side: Side): Side {
    return side === this.a ? this.b : this.a;
  }

  /** Puts a datagram from `from` on the wire and, unless the link is cut, delivers it. */
  transmit(from: Side, datagram: Uint8Array): void {
    const bytes = datagram.slice();
    this.wire.push({ from: from.name, at: this.now, type: readU32(bytes, 0), bytes });
    if (!this.cut.has(from.name)) this.deliver(this.other(from), bytes, this.address[from.name]);
  }

  /** What a device does with a datagram that arrived for `to`. Returns whether it was accepted. */
  deliver(to: Side, bytes: Uint8Array, source: Uint8Array = this.address[this.other(to).name]): boolean {
    const type = messageType(bytes, 0, bytes.length);
    if (type === 1 || type === 2) {
      if (!to.checker.checkMac1(bytes)) return false;
      if (to.underLoad && !to.checker.checkMac2(bytes, source, this.now)) {
        this.transmit(to, to.checker.createReply(bytes, source, this.now));
        return false;
      }
    }
    if (type === 1) {
      const consumed = consumeInitiation(this.crypto, to.identity, bytes);
      if (consumed === null) return false;
      const response = to.session.receiveInitiation(consumed, this.now);
      if (response === null) return false;
      this.transmit(to, response);
      return true;
    }
    if (type === 2 || type === 3 || type === 4) {
      const owner = to.table.lookup(readU32(bytes, type === 2 ? 8 : 4));
      if (owner !== to.session) return false;
      if (type === 2) return to.session.receiveResponse(bytes, this.now);
      if (type === 3) return to.session.receiveCookieReply(bytes, this.now);
      const n = to.session.decrypt(bytes, 0, bytes.length, this.now);
      if (n < 0) return false;
      if (n > 0) to.received.push(bytes.slice(16, 16 + n));
      return true;
    }
    return false;
  }

  /** Sends an IP packet from `from` through its TUN side. Returns encrypt's result. */
  send(from: Side, payload: Uint8Array): number {
    const buffer = new Uint8Array(HEADROOM + payload.length + TAILROOM);
    buffer.set(payload, HEADROOM);
    const n = from.session.encrypt(buffer, HEADROOM, payload.length, this.now);
    if (n > 0) this.transmit(from, buffer.subarray(0, n));
    this.pump();
    return n;
  }

  /** Polls both sessions until neither has anything due now (bounded). */
  pump(): void {
    for (let round = 0; round < 1000; round++) {
      let moved = false;
      for (const side of [this.a, this.b]) {
        for (let datagram = side.session.poll(this.now, this.wall); datagram !== null; datagram = side.session.poll(this.now, this.wall)) {
          this.transmit(side, datagram);
          moved = true;
        }
      }
      if (!moved) return;
    }
    throw new Error('pump did not settle');
  }

  /** Advances the clock by `ms`, waking at every deadline on the way as a device would. */
  advance(ms: number): void {
    const target = this.now + ms;
    for (let i = 0; i < 100_000; i++) {
      const next = Math.min(this.a.session.nextDeadline(), this.b.session.nextDeadline());
      if (next > target) break;
      const step = Math.max(next, this.now) - this.now;
      this.now += step;
      this.wall += step;
      this.pump();
    }
    this.wall += target - this.now;
    this.now = target;
    this.pump();
  }

  /** Datagrams of `type` sent by `from` since index `since` of the wire log. */
  sent(from: 'a' | 'b', type: number, since = 0): Sent[] {
    return this.wire.slice(since).filter((s) => s.from === from && s.type === type);
  }

  /** a initiates (by sending `payload`) and the handshake completes. */
  connect(payload = Uint8Array.of(0x45, 1, 2, 3)): void {
    this.send(this.a, payload);
    this.pump();
  }
}
