/**
 * The packet-buffer layout shared by the TUN side, the UDP side and the protocol core.
 *
 * Packets travel in batches inside one buffer so the data path neither allocates nor crosses
 * into native code once per packet. Every packet slot has HEADROOM bytes free before the packet
 * and TAILROOM bytes free after it, so a packet is encrypted in place: the WireGuard transport
 * header goes into the headroom, padding and the tag into the tailroom (noise/peer-session.ts),
 * and the datagram that results is sent from the same slot (conn/).
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
