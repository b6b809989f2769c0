/**
 * What the device keeps per peer besides the protocol state: the endpoint it last heard the
 * peer from (or was told), its configuration as the UAPI reports it, and the per-batch list of
 * datagrams waiting to go out to it (so a TUN batch leaves as one send per peer).
 */
import type { Endpoint } from '../conn/bind.js';
import type { PeerSession } from '../noise/api.js';

export class Peer {
  readonly publicKey: Uint8Array;
  /** Hex of the public key: the key of the device's peer map. */
  readonly id: string;
  /** Null while the device has no private key: no session can exist without one. */
  session: PeerSession | null = null;
  endpoint: Endpoint | null = null;
  presharedKey: Uint8Array | null = null;
  /** Seconds, 0 = off. */
  persistentKeepalive = 0;
  /** Bytes of the datagrams the OS accepted for this peer (wg's tx_bytes; not what was dropped). */
  txBytes = 0;
  /**
   * Wall clock (Unix ms) of the last completed handshake, taken when the device saw it complete:
   * the monotonic clock stops during sleep, so converting later would make an old handshake
   * look fresh after a wake. 0 when none.
   */
  lastHandshakeWallMs = 0;
  /** The session's monotonic lastHandshake the wall time above belongs to. */
  lastHandshakeSeen: number | null = null;

  /** Datagrams encrypted in place in the current TUN batch, waiting for one send. */
  txOffsets = new Int32Array(16);
  txLengths = new Int32Array(16);
  txCount = 0;
  /** Whether the peer is on the device's list of peers to poll after the current batch. */
  touched = false;
  /** The deadline the scheduler last saw for this peer. */
  deadline = Infinity;

  constructor(publicKey: Uint8Array) {
    this.publicKey = Uint8Array.from(publicKey);
    this.id = Buffer.from(publicKey).toString('hex');
  }

  /** Queues the datagram at buffer[offset, offset+length) for this batch's send. */
  queueDatagram(offset: number, length: number): void {
    if (this.txCount === this.txOffsets.length) {
      const offsets = new Int32Array(this.txCount * 2);
      const lengths = new Int32Array(this.txCount * 2);
      offsets.set(this.txOffsets);
      lengths.set(this.txLengths);
      this.txOffsets = offsets;
      this.txLengths = lengths;
    }
    this.txOffsets[this.txCount] = offset;
    this.txLengths[this.txCount] = length;
    this.txCount++;
  }
}
