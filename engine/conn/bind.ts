/**
 * The UDP underlay: where encrypted WireGuard messages come from and go to.
 *
 * Like the TUN side, datagrams move in batches inside one buffer (see engine/tun/tun.ts for
 * the batch contract) so the host can use recvmmsg/sendmmsg where the OS has them.
 *
 * Implementations: udp-bind.ts over the native addon (IPv4 and IPv6 sockets, SO_MARK on
 * Linux), memory-bind.ts for tests.
 */
import type { PacketBatch } from '../packet-buffer.js';

/** A remote UDP address. Opaque to the protocol; compare with `key`. */
export interface Endpoint {
  readonly family: 4 | 6;
  /** Textual IP address: "192.0.2.1" or "2001:db8::1" (no brackets). */
  readonly address: string;
  readonly port: number;
  /** "192.0.2.1:51820" or "[2001:db8::1]:51820": unique per endpoint, as `wg` prints it. */
  readonly key: string;
  /** The IP address as 4 or 16 bytes (cookies bind it with the port; the handshake rate limit keys on it). */
  readonly addressBytes: Uint8Array;
  /**
   * Sticky source: the local address datagrams to this endpoint leave from, the one the peer
   * wrote to when we heard from it there ("192.0.2.1", "2001:db8::1"); null lets routing choose.
   */
  readonly sourceAddress: string | null;
  /** The same remote endpoint without a sticky source (itself when it has none); allocates at most once. */
  withoutSource(): Endpoint;
}

/** A batch of received datagrams: `endpoints[i]` is the sender of datagram i. */
export interface DatagramBatch extends PacketBatch {
  readonly endpoints: Endpoint[];
}

export interface Bind {
  /**
   * Opens the sockets on `port` (0: the OS picks) for IPv4 and IPv6 and returns the port in
   * use. Reopening closes the old sockets first. Throws with a clear message if the port is taken.
   */
  open(port: number): number;
  /** The port in use, 0 when closed. */
  port(): number;
  /** Sets SO_MARK on every socket (Linux; 0 clears it). Applies to sockets opened later too. */
  setMark(mark: number): void;
  /** Starts delivering received datagrams on the event loop. */
  start(onDatagrams: (batch: DatagramBatch) => void): void;
  /**
   * Sends `count` datagrams located in `buffer` to `endpoint`. Never blocks; what the OS
   * refuses is dropped. Returns how many were sent.
   */
  send(buffer: Buffer, offsets: Int32Array, lengths: Int32Array, count: number, endpoint: Endpoint): number;
  /**
   * Sends datagram i to the sender record i of `destinations` (SOURCE_RECORD_BYTES each, the
   * layout the native bind writes for received datagrams), in as few system calls as the OS
   * allows: answers to many senders at once (cookie replies under a flood). Never blocks; returns
   * how many were sent.
   */
  sendEach(buffer: Buffer, offsets: Int32Array, lengths: Int32Array, count: number, destinations: Uint8Array): number;
  /** Parses "host:port" / "[v6]:port" with a literal IP into an Endpoint; throws on anything else. */
  parseEndpoint(text: string): Endpoint;
  close(): void;
}
