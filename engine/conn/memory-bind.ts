/**
 * An in-memory UDP underlay for tests: binds attached to one MemoryNetwork exchange datagrams
 * through it, and the network can drop, duplicate, reorder, record and forge them.
 *
 * Delivery is asynchronous (setImmediate), and everything queued for one bind by the time the
 * network flushes arrives as one batch, as recvmmsg would deliver it.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { parseAddress } from '../routing/cidr.js';
import { HEADROOM, TAILROOM } from '../packet-buffer.js';
import type { Bind, DatagramBatch, Endpoint } from './bind.js';
import { EndpointCache } from './endpoint.js';
import { SOURCE_RECORD_BYTES } from '../native/addon.js';

/** The bytes of an IPv4 or IPv6 literal; throws on anything else. */

/**
 * A plain Uint8Array copy of bytes[start, end). Not `.slice()`: on a Buffer that returns a view
 * of memory its producer reuses, and a copy made by Uint8Array's slice is still a Buffer.
 */
function copyBytes(bytes: Uint8Array, start: number, end: number): Uint8Array {
  const out = new Uint8Array(end - start);
  out.set(bytes.subarray(start, end));
  return out;
}

export function ipAddressBytes(address: string): Uint8Array {
  const bytes = parseAddress(address);
  if (bytes === null) throw new Error(`not an IP address: ${address}`);
  return bytes;
}

export function makeEndpoint(address: string, port: number): Endpoint {
  const family = isIPv4(address) ? 4 : 6;
  const addressBytes = ipAddressBytes(address);
  const key = family === 4 ? `${address}:${port}` : `[${address}]:${port}`;
  const endpoint: Endpoint = { family, address, port, key, addressBytes, sourceAddress: null, withoutSource: () => endpoint };
  return endpoint;
}

export function parseEndpointText(text: string): Endpoint {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):(\d{1,5})$/.exec(text);
  const address = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (address === undefined || !(port >= 0 && port <= 65535)) throw new Error(`invalid endpoint: ${text}`);
  if (match?.[1] !== undefined ? !isIPv6(address) : !isIPv4(address)) throw new Error(`invalid endpoint: ${text}`);
  return makeEndpoint(address, port);
}

/** One datagram on the fake wire. */
export interface WireDatagram {
  from: Endpoint;
  to: string;
  data: Uint8Array;
}

/**
 * Decides the fate of each datagram sent: return it (possibly changed) to deliver, an array to
 * deliver several (duplicates, forgeries), or null to drop.
 */
export type WireFilter = (datagram: WireDatagram) => WireDatagram | WireDatagram[] | null;

export class MemoryNetwork {
  private readonly binds = new Map<string, MemoryBind>();
  private readonly queues = new Map<MemoryBind, WireDatagram[]>();
  private flushScheduled = false;
  /** Applied to every datagram sent; default delivers unchanged. */
  filter: WireFilter | null = null;
  /** Reverses each flush's delivery order when set (reordering). */
  reorder = false;
  /** Every datagram sent (before the filter), when recording is on. */
  readonly recorded: WireDatagram[] = [];
  record = false;
  sent = 0;
  delivered = 0;

  /** @internal */
  attach(bind: MemoryBind, key: string): void {
    if (this.binds.has(key)) throw new Error(`address in use: ${key}`);
    this.binds.set(key, bind);
  }

  /** @internal */
  detach(key: string): void {
    this.binds.delete(key);
  }

  isInUse(key: string): boolean {
    return this.binds.has(key);
  }

  /** Sends a datagram as if from `from` (forging, replaying). */
  inject(from: Endpoint, to: string, data: Uint8Array): void {
    this.enqueue({ from, to, data: copyBytes(data, 0, data.length) });
  }

  /** @internal */
  transmit(datagram: WireDatagram): void {
    this.sent++;
    if (this.record) this.recorded.push({ ...datagram, data: datagram.data.slice() });
    const fate = this.filter === null ? datagram : this.filter(datagram);
    if (fate === null) return;
    for (const d of Array.isArray(fate) ? fate : [fate]) this.enqueue(d);
  }

  private enqueue(datagram: WireDatagram): void {
    const bind = this.binds.get(datagram.to);
    if (bind === undefined) return;
    let queue = this.queues.get(bind);
    if (queue === undefined) this.queues.set(bind, (queue = []));
    queue.push(datagram);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Delivers everything queued now (tests may call it to step the wire by hand). */
  flush(): void {
    this.flushScheduled = false;
    const queues = [...this.queues];
    this.queues.clear();
    for (const [bind, queue] of queues) {
      if (this.reorder) queue.reverse();
      this.delivered += queue.length;
      bind.deliver(queue);
    }
  }

  /** Resolves once nothing is queued on the wire (bounded: throws after `maxRounds`). */
  async settle(maxRounds = 1000): Promise<void> {
    for (let i = 0; i < maxRounds; i++) {
      await new Promise((r) => setImmediate(r));
      if (this.queues.size === 0 && !this.flushScheduled) return;
    }
    throw new Error('memory network did not settle');
  }
}

export class MemoryBind implements Bind {
  private readonly network: MemoryNetwork;
  private address: string;
  private portValue = 0;
  private mark = 0;
  private listener: ((batch: DatagramBatch) => void) | null = null;
  private static nextEphemeralPort = 40000;

  constructor(network: MemoryNetwork, address: string) {
    this.network = network;
    this.address = address;
  }

  private key(): string {
    return makeEndpoint(this.address, this.portValue).key;
  }

  /** Our own endpoint as the network sees it (the source of what we send). */
  localEndpoint(): Endpoint {
    return makeEndpoint(this.address, this.portValue);
  }

  open(port: number): number {
    this.close();
    const chosen = port === 0 ? MemoryBind.nextEphemeralPort++ : port;
    const key = makeEndpoint(this.address, chosen).key;
    if (this.network.isInUse(key)) throw new Error(`listen port ${chosen} is already in use`);
    this.portValue = chosen;
    this.network.attach(this, key);
    return chosen;
  }

  port(): number {
    return this.portValue;
  }

  setMark(mark: number): void {
    this.mark = mark;
  }

  currentMark(): number {
    return this.mark;
  }

  /** Moves this bind to another address, keeping its port (roaming). */
  moveTo(address: string): void {
    const port = this.portValue;
    this.close();
    this.address = address;
    if (port !== 0) this.open(port);
  }

  private readonly destinations = new EndpointCache();

  start(onDatagrams: (batch: DatagramBatch) => void): void {
    this.listener = onDatagrams;
  }

  send(buffer: Buffer, offsets: Int32Array, lengths: Int32Array, count: number, endpoint: Endpoint): number {
    if (this.portValue === 0) return 0;
    const from = this.localEndpoint();
    for (let i = 0; i < count; i++) {
      const off = offsets[i]!;
      const data = copyBytes(buffer, off, off + lengths[i]!);
      this.network.transmit({ from, to: endpoint.key, data });
    }
    return count;
  }

  sendEach(buffer: Buffer, offsets: Int32Array, lengths: Int32Array, count: number, destinations: Uint8Array): number {
    let sent = 0;
    for (let i = 0; i < count; i++) {
      const to = this.destinations.fromRecord(destinations, i * SOURCE_RECORD_BYTES);
      sent += this.send(buffer, offsets.subarray(i, i + 1), lengths.subarray(i, i + 1), 1, to);
    }
    return sent;
  }

  parseEndpoint(text: string): Endpoint {
    return parseEndpointText(text);
  }

  /** @internal Delivers datagrams as one batch laid out like the native bind's. */
  deliver(datagrams: WireDatagram[]): void {
    if (this.listener === null || datagrams.length === 0) return;
    const slot = (d: WireDatagram) => HEADROOM + d.data.length + TAILROOM;
    const buffer = Buffer.alloc(datagrams.reduce((sum, d) => sum + slot(d), 0));
    const offsets = new Int32Array(datagrams.length);
    const lengths = new Int32Array(datagrams.length);
    const endpoints: Endpoint[] = [];
    let at = 0;
    datagrams.forEach((d, i) => {
      offsets[i] = at + HEADROOM;
      lengths[i] = d.data.length;
      buffer.set(d.data, at + HEADROOM);
      endpoints.push(d.from);
      at += slot(d);
    });
    this.listener({ buffer, offsets, lengths, count: datagrams.length, endpoints });
    buffer.fill(0xee);
  }

  close(): void {
    if (this.portValue !== 0) this.network.detach(this.key());
    this.portValue = 0;
  }
}
