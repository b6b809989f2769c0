/**
 * An in-memory TUN device for tests: the test plays the operating system.
 *
 * `inject` hands packets to the device as one batch laid out exactly as a real TUN batch is
 * (HEADROOM before and TAILROOM after each packet, all in one buffer); what the device writes
 * back is copied into `written` and announced to `onWrite` listeners. `remove` plays
 * `ip link del`.
 */
import { HEADROOM, TAILROOM, type PacketBatch } from '../packet-buffer.js';
import type { TunDevice } from './tun.js';


/**
 * A plain Uint8Array copy of bytes[start, end). Not `.slice()`: on a Buffer that returns a view
 * of memory its producer reuses, and a copy made by Uint8Array's slice is still a Buffer.
 */
function copyBytes(bytes: Uint8Array, start: number, end: number): Uint8Array {
  const out = new Uint8Array(end - start);
  out.set(bytes.subarray(start, end));
  return out;
}

export class MemoryTun implements TunDevice {
  readonly name: string;
  /** Every packet the device wrote to the "OS", in order (copies). */
  readonly written: Uint8Array[] = [];
  private readonly mtuValue: number;
  private onPackets: ((batch: PacketBatch) => void) | null = null;
  private readonly closedListeners: Array<() => void> = [];
  private readonly writeListeners: Array<(packet: Uint8Array) => void> = [];
  private closed = false;

  constructor(name = 'mem0', mtu = 1420) {
    this.name = name;
    this.mtuValue = mtu;
  }

  mtu(): number {
    return this.mtuValue;
  }

  start(onPackets: (batch: PacketBatch) => void): void {
    this.onPackets = onPackets;
  }

  /** Delivers `packets` to the device in one batch, synchronously. */
  inject(packets: Uint8Array[]): void {
    if (this.closed || this.onPackets === null) return;
    const slot = (p: Uint8Array) => HEADROOM + p.length + TAILROOM;
    const total = packets.reduce((sum, p) => sum + slot(p), 0);
    const buffer = Buffer.alloc(total);
    const offsets = new Int32Array(packets.length);
    const lengths = new Int32Array(packets.length);
    let at = 0;
    packets.forEach((p, i) => {
      offsets[i] = at + HEADROOM;
      lengths[i] = p.length;
      buffer.set(p, at + HEADROOM);
      at += slot(p);
    });
    this.onPackets({ buffer, offsets, lengths, count: packets.length });
    // The batch is the producer's again: scribble over it so a consumer that kept a view fails loudly.
    buffer.fill(0xee);
  }

  write(buffer: Buffer, offsets: Int32Array, lengths: Int32Array, count: number): number {
    if (this.closed) return 0;
    for (let i = 0; i < count; i++) {
      const off = offsets[i]!;
      const packet = copyBytes(buffer, off, off + lengths[i]!);
      this.written.push(packet);
      for (const listener of this.writeListeners) listener(packet);
    }
    return count;
  }

  /** Calls `listener` with a copy of each packet the device writes. */
  onWrite(listener: (packet: Uint8Array) => void): void {
    this.writeListeners.push(listener);
  }

  onClosed(listener: () => void): void {
    this.closedListeners.push(listener);
  }

  /** Plays `ip link del`: the interface vanishes under the device. */
  remove(): void {
    if (this.closed) return;
    this.closed = true;
    for (const listener of this.closedListeners) listener();
  }

  isClosed(): boolean {
    return this.closed;
  }

  close(): void {
    this.closed = true;
    this.onPackets = null;
  }
}
