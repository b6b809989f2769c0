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
import { chownSync, existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir, userInfo } from 'node:os';
import { createConnection } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
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
  // As root (the only case that starts a helper), root's own home from the password database,
  // not $HOME or XDG_STATE_HOME: under sudo those may still be the user's, and the helper refuses
  // a store another user can change (a planted journal would run as root).
  if (process.getuid?.() === 0) return join(userInfo().homedir, '.local', 'state', 'wirelane-dev');
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

/**
 * Arguments that open the page as an app window with a throwaway profile. The page's address
 * (which holds the token) is never among them: any local user can read a process's arguments in
 * /proc. It is in `launcherFile`, readable by chromium's user alone, which sends the window on.
 * Never --no-sandbox: chromium runs as a normal user (chromiumLaunch), with its sandbox.
 */
export function chromiumAppArgs(launcherFile: string, profileDir: string): string[] {
  return [
    `--app=${pathToFileURL(launcherFile).href}`,
    `--user-data-dir=${profileDir}`,
    '--no-first-run',
    '--no-default-browser-check',
    '--disable-sync',
    '--disable-background-networking',
    '--window-size=1000,720',
  ];
}

/** The launcher file's text: a page that goes on to the app's address at once. */
export function launcherPage(url: string): string {
  const attribute = url.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
  return `<!doctype html>\n<meta charset="utf-8">\n<meta http-equiv="refresh" content="0;url=${attribute}">\n<title>Wirelane</title>\n`;
}

/** Who chromium runs as, and how it is started. */
export type ChromiumUser =
  | { kind: 'self'; uid: number }
  /** npm start under sudo: chromium is started as the user who ran sudo, through setpriv. */
  | { kind: 'sudo-user'; uid: number; gid: number; name: string }
  | { kind: 'none'; reason: string };

/**
 * Chromium must not run as root (it would need --no-sandbox, and a renderer bug would be root's).
 * As root, it runs as SUDO_USER when npm start was run with sudo; with no such user it is not
 * started at all and the address is printed instead.
 */
export function chromiumUser(env: NodeJS.ProcessEnv, ownUid: number): ChromiumUser {
  if (ownUid !== 0) return { kind: 'self', uid: ownUid };
  const uid = Number(env['SUDO_UID']);
  const gid = Number(env['SUDO_GID']);
  const name = env['SUDO_USER'] ?? '';
  if (Number.isInteger(uid) && uid > 0 && Number.isInteger(gid) && gid >= 0 && /^[a-z_][a-z0-9_.-]*\$?$/i.test(name)) {
    return { kind: 'sudo-user', uid, gid, name };
  }
  return {
    kind: 'none',
    reason: 'npm start runs as root and no other user started it (no SUDO_USER), and chromium must not run as root',
  };
}

/** The command that starts chromium as `user`, and the environment it gets (no secrets in it). */
export function chromiumCommand(chromiumPath: string, args: string[], user: Exclude<ChromiumUser, { kind: 'none' }>, env: NodeJS.ProcessEnv, home: string): { file: string; args: string[]; env: NodeJS.ProcessEnv } {
  if (user.kind === 'self') return { file: chromiumPath, args, env };
  const kept: NodeJS.ProcessEnv = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: home, USER: user.name, LOGNAME: user.name };
  for (const name of ['DISPLAY', 'WAYLAND_DISPLAY', 'XAUTHORITY', 'LANG', 'LC_ALL', 'XDG_RUNTIME_DIR', 'DBUS_SESSION_BUS_ADDRESS']) {
    if (env[name] !== undefined) kept[name] = env[name];
  }
  if (kept['XDG_RUNTIME_DIR'] === undefined && existsSync(`/run/user/${user.uid}`)) kept['XDG_RUNTIME_DIR'] = `/run/user/${user.uid}`;
  return {
    file: 'setpriv',
    args: [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--', chromiumPath, ...args],
    env: kept,
  };
}

/** A user's home directory from /etc/passwd ("/" when not found). */
function homeOf(uid: number): string {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const fields = line.split(':');
      if (fields.length >= 7 && fields[2] === String(uid)) return fields[5] || '/';
    }
  } catch {
    // no passwd file: fall through
  }
  return '/';
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
  const ownUid = process.getuid?.() ?? 0;
  const windowUser = chromiumUser(env, ownUid);
  // The host serves this process's user and the one chromium runs as; no one else.
  const allowedUids = new Set([ownUid, ...(windowUser.kind === 'sudo-user' ? [windowUser.uid] : [])]);
  host = await startBrowserHost({ rendererDir: join(repoRoot, 'renderer', 'dist'), handlers: core.relay, logger, allowedUids });
  core.client.start();

  let chromium: ChildProcess | null = null;
  let profileDir: string | null = null;
  const display = env['DISPLAY'] || env['WAYLAND_DISPLAY'];
  const chromiumPath = display && windowUser.kind !== 'none' ? findChromium(env) : null;

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
  if (windowUser.kind === 'none') {
    console.log(`Not opening a window: ${windowUser.reason}. Run npm start with sudo from your own account, or open the address above in a browser running as root.`);
  } else if (chromiumPath) {
    // The address goes to chromium in a file only its user can read, not on its command line.
    profileDir = mkdtempSync(join(tmpdir(), 'wirelane-window-'));
    const launcherFile = join(profileDir, 'open.html');
    writeFileSync(launcherFile, launcherPage(host.url), { mode: 0o600, flag: 'wx' });
    if (windowUser.kind === 'sudo-user') {
      chownSync(profileDir, windowUser.uid, windowUser.gid);
      chownSync(launcherFile, windowUser.uid, windowUser.gid);
    }
    const command = chromiumCommand(chromiumPath, chromiumAppArgs(launcherFile, profileDir), windowUser, env, windowUser.kind === 'sudo-user' ? homeOf(windowUser.uid) : homedir());
    chromium = spawn(command.file, command.args, { stdio: 'ignore', env: command.env });
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
