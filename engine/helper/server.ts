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
 * A client that does not read its replies and events is disconnected once MAX_PENDING_BYTES are
 * queued for it, rather than letting the helper's memory grow.
 *
 * Before any of that, on Linux and macOS, each accepted connection passes the peer check of
 * authorisation.ts (who connected, from the kernel); a refused one gets a single `forbidden`
 * reply with id null, nothing it sends is read, and it is closed.
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
import type { Logger } from '../logger.js';

const MAX_PENDING_BYTES = 8 * 1024 * 1024;
const NEWLINE = 0x0a;
/** How long a refused client may take to read its `forbidden` reply before it is cut off. */
const REFUSED_LINGER_MS = 2000;

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
}

export class ControlServer {
  private server: Server | null = null;
  private readonly clients = new Set<ClientState>();
  /** Refused connections still reading their `forbidden` reply. */
  private readonly refused = new Set<Socket>();
  private peerCheck: PeerCheck | null = null;
  /** Connections waiting for the peer check's answer (macOS asks the directory service). */
  private readonly checking = new Set<Socket>();
  private nextClientId = 1;

  constructor(private readonly options: ControlServerOptions) {}

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
      this.refuse(socket, verdict);
      return;
    }
    const client = new ClientState(this.nextClientId++, socket, this.options.logger);
    this.clients.add(client);
    socket.on('close', () => this.clients.delete(client));
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      for (const line of client.framer.push(chunk)) {
        if (line === null) {
          client.send(errorReply(null, 'too_large', `a message may be at most ${MAX_MESSAGE_BYTES} bytes`));
        } else {
          void this.dispatch(line, client);
        }
      }
    });
  }

  /** One `forbidden` reply, then the connection is closed; whatever the client sends is discarded unread. */
  private refuse(socket: Socket, verdict: Extract<PeerCheckOutcome, { allowed: false }>): void {
    const peer = verdict.peer;
    const who = peer ? `uid ${peer.uid} (gid ${peer.gid}, pid ${peer.pid})` : 'a client';
    this.options.logger.warn(`control socket: refused ${who}: ${verdict.reason}`);
    this.refused.add(socket);
    const timer = setTimeout(() => socket.destroy(), REFUSED_LINGER_MS);
    timer.unref();
    socket.on('close', () => {
      clearTimeout(timer);
      this.refused.delete(socket);
    });
    socket.on('error', () => socket.destroy());
    // Reading (and dropping) its bytes keeps the close orderly: closing a Unix socket with unread
    // data can reset the connection before the client has read the reply.
    socket.resume();
    socket.end(
      JSON.stringify(errorReply(null, 'forbidden', `not allowed to use the helper: ask an administrator to add you to the '${CLIENT_GROUP}' group (then log in again)`)) + '\n',
    );
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

  constructor(
    readonly id: number,
    readonly socket: Socket,
    private readonly logger: Logger,
  ) {}

  send(message: object): void {
    if (this.socket.destroyed) return;
    if (this.socket.writableLength > MAX_PENDING_BYTES) {
      this.logger.warn(`client ${this.id} is not reading its messages; disconnecting it`);
      this.socket.destroy();
      return;
    }
    this.socket.write(JSON.stringify(message) + '\n');
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
    // Keep what we hold independent of the caller's chunk buffer.
    if (this.parts.length > 0) this.parts = [Buffer.concat(this.parts)];
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
