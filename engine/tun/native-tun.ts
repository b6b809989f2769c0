/**
 * A TunDevice over the wirelane_io addon; tun-linux.ts, tun-darwin.ts and tun-win32.ts open
 * one with their platform's details.
 *
 * Batches: one Buffer of BATCH_SIZE fixed slots, each HEADROOM + packet room + TAILROOM bytes
 * (rounded up to 16). The packet room is the MTU, at least 1500; the addon drops anything
 * longer. If the MTU is raised later (wg-quick sets it after the engine starts), the next
 * interface check swaps in larger slots.
 *
 * Closing: the addon reports a dead device (read error, POLLERR/POLLHUP, Wintun's end of
 * file); on platforms where the interface can vanish quietly we also ask for its MTU once a
 * second, which fails with ENODEV/ENXIO once it is gone. Either way onClosed fires once.
 */
import type { Logger } from '../logger.js';
import { silentLogger } from '../logger.js';
import { ioAddon, type IoAddon, type IoStats, type TunHandle } from '../native/addon.js';
import { HEADROOM, TAILROOM, type PacketBatch } from '../packet-buffer.js';
import type { TunDevice } from './tun.js';

/** Packets read per readiness event, at most (one JS call each). */
export const DEFAULT_TUN_BATCH = 128;
/** Slots always hold at least this much, so a small MTU set at first does not force a reallocation. */
const MIN_PACKET_ROOM = 1500;
/** How often the interface is checked for deletion and MTU changes. */
const INTERFACE_CHECK_MS = 1000;

export interface NativeTunOptions {
  logger?: Logger;
  /** Packets per batch, 1 to 1024 (default 128). */
  batchSize?: number;
  /** Poll the interface's MTU every second (detects deletion and MTU changes). */
  watchInterface?: boolean;
}

export class NativeTun implements TunDevice {
  readonly name: string;
  private readonly addon: IoAddon;
  private readonly logger: Logger;
  private readonly batchSize: number;
  private handle: TunHandle | undefined;
  private currentMtu: number;
  private onPackets: ((batch: PacketBatch) => void) | undefined;
  private batch: PacketBatch | undefined;
  private packetRoom = 0;
  private readonly closedListeners: Array<() => void> = [];
  private closedFired = false;
  private checkTimer: NodeJS.Timeout | undefined;

  constructor(handle: TunHandle, mtu: number, options: NativeTunOptions = {}, addon: IoAddon = ioAddon()) {
    this.addon = addon;
    this.handle = handle;
    this.name = addon.tunName(handle);
    this.logger = options.logger ?? silentLogger;
    this.batchSize = options.batchSize ?? DEFAULT_TUN_BATCH;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1 || this.batchSize > 1024) {
      throw new RangeError(`TUN batch size must be 1 to 1024, not ${this.batchSize}`);
    }
    const reported = addon.tunMtu(handle);
    this.currentMtu = reported > 0 ? reported : mtu;
    if (options.watchInterface) {
      this.checkTimer = setInterval(() => this.checkInterface(), INTERFACE_CHECK_MS);
      this.checkTimer.unref();
    }
  }

  mtu(): number {
    return this.currentMtu;
  }

  start(onPackets: (batch: PacketBatch) => void): void {
    if (!this.handle) throw new Error(`the TUN device ${this.name} is closed`);
    this.onPackets = onPackets;
    this.allocateAndStart(Math.max(this.currentMtu, MIN_PACKET_ROOM));
  }

  write(buffer: Buffer, offsets: Int32Array, lengths: Int32Array, count: number): number {
    if (!this.handle || count <= 0) return 0;
    return this.addon.tunWrite(this.handle, buffer, offsets, lengths, count);
  }

  onClosed(listener: () => void): void {
    if (this.closedFired) {
      queueMicrotask(listener);
      return;
    }
    this.closedListeners.push(listener);
  }

  close(): void {
    if (this.checkTimer) clearInterval(this.checkTimer);
    this.checkTimer = undefined;
    if (!this.handle) return;
    this.addon.tunClose(this.handle);
    this.handle = undefined;
  }

  /** Batches and packets read so far, largest batch, drops. */
  stats(): IoStats | undefined {
    return this.handle ? this.addon.tunStats(this.handle) : undefined;
  }

  private allocateAndStart(packetRoom: number): void {
    if (!this.handle) return;
    const slotSize = Math.ceil((HEADROOM + packetRoom + TAILROOM) / 16) * 16;
    const batch: PacketBatch = {
      buffer: Buffer.alloc(slotSize * this.batchSize),
      offsets: new Int32Array(this.batchSize),
      lengths: new Int32Array(this.batchSize),
      count: 0,
    };
    this.addon.tunStart(this.handle, batch.buffer, batch.offsets, batch.lengths, slotSize, HEADROOM, packetRoom,
      (count, errno) => this.onEvent(count, errno));
    this.batch = batch;
    this.packetRoom = packetRoom;
  }

  private onEvent(count: number, errno: number): void {
    if (errno !== 0) {
      this.logger.info(`TUN device ${this.name} is gone (errno ${errno}); closing it`);
      this.deviceGone();
      return;
    }
    const batch = this.batch;
    const onPackets = this.onPackets;
    if (!batch || !onPackets) return;
    batch.count = count;
    try {
      onPackets(batch);
    } catch (error) {
      // One bad batch must not take the event loop down with it.
      this.logger.error(`TUN packet handler failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  private checkInterface(): void {
    if (!this.handle) return;
    const mtu = this.addon.tunMtu(this.handle);
    if (mtu < 0) {
      this.logger.info(`TUN interface ${this.name} no longer exists; closing it`);
      this.deviceGone();
      return;
    }
    if (mtu === this.currentMtu) return;
    this.logger.debug(`TUN interface ${this.name} MTU is now ${mtu}`);
    this.currentMtu = mtu;
    if (this.onPackets && mtu > this.packetRoom) this.allocateAndStart(mtu);
  }

  private deviceGone(): void {
    this.close();
    if (this.closedFired) return;
    this.closedFired = true;
    for (const listener of this.closedListeners.splice(0)) {
      try {
        listener();
      } catch (error) {
        this.logger.error(`TUN onClosed listener failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
}
