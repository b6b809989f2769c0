/**
 * The TUN device as the engine sees it: the overlay side, carrying IP packets.
 *
 * Packets travel in batches inside one buffer so the data path neither allocates nor crosses
 * into native code once per packet. Every packet slot has HEADROOM bytes free before the packet
 * and TAILROOM bytes free after it, so the device can encrypt in place: the WireGuard header
 * goes into the headroom, padding and the tag into the tailroom.
 *
 * Implementations: tun-linux.ts (/dev/net/tun), tun-darwin.ts (utun), tun-win32.ts (Wintun),
 * all over the addon in ./native; memory-tun.ts for tests.
 */

/** Bytes free before each packet: a transport header (16). */
export const HEADROOM = 16;
/** Bytes free after each packet: up to 15 of padding and the 16-byte tag, rounded up. */
export const TAILROOM = 32;

/**
 * A batch of packets. `offsets[i]` and `lengths[i]` for i < count locate packet i in `buffer`.
 * The batch and its buffer belong to the producer and are reused once the callback that
 * received them returns: copy what you keep.
 */
export interface PacketBatch {
  readonly buffer: Buffer;
  readonly offsets: Int32Array;
  readonly lengths: Int32Array;
  count: number;
}

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
