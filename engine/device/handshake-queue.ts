/**
 * Handshake messages waiting for the slow path, and whether the device is "under load".
 *
 * Handshake messages cost Diffie-Hellman operations; transport messages cost one AEAD. So the
 * device copies handshake messages into this bounded queue and works through it in slices
 * between I/O callbacks, and when too many arrive it demands proof of address (mac2, via a
 * cookie reply) before spending a DH on anyone (whitepaper §5.3, "under load").
 *
 * Under load (as wireguard-go decides it, extended to arrival rate): the queue holds at least
 * UNDER_LOAD_THRESHOLD messages, or more than UNDER_LOAD_THRESHOLD arrived within the current
 * window of UNDER_LOAD_AFTER_TIME; once under load, the device stays so for UNDER_LOAD_AFTER_TIME.
 * Counting arrivals matters because this process drains the queue between I/O callbacks: a
 * flood can cost a DH each while the queue itself never grows long.
 */
import type { Endpoint } from '../conn/bind.js';
import { MAX_QUEUED_HANDSHAKES, UNDER_LOAD_AFTER_TIME, UNDER_LOAD_THRESHOLD } from '../noise/constants.js';


/**
 * A plain Uint8Array copy of bytes[start, end). Not `.slice()`: on a Buffer that returns a view
 * of memory its producer reuses, and a copy made by Uint8Array's slice is still a Buffer.
 */
function copyBytes(bytes: Uint8Array, start: number, end: number): Uint8Array {
  const out = new Uint8Array(end - start);
  out.set(bytes.subarray(start, end));
  return out;
}

export interface QueuedHandshake {
  readonly message: Uint8Array;
  readonly from: Endpoint;
}

export class HandshakeQueue {
  private items: QueuedHandshake[] = [];
  private head = 0;
  private windowStart = -Infinity;
  private arrivedInWindow = 0;
  private underLoadUntil = -Infinity;

  get length(): number {
    return this.items.length - this.head;
  }

  /** Copies the message and queues it; false (dropped) when the queue is full. */
  push(buffer: Uint8Array, offset: number, length: number, from: Endpoint, now: number): boolean {
    if (now - this.windowStart >= UNDER_LOAD_AFTER_TIME) {
      this.windowStart = now;
      this.arrivedInWindow = 0;
    }
    this.arrivedInWindow++;
    if (this.length >= MAX_QUEUED_HANDSHAKES) return false;
    // A copy: the bind reuses its buffer once the batch callback returns.
    this.items.push({ message: copyBytes(buffer, offset, offset + length), from });
    return true;
  }

  shift(): QueuedHandshake | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head]!;
    this.head++;
    // Compact now and then instead of Array.shift (which is O(n) per call).
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  isUnderLoad(now: number): boolean {
    if (this.length >= UNDER_LOAD_THRESHOLD || (now - this.windowStart < UNDER_LOAD_AFTER_TIME && this.arrivedInWindow > UNDER_LOAD_THRESHOLD)) {
      this.underLoadUntil = now + UNDER_LOAD_AFTER_TIME;
    }
    return now < this.underLoadUntil;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }
}
