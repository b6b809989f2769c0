/**
 * Serves the cross-platform UAPI on a Unix socket, where `wg` looks for a userspace interface
 * (/var/run/wireguard/INTERFACE.sock), as wireguard-go's ipc/uapi_unix.go and device/uapi.go do:
 * the folder is created 0755, the socket is 0600 (root only: it hands out the private key), a
 * stale socket left by a dead process is replaced, and a socket a live process still answers on
 * is left alone (we refuse to start).
 *
 * A connection may carry several requests, each "get=1\n\n" or "set=1\n" + key=value lines + an
 * empty line, and each is answered in order; a set ends with "errno=N\n\n". The peer is untrusted
 * (any root process, or a confused one): lines longer than 4 KiB, a set cut off before its empty
 * line, and an unknown operation all end the connection after an errno where one can still be
 * sent. A set request is parsed line by line as it streams in (UapiSetParser), whatever its size. Nothing here throws into the event loop.
 *
 * On Windows the UAPI is a named pipe, as wireguard-go serves it (see uapiSocketPath and
 * servePipe); the protocol on it is the same.
 */
import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { Logger } from '../logger.js';
import { ioAddon } from '../native/addon.js';
import { formatUapiErrno, formatUapiGetReply, UapiSetParser } from './protocol.js';
import { UAPI_EINVAL, UAPI_EIO, UAPI_EPROTO, type UapiTarget } from './types.js';

/**
 * The longest line taken. No bound on the request as a whole: the socket is root's alone, and
 * wireguard-go and the kernel take any number of peers and allowed IPs from root (1000 peers of
 * 131 allowed IPs is a 4 MB request). Lines are parsed as they arrive, so what a request costs
 * is the configuration it describes, never its text.
 */
export const UAPI_MAX_LINE_BYTES = 4096;

/**
 * Where `wg` looks for a userspace interface's UAPI: the Unix socket
 * `/var/run/wireguard/INTERFACE.sock` (`directory` overrides the folder, for tests), or on
 * Windows the named pipe wireguard-go serves, `\\.\pipe\ProtectedPrefix\Administrators\WireGuard\INTERFACE`.
 * Only processes running as an administrator can create a pipe under ProtectedPrefix\Administrators,
 * so another user cannot squat the name before the engine starts.
 */
export function uapiSocketPath(
  interfaceName: string,
  directory = '/var/run/wireguard',
  platform: NodeJS.Platform = process.platform,
): string {
  if (platform === 'win32') return `${UAPI_PIPE_PREFIX}${interfaceName}`;
  return `${directory}/${interfaceName}.sock`;
}

export const UAPI_PIPE_PREFIX = '\\\\.\\pipe\\ProtectedPrefix\\Administrators\\WireGuard\\';

/**
 * The security descriptor wireguard-go gives its UAPI pipe (ipc/uapi_windows.go): owner SYSTEM,
 * a protected DACL granting full access to SYSTEM and the Administrators group only, and a
 * high mandatory label that keeps lower-integrity processes from reading, writing or executing.
 * The pipe hands out the private key, so nobody else may open it.
 *
 * node:net creates pipe instances with the default descriptor of the process token (which also
 * lets Everyone open the pipe for reading - not for writing, so no request can be sent) and
 * has no way to pass another; the addon's pipeSetSecurity replaces it right after listen()
 * (see engine/native/src/pipe_win32.c for how, and why it cannot be done before).
 */
export const UAPI_PIPE_SDDL = 'O:SYD:P(A;;GA;;;SY)(A;;GA;;;BA)S:(ML;;NWNRNX;;;HI)';

function isNamedPipePath(path: string): boolean {
  return path.startsWith('\\\\.\\pipe\\') || path.startsWith('//./pipe/');
}

export interface UapiServer {
  readonly socketPath: string;
  /** Stops listening, drops open connections and removes the socket file; idempotent. */
  close(): Promise<void>;
}

/** Whether a process answers on the Unix socket at `path` (within `timeoutMs`). */
function socketIsLive(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createConnection(path);
    const done = (live: boolean) => {
      clearTimeout(timer);
      probe.destroy();
      resolve(live);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    probe.once('connect', () => done(true));
    probe.once('error', () => done(false));
  });
}

/**
 * Starts serving `target` at `socketPath`. Resolves once the socket accepts connections;
 * rejects if another live process serves that path or the socket cannot be created.
 */
export interface ServeUapiOptions {
  /**
   * Named pipes (Windows): replaces the pipe's security descriptor right after listen() and
   * returns the one in effect. Default: the addon's pipeSetSecurity.
   */
  setPipeSecurity?: (pipeName: string, sddl: string) => string;
}

export async function serveUapi(
  socketPath: string,
  target: UapiTarget,
  logger: Logger,
  options: ServeUapiOptions = {},
): Promise<UapiServer> {
  if (isNamedPipePath(socketPath)) return servePipe(socketPath, target, logger, options);
  mkdirSync(dirname(socketPath), { recursive: true, mode: 0o755 });
  let existing = null;
  try {
    existing = lstatSync(socketPath);
  } catch {
    // nothing there: the usual case
  }
  if (existing) {
    if (!existing.isSocket()) throw new Error(`${socketPath} exists and is not a socket; not replacing it`);
    if (await socketIsLive(socketPath)) throw new Error(`${socketPath} is in use by another running process`);
    logger.info(`removing the stale UAPI socket ${socketPath}`);
    unlinkSync(socketPath);
  }

  const connections = new Set<Socket>();
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    connections.add(socket);
    socket.once('close', () => connections.delete(socket));
    handleConnection(socket, target, logger);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // The socket must never exist with wider permissions, even for an instant: bind under a
    // umask that leaves it 0600, then chmod as well in case the platform ignores the umask.
    const previousUmask = process.umask(0o077);
    try {
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    } finally {
      process.umask(previousUmask);
    }
  });
  chmodSync(socketPath, 0o600);
  const ourInode = lstatSync(socketPath).ino;
  server.on('error', (error) => logger.error(`UAPI socket ${socketPath}: ${error.message}`));
  logger.info(`UAPI listening on ${socketPath}`);

  let closed: Promise<void> | null = null;
  return {
    socketPath,
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of connections) socket.destroy();
        try {
          // Only remove the file if it is still ours (not a successor's socket).
          if (lstatSync(socketPath).ino === ourInode) unlinkSync(socketPath);
        } catch {
          // already gone
        }
      });
      return closed;
    },
  };
}

/**
 * Windows: serves the UAPI on a named pipe. There is no file to prepare or remove; a pipe name
 * another process serves makes listen() fail (EADDRINUSE), which we report. The pipe then gets
 * UAPI_PIPE_SDDL; if that fails we stop serving rather than leave the private key behind Node's
 * default descriptor.
 */
async function servePipe(pipeName: string, target: UapiTarget, logger: Logger, options: ServeUapiOptions): Promise<UapiServer> {
  const setPipeSecurity = options.setPipeSecurity ?? addonPipeSecurity();
  const connections = new Set<Socket>();
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    connections.add(socket);
    socket.once('close', () => connections.delete(socket));
    handleConnection(socket, target, logger);
  });
  const close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const socket of connections) socket.destroy();
    });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'EADDRINUSE' ? new Error(`${pipeName} is in use by another running process`) : error));
    server.listen(pipeName, () => {
      server.removeAllListeners('error');
      resolve();
    });
  });
  let effective: string;
  try {
    effective = setPipeSecurity(pipeName, UAPI_PIPE_SDDL);
  } catch (error) {
    await close();
    throw new Error(`cannot restrict the UAPI pipe ${pipeName} to SYSTEM and Administrators: ${(error as Error).message}`, { cause: error });
  }
  server.on('error', (error) => logger.error(`UAPI pipe ${pipeName}: ${error.message}`));
  logger.info(`UAPI listening on ${pipeName} (${effective})`);
  let closed: Promise<void> | null = null;
  return {
    socketPath: pipeName,
    close() {
      closed ??= close();
      return closed;
    },
  };
}

function addonPipeSecurity(): (pipeName: string, sddl: string) => string {
  return (pipeName, sddl) => {
    const addon = ioAddon();
    if (typeof addon.pipeSetSecurity !== 'function') throw new Error('the wirelane_io addon has no pipeSetSecurity (built for another OS?)');
    return addon.pipeSetSecurity(pipeName, sddl);
  };
}

type ConnectionState = { kind: 'operation' } | { kind: 'get-blank' } | { kind: 'set'; parser: UapiSetParser };

function handleConnection(socket: Socket, target: UapiTarget, logger: Logger): void {
  let state: ConnectionState = { kind: 'operation' };
  let pending: Buffer = Buffer.alloc(0);
  let finished = false;

  socket.on('error', (error) => logger.debug(`UAPI connection error: ${error.message}`));

  const finish = (errno: number | null, why: string) => {
    if (finished) return;
    finished = true;
    logger.warn(`UAPI: closing a connection: ${why}`);
    if (errno !== null && socket.writable) socket.end(formatUapiErrno(errno));
    else socket.end();
    // don't wait for the peer to read: it may never
    setTimeout(() => socket.destroy(), 1000).unref();
  };

  const handleLine = (line: string): void => {
    switch (state.kind) {
      case 'operation':
        if (line === 'get=1') state = { kind: 'get-blank' };
        else if (line === 'set=1') state = { kind: 'set', parser: new UapiSetParser() };
        else finish(null, `unknown operation '${line.slice(0, 32)}'`);
        return;
      case 'get-blank': {
        if (line !== '') {
          finish(UAPI_EINVAL, 'text after get=1 where an empty line belongs');
          return;
        }
        state = { kind: 'operation' };
        let reply: string | Buffer;
        try {
          reply = formatUapiGetReply(target.view ? target.view() : target.snapshot());
        } catch (error) {
          logger.error(`UAPI get failed: ${(error as Error).message}`);
          reply = formatUapiErrno(UAPI_EIO);
        }
        socket.write(reply);
        return;
      }
      case 'set': {
        if (line !== '') {
          // A refused line is answered at the empty line, as one errno for the whole request.
          state.parser.line(line);
          return;
        }
        const parsed = state.parser.finish();
        state = { kind: 'operation' };
        let errno = 0;
        if (!parsed.ok) {
          logger.warn(`UAPI set refused: ${parsed.error.message}`);
          errno = parsed.error.errno;
        } else {
          try {
            const error = target.applySet(parsed.request);
            if (error) {
              logger.warn(`UAPI set failed: ${error.message}`);
              errno = error.errno;
            }
          } catch (error) {
            logger.error(`UAPI set failed unexpectedly: ${(error as Error).message}`);
            errno = UAPI_EIO;
          }
        }
        socket.write(formatUapiErrno(errno));
        return;
      }
    }
  };

  socket.on('data', (chunk: Buffer) => {
    if (finished) return;
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let start = 0;
    for (;;) {
      const newline = pending.indexOf(0x0a, start);
      if (newline < 0) break;
      if (newline - start > UAPI_MAX_LINE_BYTES) {
        finish(UAPI_EPROTO, `a line longer than ${UAPI_MAX_LINE_BYTES} bytes`);
        return;
      }
      const line = pending.toString('utf8', start, newline);
      start = newline + 1;
      handleLine(line);
      if (finished) return;
    }
    pending = pending.subarray(start);
    if (pending.length > UAPI_MAX_LINE_BYTES) finish(UAPI_EPROTO, `a line longer than ${UAPI_MAX_LINE_BYTES} bytes`);
  });

  socket.on('end', () => {
    if (finished) return;
    if (state.kind !== 'operation' || pending.length > 0) {
      // A set without its empty line is not applied: the request may have been cut short.
      finish(UAPI_EPROTO, 'the request ended before its empty line');
    } else {
      finished = true;
      socket.end();
    }
  });
}
