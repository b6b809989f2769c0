/**
 * The state of every tunnel the helper knows, and the one place that changes it.
 *
 *   disconnected --connect--> connecting {since} --up failed--> failed {reason} --connect--> ...
 *   connecting --first completed handshake--> connected {since} <--answered-- reconnecting
 *   connected --handshakes unanswered ~15 s--> reconnecting {since, unansweredSince}
 *   any running state --interface vanished--> failed {reason};  --disconnect--> disconnected
 *
 * Once the tunnel is up (interface, routes, DNS) the connect request returns with `connecting`
 * and a handshake already started, so no traffic is needed; from then on the 1-second tick
 * moves the state by what the engine measured (tunnel-state.ts) and publishes every change.
 *
 * How a tunnel is brought up and down (parse, resolve, TUN, UDP, Device, OS configuration,
 * scripts) is the TunnelLauncher's business (engine-launcher.ts for the real engine, fakes in
 * tests); this file serialises the transitions per tunnel, keeps a bounded log ring per tunnel,
 * publishes status at least once a second, and notices wake from sleep: when the wall clock moves
 * ahead of the monotonic clock by more than WAKE_JUMP_MS between two 1-second ticks, the machine
 * slept, and every connected tunnel re-handshakes at once instead of waiting for its timers.
 */
import { LOG_RING_LINES, type DeviceDetails, type LogEntry, type LogLevel, type TunnelStatus, type TunnelState } from './protocol.js';
import type { Logger } from '../logger.js';
import { nextTunnelState, type PeerMeasurement } from './tunnel-state.js';
import { WAKE_JUMP_MS, wallClockJump } from '../wake.js';

/** What a running tunnel offers the manager. */
export interface RunningTunnel {
  /** Traffic and handshake figures, read once a second. */
  stats(): { latestHandshake: number | null; rxBytes: number; txBytes: number; endpoint: string | null };
  /**
   * Per peer: last completed handshake and since when it has left us unanswered (wall-clock
   * Unix ms), read once a second for the state. Absent (simple fakes): stats().latestHandshake
   * stands for one peer that never goes unanswered.
   */
  peers?(): PeerMeasurement[];
  /** The device as `wg show` prints it. */
  details(): DeviceDetails;
  /** Re-handshakes every peer (wake from sleep, network change). */
  rehandshakeAll(): void;
  /**
   * Resolves hostname endpoints again when their peers do not answer (`force`: all of them, after
   * a network change or a wake) and moves to a changed address. Absent: endpoints never change.
   */
  reresolveEndpoints?(force: boolean): Promise<EndpointChange[]>;
  /** Called once if the tunnel dies on its own (its interface was deleted). */
  onClosed(listener: (reason: string) => void): void;
  /** Takes the tunnel down and undoes the OS configuration; never rejects. */
  down(): Promise<void>;
}

/** A peer's endpoint hostname resolved to a new address, which the tunnel now sends to. */
export interface EndpointChange {
  /** The peer's public key, base64. */
  publicKey: string;
  host: string;
  from: string;
  to: string;
}

export interface TunnelLauncher {
  /**
   * Brings tunnel `name` up from its stored .conf text. On failure it rolls back everything it
   * did and rejects with an Error whose message is one sentence for a person.
   */
  up(name: string, confText: string, logger: Logger): Promise<RunningTunnel>;
  /**
   * The user turned the tunnel off (after its running part, if any, went down): releases what
   * outlives a running tunnel on purpose, the kill switch. Never rejects.
   */
  off?(name: string): Promise<void>;
}

export interface Clock {
  /** Wall clock, Unix ms. */
  wallMs(): number;
  /** Monotonic ms. */
  monotonicMs(): number;
}

export const systemClock: Clock = {
  wallMs: () => Date.now(),
  monotonicMs: () => performance.now(),
};

export { WAKE_JUMP_MS } from '../wake.js';
export const STATUS_INTERVAL_MS = 1000;

interface TunnelRecord {
  name: string;
  state: TunnelState;
  running: RunningTunnel | null;
  /** The transition in progress; the next one waits for it. */
  busy: Promise<unknown>;
  log: LogEntry[];
}

export interface TunnelManagerOptions {
  launcher: TunnelLauncher;
  /** Reads a tunnel's stored text (throws if it is gone). */
  readConf(name: string): string;
  logger: Logger;
  clock?: Clock;
  onStatus?(tunnels: TunnelStatus[]): void;
  onLog?(name: string, entry: LogEntry): void;
  /**
   * 'endpoint-changed': a tunnel moved to a new address of its endpoint hostname (the device
   * already sends there; the launcher's onEndpointsChanging ran before it did).
   */
  onEndpointChanged?(name: string, change: EndpointChange): void;
}

export class TunnelManager {
  private readonly tunnels = new Map<string, TunnelRecord>();
  private readonly clock: Clock;
  private timer: NodeJS.Timeout | null = null;
  private lastTick: { wall: number; mono: number } | null = null;

  constructor(private readonly options: TunnelManagerOptions) {
    this.clock = options.clock ?? systemClock;
  }

  /** Starts the 1-second tick: status events and wake detection. */
  start(): void {
    if (this.timer) return;
    this.lastTick = { wall: this.clock.wallMs(), mono: this.clock.monotonicMs() };
    this.timer = setInterval(() => this.tick(), STATUS_INTERVAL_MS);
    this.timer.unref();
  }

  /** One tick; public so tests can drive it with a fake clock. */
  tick(): void {
    const now = { wall: this.clock.wallMs(), mono: this.clock.monotonicMs() };
    if (this.lastTick) {
      const jump = wallClockJump(this.lastTick, now);
      if (jump > WAKE_JUMP_MS) {
        this.options.logger.info(`woke from sleep (${Math.round(jump / 1000)} s); re-handshaking connected tunnels`);
        this.rehandshakeAll('woke from sleep');
      }
    }
    this.lastTick = now;
    for (const record of this.tunnels.values()) {
      this.updateState(record);
      this.reresolve(record, false);
    }
    this.options.onStatus?.(this.statusAll());
  }

  /** Lets a running tunnel re-resolve its endpoint hostnames; reports what moved. */
  private reresolve(record: TunnelRecord, force: boolean): void {
    const running = record.running;
    if (!running?.reresolveEndpoints) return;
    running.reresolveEndpoints(force).then(
      (changes) => {
        if (record.running !== running) return;
        for (const change of changes) {
          this.log(record, 'info', `endpoint ${change.host} moved from ${change.from} to ${change.to}`);
          this.options.onEndpointChanged?.(record.name, change);
        }
      },
      (err: unknown) => this.log(record, 'error', `re-resolving endpoints: ${(err as Error).message}`),
    );
  }

  /** Moves a running tunnel's state by what its engine measured; publishes a change. */
  private updateState(record: TunnelRecord): void {
    const running = record.running;
    if (!running) return;
    let peers: PeerMeasurement[];
    try {
      peers = running.peers?.() ?? [{ latestHandshake: running.stats().latestHandshake, unansweredSince: null }];
    } catch (err) {
      this.log(record, 'error', `reading the engine's figures: ${(err as Error).message}`);
      return;
    }
    const next = nextTunnelState(record.state, peers, this.clock.wallMs());
    if (next !== record.state) this.setState(record, next);
  }

  /** Network change or wake: every connected tunnel re-handshakes now. */
  rehandshakeAll(why: string): void {
    for (const record of this.tunnels.values()) {
      if (record.running && this.isActive(record.name)) {
        this.log(record, 'info', `re-handshaking: ${why}`);
        record.running.rehandshakeAll();
        // A new network may have a new resolver, or the server a new address.
        this.reresolve(record, true);
      }
    }
  }

  isActive(name: string): boolean {
    const state = this.tunnels.get(name)?.state.state;
    return state === 'connected' || state === 'connecting' || state === 'reconnecting';
  }

  activeNames(): string[] {
    return [...this.tunnels.values()].filter((r) => this.isActive(r.name)).map((r) => r.name);
  }

  status(name: string): TunnelStatus {
    const record = this.tunnels.get(name);
    if (!record) return { name, status: { state: 'disconnected' }, latestHandshake: null, rxBytes: 0, txBytes: 0, endpoint: null };
    const stats = record.running?.stats() ?? { latestHandshake: null, rxBytes: 0, txBytes: 0, endpoint: null };
    return { name, status: record.state, ...stats };
  }

  /** Status of every tunnel the manager has seen (the store adds the never-connected ones). */
  statusAll(): TunnelStatus[] {
    return [...this.tunnels.keys()].sort().map((name) => this.status(name));
  }

  /** The running device of a connected tunnel, null otherwise. */
  details(name: string): DeviceDetails | null {
    const record = this.tunnels.get(name);
    return record?.running ? record.running.details() : null;
  }

  logs(name: string, limit = LOG_RING_LINES): LogEntry[] {
    const log = this.tunnels.get(name)?.log ?? [];
    return log.slice(Math.max(0, log.length - limit));
  }

  /**
   * Brings a tunnel up; resolves with its status once it is up and handshaking (connecting,
   * or connected if a handshake completed already) or has failed.
   */
  connect(name: string): Promise<TunnelStatus> {
    const record = this.record(name);
    return this.serialise(record, async () => {
      if (record.running && this.isActive(name)) return this.status(name);
      this.setState(record, { state: 'connecting', since: this.clock.wallMs() });
      const tunnelLogger = this.loggerFor(record);
      try {
        const text = this.options.readConf(name);
        const running = await this.options.launcher.up(name, text, tunnelLogger);
        record.running = running;
        // The first handshake starts now rather than with the first packet someone sends.
        running.rehandshakeAll();
        this.updateState(record);
        running.onClosed((reason) => {
          if (record.running !== running) return;
          record.running = null;
          this.setState(record, { state: 'failed', reason });
          void running.down();
        });
      } catch (err) {
        const reason = oneLine((err as Error)?.message ?? String(err));
        this.setState(record, { state: 'failed', reason });
      }
      return this.status(name);
    });
  }

  /** The user turns the tunnel off: it goes down and its kill switch is released. */
  disconnect(name: string): Promise<TunnelStatus> {
    return this.takeDown(name, { releaseKillSwitch: true });
  }

  private takeDown(name: string, { releaseKillSwitch }: { releaseKillSwitch: boolean }): Promise<TunnelStatus> {
    const record = this.record(name);
    return this.serialise(record, async () => {
      const running = record.running;
      record.running = null;
      if (running) {
        this.log(record, 'info', releaseKillSwitch ? 'disconnecting' : 'the helper is stopping: down until it is back, kill switch kept');
        await running.down();
      }
      if (releaseKillSwitch) await this.options.launcher.off?.(name);
      this.setState(record, { state: 'disconnected' });
      return this.status(name);
    });
  }

  /** Forgets a tunnel (after delete or rename); it must be down. */
  forget(name: string): void {
    const record = this.tunnels.get(name);
    if (record && !record.running) this.tunnels.delete(name);
  }

  /** Moves a stopped tunnel's log to its new name. */
  renamed(oldName: string, newName: string): void {
    const record = this.tunnels.get(oldName);
    if (!record || record.running) return;
    this.tunnels.delete(oldName);
    this.tunnels.set(newName, { ...record, name: newName });
  }

  /**
   * Helper shutdown (a restart, an update, the machine going down): every tunnel goes down, but a
   * kill switch stays in force. The user left those tunnels on and always-on brings them back at
   * the next start; until then nothing may leave in clear, exactly as after a kill -9. The next
   * start's recovery releases the kill switch of any tunnel that is no longer on.
   */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await Promise.all([...this.tunnels.keys()].map((name) => this.takeDown(name, { releaseKillSwitch: false })));
  }

  private record(name: string): TunnelRecord {
    let record = this.tunnels.get(name);
    if (!record) {
      record = { name, state: { state: 'disconnected' }, running: null, busy: Promise.resolve(), log: [] };
      this.tunnels.set(name, record);
    }
    return record;
  }

  private serialise<T>(record: TunnelRecord, step: () => Promise<T>): Promise<T> {
    const next = record.busy.then(step, step);
    record.busy = next.catch(() => undefined);
    return next;
  }

  private setState(record: TunnelRecord, state: TunnelState): void {
    record.state = state;
    const text =
      state.state === 'failed'
        ? `failed: ${state.reason}`
        : state.state === 'reconnecting'
          ? `reconnecting: the server has not answered for ${Math.round((this.clock.wallMs() - state.unansweredSince) / 1000)} s`
          : state.state;
    this.log(record, state.state === 'failed' ? 'error' : 'info', text);
    this.options.onStatus?.(this.statusAll());
  }

  private log(record: TunnelRecord, level: LogLevel, message: string): void {
    const entry: LogEntry = { time: this.clock.wallMs(), level, message: oneLine(message) };
    record.log.push(entry);
    if (record.log.length > LOG_RING_LINES) record.log.splice(0, record.log.length - LOG_RING_LINES);
    this.options.onLog?.(record.name, entry);
  }

  /** A logger that writes to the tunnel's ring (and its subscribers) and to the helper's log. */
  private loggerFor(record: TunnelRecord): Logger {
    const main = this.options.logger;
    const write = (level: LogLevel, message: string) => {
      this.log(record, level, message);
      main[level](`${record.name}: ${message}`);
    };
    return {
      debug: (m) => write('debug', m),
      info: (m) => write('info', m),
      warn: (m) => write('warn', m),
      error: (m) => write('error', m),
    };
  }
}

function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f]+/g, ' ').slice(0, 2000);
}
