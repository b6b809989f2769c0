/**
 * Main's picture of the helper and its tunnels: the truth the tray and the window draw from.
 *
 * It is fed by the helper client (availability, `tunnels` and `status` events, the `list` done
 * after each reconnection) and tells its listeners what changed: `snapshot` when the helper came
 * or went or the stored tunnels changed, `status` for the once-a-second live numbers. Listeners
 * get previous and next statuses so notifications can be derived from the transition.
 */
import type { HelperEvent, TunnelStatus, TunnelSummary } from '../engine/helper/protocol.js';
import { helperAdvice } from './helper-advice.js';
import type { AppSnapshot, HelperAvailability } from './ipc-schema.js';

export type ViewChange =
  | { kind: 'snapshot'; snapshot: AppSnapshot }
  | { kind: 'status'; previous: TunnelStatus[]; next: TunnelStatus[] };

export class TunnelStoreView {
  private helper: HelperAvailability;
  private tunnels: TunnelSummary[] = [];
  private readonly listeners = new Set<(change: ViewChange) => void>();

  constructor(
    initial: HelperAvailability,
    private readonly platform: NodeJS.Platform,
  ) {
    this.helper = initial;
  }

  snapshot(): AppSnapshot {
    const state = this.helper.state;
    const advice = state === 'not_installed' || state === 'not_running' ? helperAdvice(this.platform, state) : null;
    return { helper: this.helper, advice, tunnels: this.tunnels };
  }

  statuses(): TunnelStatus[] {
    return this.tunnels.map((tunnel) => tunnel.status);
  }

  onChange(listener: (change: ViewChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  setHelper(helper: HelperAvailability): void {
    this.helper = helper;
    // Without a helper nothing is known about the tunnels; showing stale "connected" rows would lie.
    if (helper.state !== 'running') this.tunnels = [];
    this.emit({ kind: 'snapshot', snapshot: this.snapshot() });
  }

  /** Replaces the list (after `list`, or a `tunnels` event). */
  setTunnels(tunnels: TunnelSummary[]): void {
    const previous = this.statuses();
    this.tunnels = [...tunnels].sort((a, b) => a.name.localeCompare(b.name));
    this.emit({ kind: 'snapshot', snapshot: this.snapshot() });
    this.emit({ kind: 'status', previous, next: this.statuses() });
  }

  /** Merges live statuses into the summaries; tunnels the helper does not mention keep theirs. */
  applyStatuses(statuses: TunnelStatus[]): void {
    const previous = this.statuses();
    const byName = new Map(statuses.map((status) => [status.name, status]));
    this.tunnels = this.tunnels.map((tunnel) => {
      const status = byName.get(tunnel.name);
      return status ? { ...tunnel, status } : tunnel;
    });
    this.emit({ kind: 'status', previous, next: this.statuses() });
  }

  applyEvent(event: HelperEvent): void {
    if (event.event === 'tunnels') this.setTunnels(event.tunnels);
    else if (event.event === 'status') this.applyStatuses(event.tunnels);
  }

  private emit(change: ViewChange): void {
    for (const listener of [...this.listeners]) listener(change);
  }
}
