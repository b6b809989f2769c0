/**
 * The UDP underlay over the wirelane_io addon: an IPv4 and an IPv6 socket on one port,
 * batched receive into one slot buffer (recvmmsg on Linux, a receive loop on macOS and Windows),
 * batched send to one endpoint (sendmmsg and UDP GSO on Linux; UDP GRO on receive), SO_MARK for wg-quick's policy
 * routing where the OS has it. The addon's halves: src/udp_posix.c and src/udp_win32.c.
 *
 * Received datagrams carry no headroom (offsets point at the message); the slot room is
 * `maxDatagramSize`, and larger datagrams are dropped and counted by the addon.
 */
import type { Logger } from '../logger.js';
import { silentLogger } from '../logger.js';
import { ioAddon, SOURCE_RECORD_BYTES, type IoAddon, type IoStats, type UdpHandle } from '../native/addon.js';
import type { Bind, DatagramBatch, Endpoint } from './bind.js';
import { EndpointCache, parseEndpoint, UdpEndpoint } from './endpoint.js';

/** Datagrams read per readiness event, at most. */
export const DEFAULT_UDP_BATCH = 128;
/**
 * Largest datagram kept by default: a data message for an inner MTU of up to 9168 (jumbo
 * frames). 128 slots of it are 1.2 MB; raise it with `maxDatagramSize` if peers use more.
 */
export const DEFAULT_MAX_DATAGRAM = 9216;
/** Datagrams one callback may carry: 16 UDP GRO messages of up to 64 datagrams each. */
const UDP_GRO_ENTRIES = 1024;

export interface UdpBindOptions {
  logger?: Logger;
  /** Datagrams per batch, 1 to 1024 (default 128). */
  batchSize?: number;
  /** Largest datagram received, up to 65535 (default 9216). */
  maxDatagramSize?: number;
}

interface Receiver {
  batch: DatagramBatch & { endpoints: Endpoint[] };
  sources: Uint8Array;
  slotSize: number;
}

export class UdpBind implements Bind {
  private readonly addon: IoAddon;
  private readonly logger: Logger;
  private readonly batchSize: number;
  private readonly maxDatagramSize: number;
  private readonly endpoints = new EndpointCache();
  private handle: UdpHandle | undefined;
  private mark = 0;
  private onDatagrams: ((batch: DatagramBatch) => void) | undefined;
  private receiver: Receiver | undefined;

  constructor(options: UdpBindOptions = {}, addon: IoAddon = ioAddon()) {
    if (typeof addon.udpOpen !== 'function') {
      // An addon built from older sources; every platform's build has the UDP functions now.
      throw new Error('the wirelane_io addon has no UDP functions: rebuild it (npm rebuild)');
    }
    this.addon = addon;
    this.logger = options.logger ?? silentLogger;
    this.batchSize = options.batchSize ?? DEFAULT_UDP_BATCH;
    this.maxDatagramSize = options.maxDatagramSize ?? DEFAULT_MAX_DATAGRAM;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1 || this.batchSize > 1024) {
      throw new RangeError(`UDP batch size must be 1 to 1024, not ${this.batchSize}`);
    }
    if (!Number.isInteger(this.maxDatagramSize) || this.maxDatagramSize < 148 || this.maxDatagramSize > 65535) {
      throw new RangeError(`largest UDP datagram must be 148 to 65535 bytes, not ${this.maxDatagramSize}`);
    }
  }

  open(port: number): number {
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`UDP port must be 0 to 65535, not ${port}`);
    this.closeSockets();
    const handle = this.addon.udpOpen(port, this.mark); // throws Error with code EADDRINUSE etc.
    this.handle = handle;
    const families = this.addon.udpFamilies(handle);
    const bound = this.addon.udpPort(handle);
    this.logger.debug(`UDP listening on port ${bound} (${families & 1 ? 'IPv4' : ''}${families === 3 ? ' and ' : ''}${families & 2 ? 'IPv6' : ''})`);
    if (this.onDatagrams) this.startReceiving(handle);
    return bound;
  }

  port(): number {
    return this.handle ? this.addon.udpPort(this.handle) : 0;
  }

  setMark(mark: number): void {
    if (!Number.isInteger(mark) || mark < 0 || mark > 0xffffffff) throw new RangeError(`fwmark must be 0 to 4294967295, not ${mark}`);
    if (this.handle) this.addon.udpSetMark(this.handle, mark);
    this.mark = mark;
  }

  /** The mark the kernel holds on the socket of `family` (0 where marks do not exist). */
  markInKernel(family: 4 | 6): number {
    return this.handle ? this.addon.udpGetMark(this.handle, family) : 0;
  }

  start(onDatagrams: (batch: DatagramBatch) => void): void {
    this.onDatagrams = onDatagrams;
    if (this.handle) this.startReceiving(this.handle);
  }

  send(buffer: Buffer, offsets: Int32Array, lengths: Int32Array, count: number, endpoint: Endpoint): number {
    if (!this.handle || count <= 0) return 0;
    // Sticky source: from the local address the peer wrote to, until the OS refuses it.
    const source = endpoint instanceof UdpEndpoint && !endpoint.sourceRefused ? endpoint.sourceBytes : null;
    if (source === null) return this.addon.udpSend(this.handle, buffer, offsets, lengths, count, endpoint.family, endpoint.addressBytes, endpoint.port);
    const sent = this.addon.udpSend(this.handle, buffer, offsets, lengths, count, endpoint.family, endpoint.addressBytes, endpoint.port,
      source, (endpoint as UdpEndpoint).sourceIfindex);
    if (sent >= 0) return sent;
    (endpoint as UdpEndpoint).sourceRefused = true;
    this.logger.debug(`UDP: the source ${endpoint.sourceAddress} for ${endpoint.key} was refused; sending without it`);
    return -sent - 1;
  }

  sendEach(buffer: Buffer, offsets: Int32Array, lengths: Int32Array, count: number, destinations: Uint8Array): number {
    if (!this.handle || count <= 0) return 0;
    return this.addon.udpSendEach(this.handle, buffer, offsets, lengths, count, destinations);
  }

  parseEndpoint(text: string): Endpoint {
    return parseEndpoint(text);
  }

  close(): void {
    this.closeSockets();
    this.onDatagrams = undefined;
  }

  /** Batches and datagrams received so far, largest batch, drops. */
  stats(): IoStats | undefined {
    return this.handle ? this.addon.udpStats(this.handle) : undefined;
  }

  private closeSockets(): void {
    if (!this.handle) return;
    this.addon.udpClose(this.handle);
    this.handle = undefined;
  }

  private startReceiving(handle: UdpHandle): void {
    const receiver = this.receiver ?? this.makeReceiver();
    this.receiver = receiver;
    const { batch, sources, slotSize } = receiver;
    this.addon.udpStart(handle, batch.buffer, batch.offsets, batch.lengths, slotSize, 0, this.maxDatagramSize, sources,
      (count) => this.deliver(count));
  }

  private makeReceiver(): Receiver {
    const slotSize = Math.ceil(this.maxDatagramSize / 16) * 16;
    // With UDP GRO (Linux) the addon receives whole 64 KiB messages into the same buffer and
    // describes each as the up to 64 datagrams it holds: room for more entries than slots.
    const entries = Math.max(this.batchSize, UDP_GRO_ENTRIES);
    return {
      slotSize,
      sources: new Uint8Array(SOURCE_RECORD_BYTES * entries),
      batch: {
        buffer: Buffer.alloc(slotSize * this.batchSize),
        offsets: new Int32Array(entries),
        lengths: new Int32Array(entries),
        endpoints: new Array<Endpoint>(entries),
        count: 0,
      },
    };
  }

  private deliver(count: number): void {
    const receiver = this.receiver;
    const onDatagrams = this.onDatagrams;
    if (!receiver || !onDatagrams) return;
    const { batch, sources } = receiver;
    for (let i = 0; i < count; i++) batch.endpoints[i] = this.endpoints.fromRecord(sources, i * SOURCE_RECORD_BYTES);
    batch.count = count;
    try {
      onDatagrams(batch);
    } catch (error) {
      // Network input must never take the event loop down.
      this.logger.error(`UDP datagram handler failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}
