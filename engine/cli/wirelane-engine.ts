/**
 * `wirelane-engine [-f|--foreground] INTERFACE`: a drop-in for wireguard-go.
 *
 * It creates the TUN interface, serves the cross-platform UAPI at
 * /var/run/wireguard/INTERFACE.sock (where `wg` looks), and runs the engine's Device on them.
 * Unless told to stay in the foreground (-f, or WG_PROCESS_FOREGROUND=1 as wg-quick and
 * wireguard-go understand it), it daemonises as wireguard-go does: it starts itself again,
 * detached in a session of its own with its standard streams away from the caller's (so a
 * caller capturing wg-quick's output never waits on the daemon), and the first process exits 0
 * only once the daemon reports, over an inherited pipe on fd 3, that the interface and socket
 * are ready - or exits 1 with the daemon's error.
 *
 * The daemon exits, removing its socket, when the interface is deleted (`ip link del`, which is
 * what `wg-quick down` does on Linux), when its socket file is removed (what `wg-quick down`
 * does on macOS) or on SIGTERM/SIGINT.
 *
 * macOS: wg-quick asks for "utun" and passes WG_TUN_NAME_FILE; the daemon writes the utunN name
 * the kernel gave into that file, serves /var/run/wireguard/utunN.sock, and removes the file
 * when it exits (engine-files.ts). Windows: the UAPI is the named pipe wireguard-go uses.
 *
 * Environment: LOG_LEVEL=verbose|debug|error|silent (default error, as wireguard-go);
 * WIRELANE_ENGINE_LOG=FILE sends the daemon's log to FILE (default: discarded, as wireguard-go's
 * daemon does); WIRELANE_CRYPTO=noble|sodium picks the crypto backend.
 */
import { spawn } from 'node:child_process';
import { closeSync, lstatSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { loadCryptoBackend } from '../crypto/index.js';
import { UdpBind } from '../conn/udp-bind.js';
import { Device } from '../device/device.js';
import type { Logger } from '../logger.js';
import { DEFAULT_MTU } from '../noise/constants.js';
import { openTun } from '../tun/index.js';
import { writeTunNameFile } from '../tun/tun-darwin.js';
import { serveUapi } from '../uapi/server.js';
import { watchForWake } from '../wake.js';
import { engineFiles } from './engine-files.js';

/** How often the daemon checks that its UAPI socket file is still there. */
const SOCKET_CHECK_MS = 1000;
/** The daemon tells its parent it is ready (or why it is not) on this inherited descriptor. */
const READY_FD_ENV = 'WIRELANE_ENGINE_READY_FD';
const LOG_FILE_ENV = 'WIRELANE_ENGINE_LOG';
/** How long the parent waits for the daemon before giving up. */
const READY_TIMEOUT_MS = 20_000;

const USAGE = 'Usage: wirelane-engine [-f/--foreground] INTERFACE-NAME';

type LogLevel = 'debug' | 'info' | 'error' | 'silent';

function logLevelFromEnv(value: string | undefined): LogLevel {
  switch (value) {
    case 'verbose':
    case 'debug':
      return 'debug';
    case 'info':
      return 'info';
    case 'silent':
      return 'silent';
    default:
      return 'error';
  }
}

/** A logger writing wireguard-go-style lines ("DEBUG: (wg0) 2024/01/02 15:04:05 message") to stderr. */
function createStderrLogger(interfaceName: string, level: LogLevel): Logger {
  const rank = { debug: 0, info: 1, warn: 2, error: 3, silent: 4 } as const;
  const threshold = rank[level];
  const write = (tag: string, severity: number, message: string) => {
    if (severity < threshold) return;
    const stamp = new Date().toISOString().replace('T', ' ').slice(0, 19).replaceAll('-', '/');
    process.stderr.write(`${tag}: (${interfaceName}) ${stamp} ${message}\n`);
  };
  return {
    debug: (m) => write('DEBUG', rank.debug, m),
    info: (m) => write('INFO', rank.info, m),
    warn: (m) => write('WARN', rank.warn, m),
    error: (m) => write('ERROR', rank.error, m),
  };
}

interface Arguments {
  foreground: boolean;
  interfaceName: string;
}

function parseArguments(argv: string[]): Arguments | string {
  let foreground = false;
  const names: string[] = [];
  for (const arg of argv) {
    if (arg === '-f' || arg === '--foreground') foreground = true;
    else if (arg.startsWith('-')) return `unknown option ${arg}`;
    else names.push(arg);
  }
  if (names.length !== 1) return 'exactly one interface name is required';
  const interfaceName = names[0]!;
  // IFNAMSIZ is 16 including the terminating NUL; '/' would escape the socket directory.
  if (interfaceName.length === 0 || interfaceName.length > 15 || /[/\s]/.test(interfaceName)) {
    return `invalid interface name: ${interfaceName}`;
  }
  return { foreground, interfaceName };
}

/**
 * V8's young generation grows to 16 MiB semi-spaces after one burst of allocation (a large
 * `wg setconf` does it) and never gives them back: 20 MB of a 1000-peer device's memory. The
 * packet path allocates little, so small semi-spaces cost it next to nothing; 4 MiB rather than
 * 1 because at 1 a 131,000-prefix setconf spent half its time in scavenges (twice as slow).
 * engine/bin's script asks for the same; an explicit flag from the caller wins.
 */
export const ENGINE_V8_FLAGS = ['--max-semi-space-size=4'];

function withEngineFlags(execArgv: readonly string[]): string[] {
  const extra = ENGINE_V8_FLAGS.filter((flag) => !execArgv.some((given) => given.startsWith(flag.split('=')[0]!)));
  return [...extra, ...execArgv];
}

/** Starts the daemon and waits for its word; resolves to the exit status for this process. */
function daemonise(interfaceName: string): Promise<number> {
  const logFile = process.env[LOG_FILE_ENV];
  const logFd = logFile ? openSync(logFile, 'a', 0o600) : 'ignore';
  const script = process.argv[1]!;
  const child = spawn(process.execPath, [...withEngineFlags(process.execArgv), script, '--foreground', interfaceName], {
    detached: true, // setsid(): its own session, no controlling terminal
    stdio: ['ignore', logFd, logFd, 'pipe'],
    env: { ...process.env, WG_PROCESS_FOREGROUND: '1', [READY_FD_ENV]: '3' },
  });
  if (typeof logFd === 'number') closeSync(logFd);
  return new Promise((resolve) => {
    let said = '';
    let settled = false;
    const finish = (status: number, message?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (message) process.stderr.write(`${message}\n`);
      child.stdio[3]?.removeAllListeners();
      (child.stdio[3] as NodeJS.ReadableStream & { destroy(): void } | null)?.destroy();
      child.removeAllListeners();
      child.unref();
      resolve(status);
    };
    const timer = setTimeout(() => finish(1, `wirelane-engine: the daemon for ${interfaceName} did not become ready in time`), READY_TIMEOUT_MS);
    const pipe = child.stdio[3] as NodeJS.ReadableStream | null;
    pipe?.setEncoding('utf8');
    pipe?.on('data', (chunk: string) => {
      said += chunk;
      const line = said.split('\n')[0]!;
      if (!said.includes('\n')) return;
      if (line === 'ready') finish(0);
      else finish(1, `wirelane-engine: ${line.replace(/^error: /, '')}`);
    });
    pipe?.on('error', () => undefined);
    child.on('error', (error) => finish(1, `wirelane-engine: cannot start the daemon: ${error.message}`));
    child.on('exit', (code, signal) => finish(1, `wirelane-engine: the daemon exited (${code ?? signal}) before it was ready`));
  });
}

/** Tells the parent (if any) how start-up went. */
function report(line: string): void {
  const fd = Number(process.env[READY_FD_ENV]);
  if (!Number.isInteger(fd) || fd < 3) return;
  delete process.env[READY_FD_ENV];
  try {
    writeSync(fd, `${line}\n`);
    closeSync(fd);
  } catch {
    // the parent is gone: nobody to tell
  }
}

function socketInode(path: string): number | null {
  try {
    return lstatSync(path).ino;
  } catch {
    return null;
  }
}

async function runDevice(interfaceName: string): Promise<void> {
  const logger = createStderrLogger(interfaceName, logLevelFromEnv(process.env['LOG_LEVEL']));
  const crypto = loadCryptoBackend();
  logger.info(`starting wirelane-engine (crypto: ${crypto.name})`);

  const tun = openTun(interfaceName, DEFAULT_MTU);
  let device: Device;
  try {
    device = new Device({ tun, bind: new UdpBind(), crypto, logger });
  } catch (error) {
    tun.close();
    throw error;
  }
  // On macOS the kernel chose the utun name; the socket and the name file follow it.
  const { socketPath, socketIsFile, nameFile } = engineFiles(interfaceName, tun.name);
  if (socketIsFile) mkdirSync(dirname(socketPath), { recursive: true, mode: 0o755 });
  let server: Awaited<ReturnType<typeof serveUapi>>;
  try {
    server = await serveUapi(socketPath, device, logger);
  } catch (error) {
    device.close();
    throw error;
  }
  let removeNameFile = () => {};
  try {
    if (nameFile) removeNameFile = writeTunNameFile(tun, { WG_TUN_NAME_FILE: nameFile });
  } catch (error) {
    void server.close();
    device.close();
    throw new Error(`cannot write the interface name to ${nameFile}: ${(error as Error).message}`, { cause: error });
  }

  const ourInode = socketIsFile ? socketInode(socketPath) : null;
  let stopping = false;
  const stop = (why: string) => {
    if (stopping) return;
    stopping = true;
    logger.info(`shutting down: ${why}`);
    try {
      void server.close().catch(() => undefined);
    } catch {
      // closing is best effort; our socket file goes below regardless
    }
    device.close();
    if (socketIsFile && socketInode(socketPath) === ourInode) rmSync(socketPath, { force: true }); // not a successor's
    removeNameFile();
    process.exit(0);
  };
  // Removing the socket is how `wg-quick down` stops a userspace interface on macOS (a utun
  // cannot be deleted from outside): as wireguard-go, exit when the socket file goes away.
  if (socketIsFile) {
    setInterval(() => {
      if (socketInode(socketPath) !== ourInode) stop(`UAPI socket ${socketPath} was removed or replaced`);
    }, SOCKET_CHECK_MS).unref();
  }
  device.onClosed(() => stop(`interface ${interfaceName} was deleted`));
  // As the helper does: after a sleep the sessions' timers are stale, so handshake again now.
  watchForWake((asleep) => {
    logger.info(`woke from sleep (${Math.round(asleep / 1000)} s); re-handshaking every peer`);
    device.rehandshakeAll();
  });
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => undefined); // no terminal to hang up on; do not die of it
  logger.info(`device ${tun.name} started; UAPI listening on ${socketPath}`);
  report('ready');
}

async function main(): Promise<number> {
  const args = parseArguments(process.argv.slice(2));
  if (typeof args === 'string') {
    process.stderr.write(`wirelane-engine: ${args}\n${USAGE}\n`);
    return 1;
  }
  const foreground = args.foreground || process.env['WG_PROCESS_FOREGROUND'] === '1';
  if (!foreground) return daemonise(args.interfaceName);
  try {
    await runDevice(args.interfaceName);
    return -1; // keep running
  } catch (error) {
    const message = `cannot start ${args.interfaceName}: ${(error as Error).message}`;
    report(`error: ${message}`);
    process.stderr.write(`wirelane-engine: ${message}\n`);
    return 1;
  }
}

const status = await main();
if (status >= 0) process.exit(status);
