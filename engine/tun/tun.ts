/**
 * The TUN device as the engine sees it: the overlay side, carrying IP packets in batches laid
 * out as engine/packet-buffer.ts describes (headroom and tailroom around each packet, so the
 * device encrypts in place).
 *
 * Implementations: tun-linux.ts (/dev/net/tun), tun-darwin.ts (utun), tun-win32.ts (Wintun),
 * all over the addon in engine/native; memory-tun.ts for tests.
 */
import type { PacketBatch } from '../packet-buffer.js';

export interface TunDevice {
  /** The interface name the OS gave (utunN on macOS). */
  readonly name: string;
  /** The MTU currently set on the interface. */
  mtu(): number;
  /**
   * Starts reading. `onPackets` is called on the event loop (never from another thread) with
   * each batch read; reading is readiness-driven, not a blocking read per packet.
   */
  start(onPackets: (batch: PacketBatch) => void): void;
  /**
   * Writes `count` packets located in `buffer` by `offsets`/`lengths` to the interface.
   * Never blocks; packets the OS refuses are dropped. Returns how many were written.
   */
  write(buffer: Buffer, offsets: Int32Array, lengths: Int32Array, count: number): number;
  /** Called once if the interface disappears under us (deleted with `ip link del`). */
  onClosed(listener: () => void): void;
  /** Stops reading and closes the device; idempotent. */
  close(): void;
}

/** Opens or creates a TUN interface named `name` ("utun" on macOS lets the kernel choose). */
export type OpenTun = (name: string, mtu: number) => TunDevice;
