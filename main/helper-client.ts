/**
 * The app's connection to the privileged helper: newline-delimited JSON over its Unix socket
 * (or named pipe), as engine/helper/protocol.ts declares.
 *
 * One long-lived connection. On connect it asks the helper's `version`, then `subscribe`s, and
 * only then calls itself running; every event is fanned out to all listeners (a listener that
 * throws is logged and the others still run). When the connection drops, pending requests end
 * with `helper_unavailable` and the client reconnects with a growing delay, forever, until
 * `stop()`. Requests never throw: they resolve to an IpcResult.
 *
 * Nothing here touches Electron, so it runs under plain Node in tests and in the e2e relay.
 */
import { createConnection } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../engine/logger.js';
import {
  MAX_MESSAGE_BYTES,
  PROTOCOL_VERSION,
  isEvent,
  parseResult,
  serverMessageSchema,
  type HelperEvent,
  type RequestParams,
  type RequestType,
  type ResultOf,
} from '../engine/helper/protocol.js';
import type { AppError, HelperAvailability, IpcResult } from './ipc-schema.js';

export interface HelperClientOptions {
  socketPath: string;
  logger: Logger;
  /** Opens the transport; defaults to node:net. Tests pass their own. */
  connect?: (socketPath: string) => Duplex;
  /** Whether the helper looks installed (its socket folder exists); decides not_installed vs not_running. */
  isInstalled?: () => boolean;
  /** Delays between reconnection attempts, the last one repeated. */
  reconnectDelaysMs?: readonly number[];
  /** How long a request waits for its reply; `connect` gets connectTimeoutMs. */
  requestTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** What to subscribe to after each (re)connection. */
  subscribe?: RequestParams<'subscribe'>;
  timers?: Timers;
}

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

interface Pending {
  type: RequestType;
  resolve: (result: IpcResult<unknown>) => void;
  timer: unknown;
}

export const DEFAULT_RECONNECT_DELAYS_MS = [200, 500, 1000, 2000, 5000] as const;

export class HelperClient {
  private readonly options: Required<Omit<HelperClientOptions, 'subscribe'>> & { subscribe: RequestParams<'subscribe'> };
  private socket: Duplex | null = null;
  private readBuffer = '';
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly eventListeners = new Set<(event: HelperEvent) => void>();
  private readonly availabilityListeners = new Set<(availability: HelperAvailability) => void>();
  private availabilityNow: HelperAvailability;
  private reconnectAttempt = 0;
  private reconnectTimer: unknown = null;
  private stopped = true;

  constructor(options: HelperClientOptions) {
    this.options = {
      connect: (path) => createConnection(path),
      isInstalled: () => true,
      reconnectDelaysMs: DEFAULT_RECONNECT_DELAYS_MS,
      requestTimeoutMs: 15_000,
      connectTimeoutMs: 90_000,
      timers: realTimers,
      subscribe: {},
      ...options,
    };
    this.availabilityNow = { state: 'connecting', socketPath: options.socketPath };
  }

  get availability(): HelperAvailability {
    return this.availabilityNow;
  }

  /** Starts connecting (and reconnecting) until stop(). */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.open();
  }

  stop(): void {
    this.stopped = true;
    if (this.reconnectTimer !== null) this.options.timers.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.socket?.destroy();
    this.socket = null;
    this.failPending({ code: 'helper_unavailable', message: 'the app is shutting down' });
  }

  /** Calls listener with every event from the helper; returns the way to stop. */
  onEvent(listener: (event: HelperEvent) => void): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  onAvailability(listener: (availability: HelperAvailability) => void): () => void {
    this.availabilityListeners.add(listener);
    return () => this.availabilityListeners.delete(listener);
  }

  /** Sends one request; resolves with its checked result or an error value, never throws. */
  request<T extends RequestType>(type: T, params: RequestParams<T>): Promise<IpcResult<ResultOf<T>>> {
    if (this.availabilityNow.state !== 'running' && !this.handshaking) {
      return Promise.resolve({ ok: false, error: unavailableError(this.availabilityNow) });
    }
    return this.send(type, params);
  }

  // -------------------------------------------------------------------------------------------

  /** True between the transport connecting and the subscribe reply: requests of our own pass. */
  private handshaking = false;

  private send<T extends RequestType>(type: T, params: RequestParams<T>): Promise<IpcResult<ResultOf<T>>> {
    const socket = this.socket;
    if (!socket) return Promise.resolve({ ok: false, error: unavailableError(this.availabilityNow) });
    const id = this.nextId++;
    const line = JSON.stringify({ ...params, id, type }) + '\n';
    return new Promise((resolve) => {
      const timeoutMs = type === 'connect' ? this.options.connectTimeoutMs : this.options.requestTimeoutMs;
      const timer = this.options.timers.setTimeout(() => {
        this.pending.delete(id);
        resolve({ ok: false, error: { code: 'timeout', message: `the helper did not answer "${type}" within ${Math.round(timeoutMs / 1000)} s` } });
      }, timeoutMs);
      this.pending.set(id, { type, resolve: resolve as (r: IpcResult<unknown>) => void, timer });
      socket.write(line);
    });
  }

  private open(): void {
    this.reconnectTimer = null;
    if (this.stopped) return;
    let socket: Duplex;
    try {
      socket = this.options.connect(this.options.socketPath);
    } catch (error) {
      this.onTransportClosed(error);
      return;
    }
    this.socket = socket;
    this.readBuffer = '';
    socket.setEncoding?.('utf8');
    let closed = false;
    const closeOnce = (error?: unknown) => {
      if (closed) return;
      closed = true;
      if (this.socket === socket) this.socket = null;
      socket.destroy();
      this.onTransportClosed(error);
    };
    socket.on('connect', () => void this.handshake(socket));
    socket.on('data', (chunk: string | Buffer) => this.onData(socket, typeof chunk === 'string' ? chunk : chunk.toString('utf8')));
    socket.on('error', (error) => closeOnce(error));
    socket.on('close', () => closeOnce());
  }

  private async handshake(socket: Duplex): Promise<void> {
    this.handshaking = true;
    try {
      const version = await this.send('version', {});
      if (!version.ok) return this.refuse(socket, version.error);
      if (version.value.protocolVersion !== PROTOCOL_VERSION) {
        return this.refuse(socket, {
          code: 'internal',
          message: `the helper speaks protocol ${version.value.protocolVersion}, this app ${PROTOCOL_VERSION}: install matching versions`,
        });
      }
      const subscribed = await this.send('subscribe', this.options.subscribe);
      if (!subscribed.ok) return this.refuse(socket, subscribed.error);
      if (this.socket !== socket) return;
      this.reconnectAttempt = 0;
      this.options.logger.info(`connected to the helper ${version.value.helperVersion} at ${this.options.socketPath}`);
      this.setAvailability({
        state: 'running',
        socketPath: this.options.socketPath,
        helperVersion: version.value.helperVersion,
        platform: version.value.platform,
      });
    } finally {
      this.handshaking = false;
    }
  }

  private refuse(socket: Duplex, error: AppError): void {
    if (this.socket !== socket) return;
    this.options.logger.warn(`the helper refused this app: ${error.message}`);
    this.refusal = error;
    socket.destroy();
  }

  private refusal: AppError | null = null;

  private onData(socket: Duplex, chunk: string): void {
    if (this.socket !== socket) return;
    this.readBuffer += chunk;
    let newline: number;
    while ((newline = this.readBuffer.indexOf('\n')) >= 0) {
      const line = this.readBuffer.slice(0, newline);
      this.readBuffer = this.readBuffer.slice(newline + 1);
      if (line.trim() !== '') this.onLine(line);
    }
    if (this.readBuffer.length > MAX_MESSAGE_BYTES) {
      // A helper that sends a line this long is broken; start over rather than grow without bound.
      this.options.logger.error(`the helper sent a message over ${MAX_MESSAGE_BYTES} bytes; reconnecting`);
      socket.destroy();
    }
  }

  private onLine(line: string): void {
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      this.options.logger.warn('dropped a line from the helper that is not JSON');
      return;
    }
    const parsed = serverMessageSchema.safeParse(json);
    if (!parsed.success) {
      this.options.logger.warn(`dropped a message from the helper that does not match the protocol: ${parsed.error.issues[0]?.message ?? ''}`);
      return;
    }
    const message = parsed.data;
    if (isEvent(message)) {
      for (const listener of [...this.eventListeners]) {
        try {
          listener(message);
        } catch (error) {
          this.options.logger.error(`an event listener failed: ${String(error)}`);
        }
      }
      return;
    }
    if (message.id === null) {
      if (!message.ok && message.error.code === 'forbidden') {
        // The helper's peer-credential check refused this user before reading any request; it
        // closes the connection next, and the window should say why rather than "not running".
        this.refusal = message.error;
        return;
      }
      this.options.logger.warn(`the helper could not read a request: ${message.ok ? '' : message.error.message}`);
      return;
    }
    const pending = this.pending.get(message.id);
    if (!pending) return; // timed out already
    this.pending.delete(message.id);
    this.options.timers.clearTimeout(pending.timer);
    if (!message.ok) {
      pending.resolve({ ok: false, error: message.error });
      return;
    }
    try {
      pending.resolve({ ok: true, value: parseResult(pending.type, message.result) });
    } catch {
      pending.resolve({ ok: false, error: { code: 'internal', message: `the helper's reply to "${pending.type}" does not match the protocol` } });
    }
  }

  private onTransportClosed(error?: unknown): void {
    this.failPending({ code: 'helper_unavailable', message: 'the connection to the helper closed' });
    if (this.stopped) return;
    const refusal = this.refusal;
    this.refusal = null;
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    if (refusal) {
      this.setAvailability({ state: 'refused', socketPath: this.options.socketPath, detail: refusal.message });
    } else if (!this.options.isInstalled()) {
      this.setAvailability({ state: 'not_installed', socketPath: this.options.socketPath });
    } else if (code === 'EACCES' || code === 'EPERM') {
      this.setAvailability({
        state: 'refused',
        socketPath: this.options.socketPath,
        detail: 'this user may not open the helper socket',
      });
    } else {
      this.setAvailability({
        state: 'not_running',
        socketPath: this.options.socketPath,
        detail: code === 'ENOENT' ? 'its socket does not exist' : code === 'ECONNREFUSED' ? 'nothing listens on its socket' : 'the connection closed',
      });
    }
    const delays = this.options.reconnectDelaysMs;
    const delay = delays[Math.min(this.reconnectAttempt, delays.length - 1)] ?? 1000;
    this.reconnectAttempt++;
    this.reconnectTimer = this.options.timers.setTimeout(() => this.open(), delay);
  }

  private failPending(error: AppError): void {
    for (const [id, pending] of this.pending) {
      this.options.timers.clearTimeout(pending.timer);
      pending.resolve({ ok: false, error });
      this.pending.delete(id);
    }
  }

  private setAvailability(next: HelperAvailability): void {
    const previous = this.availabilityNow;
    this.availabilityNow = next;
    if (JSON.stringify(previous) === JSON.stringify(next)) return;
    for (const listener of [...this.availabilityListeners]) {
      try {
        listener(next);
      } catch (error) {
        this.options.logger.error(`an availability listener failed: ${String(error)}`);
      }
    }
  }
}

function unavailableError(availability: HelperAvailability): AppError {
  switch (availability.state) {
    case 'not_installed':
      return { code: 'helper_unavailable', message: 'the Wirelane helper is not installed' };
    case 'refused':
      return { code: 'helper_unavailable', message: `the helper refused this app: ${availability.detail}` };
    case 'connecting':
      return { code: 'helper_unavailable', message: 'still connecting to the helper' };
    default:
      return { code: 'helper_unavailable', message: 'the Wirelane helper is not running' };
  }
}
