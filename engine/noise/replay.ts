/**
 * The receive-side replay window (whitepaper §5.4.6; RFC 6479's sliding bitmap), with the
 * semantics of the Linux kernel's counter_validate and wireguard-go's replay.Filter:
 *
 * - a bitmap of 8192 bits in a ring of words; the window accepts counters no more than
 *   REPLAY_WINDOW_SIZE (8192 - 64 = 8128) below the greatest counter accepted so far;
 * - counters >= REJECT_AFTER_MESSAGES are refused;
 * - it is consulted only after the packet authenticated, so forged counters cannot move it.
 *
 * Counters are 64-bit. JavaScript numbers are exact only below 2^53 and bitwise operators work
 * on 32 bits, so a counter travels as two unsigned 32-bit words (lo, hi), exactly as it lies in
 * the transport header. Our words are 32 bits where the kernel's are 64, which changes which
 * bits get cleared but not a single accept/refuse decision: everything inside the 8128-packet
 * window stays within the 256-word ring (8128 / 32 = 254 words behind the newest).
 */
import { REPLAY_WINDOW_SIZE } from './constants.js';

const WORD_BITS = 32;
const LOG_WORD_BITS = 5;
const RING_WORDS = 8192 / WORD_BITS; // 256
const RING_MASK = RING_WORDS - 1;
const TWO_32 = 0x100000000;
/** REJECT_AFTER_MESSAGES = 2^64 - 2^13 - 1 as (hi, lo) words. */
const REJECT_HI = 0xffffffff;
const REJECT_LO = 0xffffdfff;

export class ReplayWindow {
  private readonly ring = new Uint32Array(RING_WORDS);
  /** The kernel's receive.counter: greatest accepted counter + 1, 0 before any (hi, lo). */
  private topLo = 0;
  private topHi = 0;

  /** Forgets everything (a new keypair). */
  reset(): void {
    this.ring.fill(0);
    this.topLo = 0;
    this.topHi = 0;
  }

  /**
   * Accepts counter (hi·2^32 + lo) if it is below REJECT_AFTER_MESSAGES, inside the window
   * and not seen before, and records it; false otherwise. Call only for authenticated packets.
   */
  validate(lo: number, hi: number): boolean {
    // "counters >= REJECT_AFTER_MESSAGES are refused"
    if (hi === REJECT_HI && lo >= REJECT_LO) return false;
    // Work with counter + 1, as the kernel does, so that counter 0 is distinguishable from "none".
    lo += 1;
    if (lo === TWO_32) {
      lo = 0;
      hi += 1;
    }
    const topLo = this.topLo;
    const topHi = this.topHi;
    if (hi > topHi || (hi === topHi && lo > topLo)) {
      // Newer than anything seen: slide the window, clearing the words between.
      let wordsAhead: number;
      if (hi === topHi) wordsAhead = (lo >>> LOG_WORD_BITS) - (topLo >>> LOG_WORD_BITS);
      else if (hi - topHi === 1) wordsAhead = TWO_32 / WORD_BITS + (lo >>> LOG_WORD_BITS) - (topLo >>> LOG_WORD_BITS);
      else wordsAhead = RING_WORDS;
      if (wordsAhead > RING_WORDS) wordsAhead = RING_WORDS;
      const current = topLo >>> LOG_WORD_BITS;
      for (let i = 1; i <= wordsAhead; i++) this.ring[(current + i) & RING_MASK] = 0;
      this.topLo = lo;
      this.topHi = hi;
    } else {
      // Older or equal: refuse it if it fell out of the window ("counter + WINDOW < top").
      let behind: number;
      if (hi === topHi) behind = topLo - lo;
      else if (topHi - hi === 1) behind = topLo + TWO_32 - lo;
      else return false;
      if (behind > REPLAY_WINDOW_SIZE) return false;
    }
    const word = (lo >>> LOG_WORD_BITS) & RING_MASK;
    const bit = 1 << (lo & (WORD_BITS - 1));
    const old = this.ring[word]!;
    if ((old & bit) !== 0) return false;
    this.ring[word] = old | bit;
    return true;
  }
}

/** Splits a bigint counter into the (lo, hi) words validate takes; for tests and tools. */
export function counterWords(counter: bigint): [lo: number, hi: number] {
  return [Number(counter & 0xffffffffn), Number((counter >> 32n) & 0xffffffffn)];
}
