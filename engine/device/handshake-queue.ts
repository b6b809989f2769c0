/**
 * Handshake messages waiting for the slow path (the Diffie-Hellman), in arrival order.
 *
 * Only messages the handshake filter passed get here (handshake-filter.ts: size, mac1, and
 * under load mac2 and the rate limiter). The device copies them into this bounded queue and
 * works through it in slices between I/O callbacks, so handshakes cannot starve transport
 * packets; the queue's length is one of the filter's signs of being under load.
 */
import type { Endpoint } from '../conn/bind.js';
import { MAX_QUEUED_HANDSHAKES } from '../noise/constants.js';

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

  get length(): number {
    return this.items.length - this.head;
  }

  /** Copies the message and queues it; false (dropped) when the queue is full. */
  push(buffer: Uint8Array, offset: number, length: number, from: Endpoint): boolean {
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

  clear(): void {
    this.items = [];
    this.head = 0;
  }
}
