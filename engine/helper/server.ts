/**
 * The control API server: newline-delimited JSON over a Unix socket or named pipe.
 *
 * Per connection, bytes are gathered until a newline; each line is one message. A line longer
 * than MAX_MESSAGE_BYTES gets a `too_large` error reply and is skipped up to its newline, so a
 * client cannot make the helper buffer without bound. Every line goes through the zod request
 * schema before a handler sees it; whatever is wrong with it (not JSON, not an object, unknown
 * type, bad fields) becomes an error reply carrying the request's id when one can be read.
 * Handlers may throw: HandlerFailure becomes its error reply, anything else an `internal` one.
 * Nothing a client sends can throw out of this file.
 *
 * Before any of that, on Linux and macOS, each accepted connection passes the peer check of
 * authorisation.ts (who connected, from the kernel); a refused one gets a single `forbidden`
 * reply with id null, nothing it sends is read, and it is closed.
 *
 * Bounds (ConnectionLimits), because the engine shares this process and a member of the group
 * must not be able to starve it or the other users:
 * - at most `perUser` connections per uid and `total` in all; one more gets a single `busy`
 *   reply (id null) and is closed. Root may still connect when the total is reached (up to its
 *   own per-user cap), so an administrator can always reach a helper under attack;
 * - a message begun must end (its newline) within `messageTimeoutMs`, however slowly its bytes
 *   trickle in: else a `timeout` reply and the connection is closed;
 * - replies and events a client does not read: at most `pendingBytes` are queued for it, and the
 *   queue must start moving within `replyTimeoutMs`; else the connection is closed. While its
 *   replies wait, nothing more is read from it, so requests cannot pile up behind them;
 * - at most MAX_IN_FLIGHT requests of one connection are handled at once (reading pauses);
 * - refused and busy connections linger (to read their one reply) at most REFUSED_LINGER_MS,
 *   reading at most LINGER_READ_BYTES, and at most MAX_LINGERING of them at a time; beyond that
 *   they are closed without a reply.
 * So the helper holds at most (total + perUser) x (MAX_MESSAGE_BYTES + pendingBytes) for its
 * clients, whatever they send.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { unlinkSync } from 'node:fs';
import {
  MAX_MESSAGE_BYTES,
  requestIdSchema,
  requestParamSchemas,
  requestSchema,
  type ErrorCode,
  type HelperEvent,
  type ProtocolError,
  type Request,
  type RequestId,
  type ConfProblem,
} from './protocol.js';
import { CLIENT_GROUP, createPeerCheck, isNamedPipe, prepareSocketPath, restrictSocket, type PeerCheck, type PeerCheckOptions, type PeerCheckOutcome } from './authorisation.js';
import type { PeerCredentials } from '../native/addon.js';
import type { Logger } from '../logger.js';

const NEWLINE = 0x0a;
/** How long a refused (or busy) client may take to read its one reply before it is cut off. */
const REFUSED_LINGER_MS = 2000;
/** Refused and busy connections kept open at once to read their reply; later ones are just closed. */
const MAX_LINGERING = 64;
/** Bytes read (and dropped) from a refused or busy connection while its reply waits to be read. */
const LINGER_READ_BYTES = 64 * 1024;
/** Requests of one connection being handled at once; beyond it the connection is not read. */
const MAX_IN_FLIGHT = 32;

/** How many connections the helper serves and how long it waits for them (see the top of this file). */
export interface ConnectionLimits {
  /** Connections of one uid (every connection, when the peer's uid cannot be known, counts against `total` only). */
  perUser: number;
  /** Connections in all (root may exceed it up to its own `perUser`). */
  total: number;
  /** Milliseconds from a message's first byte to its newline. */
  messageTimeoutMs: number;
  /** Milliseconds queued output may wait for the client to read before it is cut off. */
  replyTimeoutMs: number;
  /** Bytes of replies and events queued for one client at most. */
  pendingBytes: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  perUser: 16,
  total: 64,
  messageTimeoutMs: 10_000,
  replyTimeoutMs: 30_000,
  pendingBytes: 4 * 1024 * 1024,
};

/** An expected failure of a request; becomes `{ok: false, error}`. */
export class HandlerFailure extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly problems?: ConfProblem[],
  ) {
    super(message);
  }
}

/** One connected client, as handlers see it. */
export interface ClientConnection {
  readonly id: number;
  /** Whether this client receives status/log/tunnels events. */
  subscribed: boolean;
  /** With subscribed: whether log events are wanted, and of which tunnel (null: all). */
  logs: boolean;
  logsOf: string | null;
  /** Who connected, from the kernel (null where it cannot be known: Windows, no addon). */
  readonly peer: PeerCredentials | null;
  send(message: object): void;
}

export type RequestHandler = (request: Request, client: ClientConnection) => Promise<unknown>;

export interface ControlServerOptions {
  socketPath: string;
  logger: Logger;
  handle: RequestHandler;
  /** Where to look up the `wirelane` group (tests point it at a fixture). */
  groupFile?: string;
  /** Where to look up users for the peer check (default /etc/passwd). */
  passwdFile?: string;
  /** Tests only: the peer check's source of credentials (null: as if the addon had none). */
  peerCredentials?: PeerCheckOptions['credentials'];
  /** Tests only: the macOS directory service the peer check asks (default: on macOS, the real one). */
  directory?: PeerCheckOptions['directory'];
  /** Default DEFAULT_CONNECTION_LIMITS; tests shorten the timeouts. */
  limits?: Partial<ConnectionLimits>;
}

export class ControlServer {
  private server: Server | null = null;
  private readonly clients = new Set<ClientState>();
  /** Refused and busy connections still reading their one reply. */
  private readonly refused = new Set<Socket>();
  private peerCheck: PeerCheck | null = null;
  /** Connections waiting for the peer check's answer (macOS asks the directory service). */
  private readonly checking = new Set<Socket>();
  /** Open client connections per peer uid. */
  private readonly perUser = new Map<number, number>();
  private nextClientId = 1;
  private readonly limits: ConnectionLimits;

  constructor(private readonly options: ControlServerOptions) {
    this.limits = { ...DEFAULT_CONNECTION_LIMITS, ...options.limits };
  }

  async listen(): Promise<void> {
    const { socketPath, logger } = this.options;
    await prepareSocketPath(socketPath, logger);
    // Ready before the first connection can arrive.
    this.peerCheck = createPeerCheck(socketPath, logger, {
      groupFile: this.options.groupFile,
      passwdFile: this.options.passwdFile,
      credentials: this.options.peerCredentials,
      directory: this.options.directory,
    });
    const server = createServer((socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // The socket file is created by bind(2) inside listen(), synchronously: a tight umask
      // around it means it never exists, even for an instant, with looser permissions.
      const previousUmask = isNamedPipe(socketPath) ? null : process.umask(0o177);
      try {
        server.listen(socketPath, () => {
          server.off('error', reject);
          resolve();
        });
      } finally {
        if (previousUmask !== null) process.umask(previousUmask);
      }
    });
    server.on('error', (err) => logger.error(`control socket: ${err.message}`));
    await restrictSocket(socketPath, logger, this.options.groupFile);
  }

  /** Sends an event to every subscribed client that wants it. */
  broadcast(event: HelperEvent): void {
    for (const client of this.clients) {
      if (!client.subscribed) continue;
      if (event.event === 'log' && (!client.logs || (client.logsOf !== null && client.logsOf !== event.name))) continue;
      client.send(event);
    }
  }

  subscriberCount(): number {
    let n = 0;
    for (const client of this.clients) if (client.subscribed) n++;
    return n;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    for (const client of this.clients) client.socket.destroy();
    this.clients.clear();
    for (const socket of this.refused) socket.destroy();
    this.refused.clear();
    for (const socket of this.checking) socket.destroy();
    this.checking.clear();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    if (!isNamedPipe(this.options.socketPath)) {
      try {
        unlinkSync(this.options.socketPath);
      } catch {
        // Already removed.
      }
    }
  }

  private accept(socket: Socket): void {
    // Waiting for the directory service costs a socket each: as many as may be served, no more.
    if (this.checking.size >= this.limits.total) {
      socket.destroy();
      return;
    }
    const verdict = this.peerCheck?.(socket);
    if (verdict instanceof Promise) {
      // Nothing is read until the answer: without a 'data' listener the socket only buffers.
      this.checking.add(socket);
      const onError = () => socket.destroy();
      socket.on('error', onError);
      void verdict.then((answer) => {
        socket.off('error', onError);
        const stillWanted = this.checking.delete(socket);
        if (stillWanted && !socket.destroyed) this.admit(socket, answer);
      });
      return;
    }
    this.admit(socket, verdict);
  }

  private admit(socket: Socket, verdict: PeerCheckOutcome | undefined): void {
    if (verdict && !verdict.allowed) {
      const peer = verdict.peer;
      const who = peer ? `uid ${peer.uid} (gid ${peer.gid}, pid ${peer.pid})` : 'a client';
      this.options.logger.warn(`control socket: refused ${who}: ${verdict.reason}`);
      this.closeWith(socket, 'forbidden', `not allowed to use the helper: ask an administrator to add you to the '${CLIENT_GROUP}' group (then log in again)`);
      return;
    }
    const peer = verdict?.peer ?? null;
    const busy = this.busyReason(peer);
    if (busy !== null) {
      this.closeWith(socket, 'busy', busy);
      return;
    }
    const run = async (line: Buffer | null): Promise<void> => {
      if (line === null) client.send(errorReply(null, 'too_large', `a message may be at most ${MAX_MESSAGE_BYTES} bytes`));
      else await this.dispatch(line, client);
    };
    const client = new ClientState(this.nextClientId++, socket, peer, this.limits, this.options.logger, run);
    this.clients.add(client);
    if (peer) this.perUser.set(peer.uid, (this.perUser.get(peer.uid) ?? 0) + 1);
    socket.on('close', () => {
      client.stopTimers();
      this.clients.delete(client);
      if (peer) {
        const left = (this.perUser.get(peer.uid) ?? 1) - 1;
        if (left > 0) this.perUser.set(peer.uid, left);
        else this.perUser.delete(peer.uid);
      }
    });
    socket.on('error', () => socket.destroy());
    socket.on('drain', () => client.drained());
    socket.on('data', (chunk: Buffer) => client.received(chunk));
  }

  /** Why one more connection of `peer` is not served now, or null when it is. */
  private busyReason(peer: PeerCredentials | null): string | null {
    const { perUser, total } = this.limits;
    if (peer && (this.perUser.get(peer.uid) ?? 0) >= perUser) {
      this.options.logger.warn(`control socket: uid ${peer.uid} (pid ${peer.pid}) has ${perUser} connections open already; refusing another`);
      return `the helper serves at most ${perUser} connections per user; close one and try again`;
    }
    if (this.clients.size >= total && peer?.uid !== 0) {
      this.options.logger.warn(`control socket: ${total} connections open; refusing ${peer ? `uid ${peer.uid} (pid ${peer.pid})` : 'a client'}`);
      return `the helper serves at most ${total} connections at once; try again later`;
    }
    return null;
  }

  /**
   * One error reply (id null), then the connection is closed; whatever the client sends is
   * discarded unread. At most MAX_LINGERING such connections wait for their reply to be read.
   */
  private closeWith(socket: Socket, code: ErrorCode, message: string): void {
    if (this.refused.size >= MAX_LINGERING) {
      socket.destroy();
      return;
    }
    this.refused.add(socket);
    const timer = setTimeout(() => socket.destroy(), REFUSED_LINGER_MS);
    timer.unref();
    socket.on('close', () => {
      clearTimeout(timer);
      this.refused.delete(socket);
    });
    socket.on('error', () => socket.destroy());
    // Reading (and dropping) its bytes keeps the close orderly: closing a Unix socket with unread
    // data can reset the connection before the client has read the reply. A client that keeps
    // sending is not read for long: past LINGER_READ_BYTES it is closed at once.
    let discarded = 0;
    socket.on('data', (chunk: Buffer) => {
      discarded += chunk.length;
      if (discarded > LINGER_READ_BYTES) socket.destroy();
    });
    socket.end(JSON.stringify(errorReply(null, code, message)) + '\n');
  }

  private async dispatch(line: Buffer, client: ClientState): Promise<void> {
    const parsed = parseRequest(line);
    if (!parsed.ok) {
      client.send({ id: parsed.id, ok: false, error: parsed.error });
      return;
    }
    const request = parsed.request;
    try {
      const result = await this.options.handle(request, client);
      client.send({ id: request.id, ok: true, result });
    } catch (err) {
      if (err instanceof HandlerFailure) {
        const error: ProtocolError = { code: err.code, message: err.message };
        if (err.problems) error.problems = err.problems;
        client.send({ id: request.id, ok: false, error });
      } else {
        this.options.logger.error(`request ${request.type} failed: ${(err as Error)?.stack ?? String(err)}`);
        client.send(errorReply(request.id, 'internal', `the helper failed: ${(err as Error)?.message ?? String(err)}`));
      }
    }
  }
}

class ClientState implements ClientConnection {
  subscribed = false;
  logs = false;
  logsOf: string | null = null;
  readonly framer = new LineFramer(MAX_MESSAGE_BYTES);
  /** Whole messages read but not yet handled (at most one read's worth: reading pauses). */
  private readonly backlog: Array<Buffer | null> = [];
  /** Runs from a message's first byte to its newline. */
  private messageTimer: NodeJS.Timeout | null = null;
  /** Runs while output waits for the client to read it. */
  private replyTimer: NodeJS.Timeout | null = null;
  private inFlight = 0;

  constructor(
    readonly id: number,
    readonly socket: Socket,
    readonly peer: PeerCredentials | null,
    private readonly limits: ConnectionLimits,
    private readonly logger: Logger,
    /** Handles one message (null: one that was too large). */
    private readonly run: (line: Buffer | null) => Promise<void>,
  ) {}

  send(message: object): void {
    const socket = this.socket;
    if (socket.destroyed) return;
    const text = JSON.stringify(message) + '\n';
    if (socket.writableLength + Buffer.byteLength(text) > this.limits.pendingBytes) {
      this.cutOff(`is not reading its messages (${socket.writableLength} bytes queued)`);
      return;
    }
    if (!socket.write(text)) this.waitForReader();
  }

  received(chunk: Buffer): void {
    const lines = this.framer.push(chunk);
    this.backlog.push(...lines);
    this.pump();
    this.framed(lines.length > 0);
  }

  /** The client read what was queued. */
  drained(): void {
    if (this.replyTimer) clearTimeout(this.replyTimer);
    this.replyTimer = null;
    this.pump();
  }

  stopTimers(): void {
    this.clearMessageTimer();
    if (this.replyTimer) clearTimeout(this.replyTimer);
    this.replyTimer = null;
  }

  /**
   * Handles what was read, as far as the bounds allow: not while MAX_IN_FLIGHT requests run nor
   * while replies wait for the client to read them. Reading pauses while anything is held back.
   */
  private pump(): void {
    while (this.backlog.length > 0 && !this.blocked()) {
      const line = this.backlog.shift()!;
      this.inFlight++;
      void this.run(line).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
    if (this.socket.destroyed) return;
    if (this.backlog.length > 0 || this.blocked()) {
      this.pauseReading();
    } else if (this.socket.isPaused()) {
      this.socket.resume();
      // The message held when reading paused gets its full time again: the wait was ours.
      this.framed(true);
    }
  }

  private blocked(): boolean {
    return this.socket.destroyed || this.inFlight >= MAX_IN_FLIGHT || this.replyTimer !== null;
  }

  /** After each read: whether it completed a message, and so whether the held part is a new one. */
  private framed(completedAny: boolean): void {
    // Not reading (see pauseReading): the client cannot finish its message; no time runs.
    if (this.socket.destroyed || !this.framer.holding || this.socket.isPaused()) {
      this.clearMessageTimer();
      return;
    }
    // A new message began in this read: its own time limit; else the running one goes on, so
    // a message trickled a byte at a time still ends on time.
    if (completedAny) this.clearMessageTimer();
    if (this.messageTimer === null) {
      this.messageTimer = setTimeout(() => this.messageTimedOut(), this.limits.messageTimeoutMs);
      this.messageTimer.unref();
    }
  }

  private waitForReader(): void {
    if (this.replyTimer !== null) return;
    this.replyTimer = setTimeout(() => this.cutOff(`has not read its messages for ${this.limits.replyTimeoutMs / 1000} s`), this.limits.replyTimeoutMs);
    this.replyTimer.unref();
    // Nothing more is read from a client whose replies wait: it cannot queue more work for us.
    this.pauseReading();
  }

  private pauseReading(): void {
    this.socket.pause();
    this.clearMessageTimer();
  }

  private messageTimedOut(): void {
    this.messageTimer = null;
    const who = this.peer ? `uid ${this.peer.uid} (pid ${this.peer.pid})` : 'a client';
    this.logger.warn(`client ${this.id} (${who}) did not finish a message within ${this.limits.messageTimeoutMs / 1000} s; disconnecting it`);
    this.socket.end(JSON.stringify(errorReply(null, 'timeout', `a message must be complete within ${this.limits.messageTimeoutMs / 1000} s`)) + '\n');
    // Whether or not it reads that, it is gone soon.
    setTimeout(() => this.socket.destroy(), REFUSED_LINGER_MS).unref();
  }

  private cutOff(why: string): void {
    const who = this.peer ? `uid ${this.peer.uid} (pid ${this.peer.pid})` : 'a client';
    this.logger.warn(`client ${this.id} (${who}) ${why}; disconnecting it`);
    this.stopTimers();
    this.socket.destroy();
  }

  private clearMessageTimer(): void {
    if (this.messageTimer) clearTimeout(this.messageTimer);
    this.messageTimer = null;
  }
}

/**
 * Splits a byte stream into lines of at most `max` bytes (newline included). An overlong line
 * yields one `null` and is then skipped up to its newline.
 */
export class LineFramer {
  private parts: Buffer[] = [];
  private size = 0;
  private discarding = false;

  constructor(private readonly max: number) {}

  /** Whether part of a message is held (or an overlong one is being skipped): a message has begun. */
  get holding(): boolean {
    return this.size > 0 || this.discarding;
  }

  push(chunk: Buffer): Array<Buffer | null> {
    const out: Array<Buffer | null> = [];
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(NEWLINE, start);
      const end = nl === -1 ? chunk.length : nl;
      if (this.discarding) {
        if (nl !== -1) this.discarding = false;
      } else if (this.size + (end - start) + 1 > this.max) {
        this.parts = [];
        this.size = 0;
        out.push(null);
        this.discarding = nl === -1;
      } else if (nl === -1) {
        this.parts.push(chunk.subarray(start, end));
        this.size += end - start;
      } else {
        this.parts.push(chunk.subarray(start, end));
        out.push(this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts));
        this.parts = [];
        this.size = 0;
      }
      if (nl === -1) break;
      start = nl + 1;
    }
    // What is held of a chunk that also carried whole lines is copied out, so the chunk can go.
    // Whole chunks are kept as they are, and joined once, when their line ends: joining on every
    // chunk would copy a long message over and over (a 1 MiB message in 64 KiB reads: 8 MiB).
    const tail = this.parts.at(-1);
    if (tail !== undefined && tail.length < chunk.length && tail.buffer === chunk.buffer) this.parts[this.parts.length - 1] = Buffer.from(tail);
    return out;
  }
}

type ParseOutcome = { ok: true; request: Request } | { ok: false; id: RequestId | null; error: ProtocolError };

function errorReply(id: RequestId | null, code: ErrorCode, message: string) {
  return { id, ok: false as const, error: { code, message } };
}

/** Validates one line as a request; never throws. */
export function parseRequest(line: Buffer): ParseOutcome {
  let value: unknown;
  try {
    value = JSON.parse(line.toString('utf8'));
  } catch {
    return { ok: false, id: null, error: { code: 'bad_request', message: 'the message is not valid JSON' } };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, id: null, error: { code: 'bad_request', message: 'a message must be a JSON object' } };
  }
  const fields = value as Record<string, unknown>;
  const idCheck = requestIdSchema.safeParse(fields.id);
  const id = idCheck.success ? idCheck.data : null;
  if (!idCheck.success) {
    return { ok: false, id: null, error: { code: 'bad_request', message: 'a request needs an "id": a non-negative integer' } };
  }
  if (typeof fields.type !== 'string' || !Object.hasOwn(requestParamSchemas, fields.type)) {
    const shown = typeof fields.type === 'string' ? `'${fields.type.slice(0, 40).replace(/[^\x20-\x7e]/g, '?')}'` : 'missing';
    return { ok: false, id, error: { code: 'unknown_type', message: `unknown request type ${shown}` } };
  }
  const checked = requestSchema.safeParse(value);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
    return { ok: false, id, error: { code: 'bad_request', message: `${fields.type}: ${where}${issue?.message ?? 'invalid'}` } };
  }
  return { ok: true, request: checked.data };
}
