/**
 * Session keypairs (whitepaper §5.4.5) and the three slots a peer keeps them in.
 *
 * A keypair holds the transport keys of one completed handshake, its send counter, its replay
 * window, when it was made and by which side. A peer keeps up to three (wireguard-go and the
 * kernel do the same):
 *
 *   current   what we send with;
 *   previous  the one before, still accepted on receive so packets in flight across a rekey
 *             are not lost;
 *   next      the responder's fresh keypair: the responder must not send with it before the
 *             initiator has proved it holds it (key confirmation), so it waits here and becomes
 *             current on the first transport message received with it.
 */
import { ReplayWindow } from './replay.js';

export class Keypair {
  /** Next counter to send, as two 32-bit words (counters are 64-bit on the wire). */
  sendCounterLo = 0;
  sendCounterHi = 0;
  readonly replay = new ReplayWindow();

  constructor(
    readonly sendKey: Uint8Array,
    readonly receiveKey: Uint8Array,
    /** Monotonic ms at derivation. */
    readonly created: number,
    readonly isInitiator: boolean,
    /** Our index: transport messages to us carry it as their receiver. */
    readonly localIndex: number,
    /** Their index: the receiver field of what we send. */
    readonly remoteIndex: number,
  ) {}

  /** Send counter as a number; exact below 2^53 (far beyond any real session). */
  get sendCounter(): number {
    return this.sendCounterHi * 0x100000000 + this.sendCounterLo;
  }

  /** Zeroes both keys. */
  wipe(): void {
    this.sendKey.fill(0);
    this.receiveKey.fill(0);
  }
}

/** The current / previous / next slots, with the rotation rules of wireguard-go's keypair.go. */
export class KeypairSlots {
  current: Keypair | null = null;
  previous: Keypair | null = null;
  next: Keypair | null = null;

  /** The keypair whose local index is `index`, if we hold one. */
  find(index: number): Keypair | null {
    if (this.current !== null && this.current.localIndex === index) return this.current;
    if (this.next !== null && this.next.localIndex === index) return this.next;
    if (this.previous !== null && this.previous.localIndex === index) return this.previous;
    return null;
  }

  /**
   * Installs a fresh keypair and returns those it displaced, for the caller to wipe and free.
   * Initiator: the new one becomes current at once (the response confirmed the responder holds
   * it); an unconfirmed `next` becomes previous instead of the old current. Responder: the new
   * one waits in `next`; previous is dropped so at most three keypairs ever live.
   */
  install(keypair: Keypair): Keypair[] {
    const dropped: Keypair[] = [];
    if (keypair.isInitiator) {
      if (this.next !== null) {
        if (this.current !== null) dropped.push(this.current);
        if (this.previous !== null) dropped.push(this.previous);
        this.previous = this.next;
        this.next = null;
      } else {
        if (this.previous !== null) dropped.push(this.previous);
        this.previous = this.current;
      }
      this.current = keypair;
    } else {
      if (this.next !== null) dropped.push(this.next);
      if (this.previous !== null) dropped.push(this.previous);
      this.next = keypair;
      this.previous = null;
    }
    return dropped;
  }

  /**
   * A transport message authenticated with `next`: the initiator has confirmed it, so it becomes
   * current. Returns the keypair that fell out (the old previous), if any.
   */
  confirmNext(): Keypair | null {
    const keypair = this.next;
    if (keypair === null) return null;
    const dropped = this.previous;
    this.previous = this.current;
    this.current = keypair;
    this.next = null;
    return dropped;
  }

  /** Removes and returns every keypair. */
  clear(): Keypair[] {
    const all: Keypair[] = [];
    if (this.current !== null) all.push(this.current);
    if (this.previous !== null) all.push(this.previous);
    if (this.next !== null) all.push(this.next);
    this.current = this.previous = this.next = null;
    return all;
  }
}
