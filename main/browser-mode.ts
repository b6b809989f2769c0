/**
 * `npm start` where Electron's binary cannot be installed (no internet, as in CI): the same app
 * core (helper client, view, relay) served by main/browser-host.ts on 127.0.0.1 and shown in
 * Debian's chromium in app mode, or, with no display, served until Ctrl-C at the URL it prints.
 *
 * The helper: the one at WIRELANE_HELPER_SOCKET or the platform's default socket. When nobody
 * answers there and this runs as root (a development machine), it starts engine/bin/wirelane-helper
 * itself with a development store (~/.local/state/wirelane-dev, never the installed service's
 * /var/lib/wirelane) and stops it again on exit. Otherwise the window shows its "helper not
 * running" page with what to do, and connects by itself once a helper runs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { createConnection } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../engine/logger.js';
import { createAppCore } from './app-core.js';
import { startBrowserHost, type BrowserHost } from './browser-host.js';
import { consoleLogger } from './console-logger.js';
import { defaultHelperSocket, helperLooksInstalled } from './helper-location.js';
import type { DesktopServices } from './relay.js';

// Compiled: dist/main/browser-mode.js; the repository root is two folders up.
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface BrowserModeOptions {
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
}

/** Whether something accepts connections on the helper's socket within timeoutMs. */
export function helperAnswers(socketPath: string, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(socketPath);
    const done = (answer: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Where a helper started by `npm start` keeps its tunnels and its log. */
export function devStateDir(env: NodeJS.ProcessEnv): string {
  const base = env['XDG_STATE_HOME'] && env['XDG_STATE_HOME'].startsWith('/') ? env['XDG_STATE_HOME'] : join(homedir(), '.local', 'state');
  return join(base, 'wirelane-dev');
}

/** Debian's chromium (or chromium-browser), if installed. */
export function findChromium(env: NodeJS.ProcessEnv): string | null {
  for (const dir of (env['PATH'] ?? '/usr/bin:/bin').split(':')) {
    for (const name of ['chromium', 'chromium-browser']) {
      const candidate = join(dir, name);
      if (dir && existsSync(candidate)) return candidate;
    }
  }
  return null;
}

/** Arguments that open the page as an app window with a throwaway profile. */
export function chromiumAppArgs(url: string, profileDir: string, runningAsRoot: boolean): string[] {
  return [
    `--app=${url}`,
    `--user-data-dir=${profileDir}`,
    '--no-first-run',
    '--no-default-browser-check',
    '--disable-sync',
    '--disable-background-networking',
    '--window-size=1000,720',
    // Chromium refuses to start as root with its sandbox; the page itself is ours and local.
    ...(runningAsRoot ? ['--no-sandbox'] : []),
  ];
}

async function startDevHelper(socketPath: string, env: NodeJS.ProcessEnv, logger: Logger): Promise<ChildProcess> {
  const state = devStateDir(env);
  mkdirSync(state, { recursive: true, mode: 0o700 });
  const logPath = join(state, 'helper.log');
  const log = openSync(logPath, 'a', 0o600);
  const store = join(state, 'store');
  logger.info(`no helper answers at ${socketPath}; starting one (store ${store}, log ${logPath})`);
  const child = spawn(process.execPath, [join(repoRoot, 'engine', 'bin', 'wirelane-helper'), '--socket', socketPath, '--store', store], {
    stdio: ['ignore', log, log],
    env,
  });
  closeSync(log);
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    if (await helperAnswers(socketPath, 500)) return child;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const tail = existsSync(logPath) ? readFileSync(logPath, 'utf8').split('\n').slice(-15).join('\n') : '';
  if (child.exitCode === null) child.kill('SIGTERM');
  throw new Error(`the helper did not start within 30 s; its log (${logPath}) ends with:\n${tail}`);
}

async function stopChild(child: ChildProcess | null, timeoutMs: number): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(timer);
}

/** Runs the app in a browser until Ctrl-C (or until its chromium window closes). */
export async function runBrowserMode(options: BrowserModeOptions = {}): Promise<void> {
  const env = options.env ?? process.env;
  const logger = options.logger ?? consoleLogger;
  const socketPath = env['WIRELANE_HELPER_SOCKET'] ?? defaultHelperSocket(process.platform);
  const runningAsRoot = process.getuid?.() === 0;

  let helper: ChildProcess | null = null;
  if (!(await helperAnswers(socketPath))) {
    if (runningAsRoot && process.platform !== 'win32') helper = await startDevHelper(socketPath, env, logger);
    else logger.warn(`no helper answers at ${socketPath}: the window says what to do, and connects once one runs`);
  }

  let host: BrowserHost | null = null;
  const desktop: DesktopServices = {
    // The page picks files itself (a file input, see browser-host.ts); nothing to do here.
    pickImportFiles: async () => null,
    // No save dialog without Electron: exports go to ~/Downloads (or home), never over a file.
    chooseSavePath: async (defaultFileName) => exportPath(defaultFileName),
    writeFile: async (path, bytes) => {
      const { writeFile } = await import('node:fs/promises');
      await writeFile(path, bytes, { mode: 0o600, flag: 'wx' });
    },
    // The page writes the clipboard itself once the relay accepted the key.
    copyText: () => {},
  };
  const core = createAppCore({
    socketPath,
    logger,
    platform: process.platform,
    isInstalled: () => helper !== null || helperLooksInstalled(process.platform, socketPath, env),
    desktop,
    push: (name, payload) => host?.push(name, payload),
  });
  host = await startBrowserHost({ rendererDir: join(repoRoot, 'renderer', 'dist'), handlers: core.relay, logger });
  core.client.start();

  let chromium: ChildProcess | null = null;
  let profileDir: string | null = null;
  const display = env['DISPLAY'] || env['WAYLAND_DISPLAY'];
  const chromiumPath = display ? findChromium(env) : null;

  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    logger.info('stopping…');
    core.client.stop();
    await host?.close();
    await stopChild(chromium, 5000);
    await stopChild(helper, 15_000);
    if (profileDir) rmSync(profileDir, { recursive: true, force: true });
    process.exit(code);
  };
  process.once('SIGINT', () => void stop(0));
  process.once('SIGTERM', () => void stop(0));
  helper?.once('exit', (code, signal) => {
    if (!stopping) logger.warn(`the helper started by npm start exited (${signal ?? `status ${code}`}); see ${join(devStateDir(env), 'helper.log')}`);
  });

  console.log(`\nWirelane is running without Electron, in your browser:\n\n    ${host.url}\n`);
  console.log('The address holds a one-time key: only this page may drive the helper. Stop with Ctrl-C.');
  if (chromiumPath) {
    profileDir = mkdtempSync(join(tmpdir(), 'wirelane-window-'));
    chromium = spawn(chromiumPath, chromiumAppArgs(host.url, profileDir, runningAsRoot), { stdio: 'ignore', env });
    chromium.once('exit', () => void stop(0));
    chromium.once('error', (error) => logger.warn(`could not open chromium (${error.message}); open the address above yourself`));
  } else if (display) {
    console.log('chromium is not installed: open the address above in a browser.');
  } else {
    console.log('No display: open the address above in a browser on this machine (an SSH tunnel to 127.0.0.1 works too).');
  }
}

/** A fresh file name for an export in ~/Downloads, or in the home folder when there is none. */
function exportPath(defaultFileName: string): string {
  const downloads = join(homedir(), 'Downloads');
  const dir = existsSync(downloads) ? downloads : homedir();
  const dot = defaultFileName.lastIndexOf('.');
  const stem = dot > 0 ? defaultFileName.slice(0, dot) : defaultFileName;
  const ext = dot > 0 ? defaultFileName.slice(dot) : '';
  for (let n = 0; n < 1000; n++) {
    const candidate = join(dir, n === 0 ? defaultFileName : `${stem}-${n}${ext}`);
    if (!existsSync(candidate)) return candidate;
  }
  return join(dir, `${stem}-${Date.now()}${ext}`);
}
