/**
 * A client of the helper's control API (used by the `wirelane` command; usable by main).
 * Sends requests, matches replies by id, validates what comes back, delivers events.
 */
import { connect, type Socket } from 'node:net';
import {
  MAX_MESSAGE_BYTES,
  eventSchema,
  parseResult,
  replySchema,
  type HelperEvent,
  type ProtocolError,
  type RequestParams,
  type RequestType,
  type ResultOf,
} from './protocol.js';
import { LineFramer } from './server.js';

/** A reply with ok:false, as a value the caller can inspect (code, message, problems). */
export class HelperRequestError extends Error {
  constructor(readonly error: ProtocolError) {
    super(error.message);
  }
}

/** The helper could not be reached at all. */
export class HelperUnreachableError extends Error {
  constructor(
    readonly socketPath: string,
    readonly errno: string | undefined,
  ) {
    super(
      errno === 'EACCES' || errno === 'EPERM'
        ? `not allowed to use the helper at ${socketPath}: ask an administrator to add you to the 'wirelane' group (then log in again)`
        : `cannot reach the helper at ${socketPath}: is wirelane-helper running?`,
    );
  }
}

interface Pending {
  type: RequestType;
  resolve(value: unknown): void;
  reject(error: Error): void;
}

export class HelperClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly framer = new LineFramer(MAX_MESSAGE_BYTES);
  private readonly eventListeners: Array<(event: HelperEvent) => void> = [];
  private closedError: Error | null = null;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      for (const line of this.framer.push(chunk)) if (line) this.receive(line);
    });
    socket.on('close', () => this.failAll(this.closedError ?? new Error('the helper closed the connection')));
    socket.on('error', (err) => {
      this.closedError ??= err;
    });
  }

  static connect(socketPath: string, timeoutMs = 5000): Promise<HelperClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(socketPath);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new HelperUnreachableError(socketPath, 'ETIMEDOUT'));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new HelperClient(socket));
      });
      socket.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new HelperUnreachableError(socketPath, err.code));
      });
    });
  }

  request<T extends RequestType>(type: T, params: RequestParams<T>): Promise<ResultOf<T>> {
    if (this.closedError || this.socket.destroyed) return Promise.reject(this.closedError ?? new Error('the connection is closed'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { type, resolve, reject });
      this.socket.write(JSON.stringify({ ...params, id, type }) + '\n');
    });
  }

  onEvent(listener: (event: HelperEvent) => void): void {
    this.eventListeners.push(listener);
  }

  close(): void {
    this.socket.end();
    this.socket.destroy();
  }

  private receive(line: Buffer): void {
    let value: unknown;
    try {
      value = JSON.parse(line.toString('utf8'));
    } catch {
      return;
    }
    if (typeof value === 'object' && value !== null && 'event' in value) {
      const event = eventSchema.safeParse(value);
      if (event.success) for (const listener of this.eventListeners) listener(event.data);
      return;
    }
    const reply = replySchema.safeParse(value);
    if (!reply.success) return;
    if (reply.data.id === null) {
      // An error the helper could not tie to a request: `forbidden` to a client the peer check
      // refused (then the helper closes), or a request it could not read. Either way no reply to
      // what is waiting will come, so it fails with the helper's own words rather than hanging
      // or ending in "the helper closed the connection".
      if (!reply.data.ok) this.failConnection(new HelperRequestError(reply.data.error));
      return;
    }
    const pending = this.pending.get(reply.data.id);
    if (!pending) return;
    this.pending.delete(reply.data.id);
    if (!reply.data.ok) {
      pending.reject(new HelperRequestError(reply.data.error));
      return;
    }
    try {
      pending.resolve(parseResult(pending.type, reply.data.result));
    } catch (err) {
      pending.reject(new Error(`the helper sent an unexpected ${pending.type} result: ${(err as Error).message}`));
    }
  }

  /** Ends the connection: what is waiting, and every later request, fails with `error`. */
  private failConnection(error: Error): void {
    this.closedError ??= error;
    this.failAll(this.closedError);
    this.socket.destroy();
  }

  private failAll(error: Error): void {
    for (const pending of this.pending.values()) pending.reject(error);
    this.pending.clear();
  }
}
