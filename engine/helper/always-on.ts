/**
 * Always-on: a tunnel the user turned on stays on across helper restarts, crashes and reboots
 * until the user turns it off. The wish is kept in the store (`on` in the tunnel's `<name>.json`,
 * written by the connect and disconnect handlers); at start, after the OS layer's recovery has
 * undone what a killed helper left (so nothing is applied twice), this brings every such tunnel
 * back. A connect that fails (network not up yet after a boot, resolver not ready) is retried
 * with exponential backoff, for as long as the tunnel is still wanted on and not up.
 */
import type { Logger } from '../logger.js';
import type { TunnelStatus } from './protocol.js';

export const RETRY_FIRST_MS = 2_000;
export const RETRY_MAX_MS = 60_000;

export interface AlwaysOnOptions {
  /** Stored tunnels the user wants on. */
  wantedOn(): string[];
  /** Whether `name` is still wanted on (the user may have turned it off meanwhile). */
  isWantedOn(name: string): boolean;
  /** Whether it is up already (connecting, connected, reconnecting). */
  isActive(name: string): boolean;
  connect(name: string): Promise<TunnelStatus>;
  logger: Logger;
  /** Injected so tests step time by hand. */
  setTimer?: (fn: () => void, ms: number) => object;
  clearTimer?: (timer: unknown) => void;
}

export class AlwaysOn {
  private readonly retries = new Map<string, { timer: unknown; delay: number }>();
  private stopped = false;

  constructor(private readonly options: AlwaysOnOptions) {}

  /** Brings back every tunnel wanted on; resolves once each has had its first try. */
  async restore(): Promise<void> {
    const names = this.options.wantedOn();
    if (names.length > 0) this.options.logger.info(`always-on: bringing back ${names.join(', ')}`);
    await Promise.all(names.map((name) => this.attempt(name, RETRY_FIRST_MS)));
  }

  /** Cancels pending retries (helper shutdown). */
  stop(): void {
    this.stopped = true;
    for (const name of [...this.retries.keys()]) this.cancel(name);
  }

  /** The user turned `name` off (or on by hand): no retry of ours is wanted any more. */
  cancel(name: string): void {
    const retry = this.retries.get(name);
    if (!retry) return;
    (this.options.clearTimer ?? ((t) => clearTimeout(t as NodeJS.Timeout)))(retry.timer);
    this.retries.delete(name);
  }

  /** Names with a retry scheduled (for tests and logs). */
  pending(): string[] {
    return [...this.retries.keys()].sort();
  }

  private async attempt(name: string, nextDelay: number): Promise<void> {
    this.retries.delete(name);
    if (this.stopped || !this.options.isWantedOn(name) || this.options.isActive(name)) return;
    let reason: string;
    try {
      const status = await this.options.connect(name);
      if (status.status.state !== 'failed') return;
      reason = status.status.reason;
    } catch (err) {
      reason = (err as Error).message;
    }
    if (this.stopped || !this.options.isWantedOn(name)) return;
    this.options.logger.warn(`always-on: ${name} did not come back (${reason}); trying again in ${Math.round(nextDelay / 1000)} s`);
    const retry = () => void this.attempt(name, Math.min(nextDelay * 2, RETRY_MAX_MS));
    const timer = this.options.setTimer ? this.options.setTimer(retry, nextDelay) : setTimeout(retry, nextDelay).unref();
    this.retries.set(name, { timer, delay: nextDelay });
  }
}
