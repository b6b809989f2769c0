/**
 * The window's copy of main's truth: one snapshot pulled at start, then pushes. Keeps a short
 * history of each tunnel's byte counters for the throughput graph. React reads it through
 * useSyncExternalStore, so every component sees one consistent state.
 */
import type { AppSnapshot, TunnelStatus, WirelaneApi } from './contract.js';
import { useSyncExternalStore } from 'react';

export interface RateSample {
  /** Seconds since the epoch. */
  time: number;
  rxPerSecond: number;
  txPerSecond: number;
}

export interface AppState {
  snapshot: AppSnapshot | null;
  /** Last 120 throughput samples per tunnel. */
  rates: Record<string, RateSample[]>;
}

const HISTORY = 120;

export class AppStore {
  private state: AppState = { snapshot: null, rates: {} };
  private readonly listeners = new Set<() => void>();
  private readonly lastCounters = new Map<string, { at: number; rx: number; tx: number }>();

  constructor(private readonly now: () => number = () => Date.now()) {}

  getState = (): AppState => this.state;

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  /** Pulls the snapshot and follows the pushes until signal aborts. */
  async connect(wirelane: WirelaneApi, signal: AbortSignal): Promise<void> {
    wirelane.onSnapshot((snapshot) => this.setSnapshot(snapshot), { signal });
    wirelane.onStatus((statuses) => this.applyStatuses(statuses), { signal });
    const first = await wirelane.getSnapshot();
    if (first.ok && this.state.snapshot === null) this.setSnapshot(first.value);
  }

  setSnapshot(snapshot: AppSnapshot): void {
    this.state = { ...this.state, snapshot };
    this.emit();
  }

  applyStatuses(statuses: TunnelStatus[]): void {
    const snapshot = this.state.snapshot;
    if (!snapshot) return;
    const byName = new Map(statuses.map((s) => [s.name, s]));
    const tunnels = snapshot.tunnels.map((t) => {
      const status = byName.get(t.name);
      return status ? { ...t, status } : t;
    });
    const rates = { ...this.state.rates };
    const at = this.now();
    for (const status of statuses) {
      const last = this.lastCounters.get(status.name);
      this.lastCounters.set(status.name, { at, rx: status.rxBytes, tx: status.txBytes });
      if (!last || at <= last.at) continue;
      const seconds = (at - last.at) / 1000;
      // Counters restart from zero when a tunnel reconnects: no negative rates.
      const sample: RateSample = {
        time: at / 1000,
        rxPerSecond: Math.max(0, status.rxBytes - last.rx) / seconds,
        txPerSecond: Math.max(0, status.txBytes - last.tx) / seconds,
      };
      rates[status.name] = [...(rates[status.name] ?? []), sample].slice(-HISTORY);
    }
    this.state = { snapshot: { ...snapshot, tunnels }, rates };
    this.emit();
  }

  private emit(): void {
    for (const listener of [...this.listeners]) listener();
  }
}

export function useAppState(store: AppStore): AppState {
  return useSyncExternalStore(store.subscribe, store.getState);
}
