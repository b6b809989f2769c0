/**
 * Launch at login, per platform, and whether a start was a hidden one.
 *
 * - Linux: Electron's login items do nothing there, so we write an XDG autostart entry,
 *   $XDG_CONFIG_HOME/autostart/wirelane.desktop (~/.config/autostart by default), which every
 *   desktop that follows the XDG autostart specification runs at login. Start hidden adds
 *   `--hidden` to its command; turning launch at login off removes the file.
 * - macOS: the system's login items through app.setLoginItemSettings, `openAsHidden` for start
 *   hidden (macOS passes no arguments to login items; the start is recognised through
 *   getLoginItemSettings().wasOpenedAtLogin / wasOpenedAsHidden).
 * - Windows: the Run key through app.setLoginItemSettings, with `--hidden` among its arguments.
 *
 * Plain functions over the calls and files they make, so each platform is tested under Node.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { AppSettings } from './ipc-schema.js';
import { writeFileAtomic } from './app-settings.js';

/** The argument that asks for a start with the tray icon only. */
export const HIDDEN_ARGUMENT = '--hidden';

/** The autostart entry's file name. */
export const AUTOSTART_FILE = 'wirelane.desktop';

/** The part of Electron's app.setLoginItemSettings argument we use. */
export interface LoginItemSettingsCall {
  openAtLogin: boolean;
  openAsHidden?: boolean;
  path?: string;
  args?: string[];
}

/** The part of Electron's app.getLoginItemSettings() result we read. */
export interface LoginItemState {
  openAtLogin?: boolean;
  wasOpenedAtLogin?: boolean;
  wasOpenedAsHidden?: boolean;
}

export interface LaunchAtLoginDeps {
  platform: NodeJS.Platform;
  /** How Wirelane is started: the executable, then its arguments (in development, the app folder). */
  command: readonly string[];
  /** Linux: the folder autostart entries live in (autostartFolder()). */
  autostartDir: string;
  /** macOS and Windows: Electron's app.setLoginItemSettings. */
  setLoginItemSettings: (settings: LoginItemSettingsCall) => void;
  /** Linux: file operations, replaceable in tests. */
  writeFile?: (path: string, text: string) => Promise<void>;
  removeFile?: (path: string) => Promise<void>;
}

/** $XDG_CONFIG_HOME/autostart, or ~/.config/autostart when it is unset or not absolute (as the specification says). */
export function autostartFolder(env: NodeJS.ProcessEnv, home: string): string {
  const configHome = env['XDG_CONFIG_HOME'];
  return join(configHome && configHome.startsWith('/') ? configHome : join(home, '.config'), 'autostart');
}

/**
 * How Wirelane should be started again: the AppImage file itself when running from one (the
 * executable inside lives in a mount that is gone after logout), else the executable, plus the
 * app folder when it is Electron running an unpackaged checkout.
 */
export function launchCommand(execPath: string, env: NodeJS.ProcessEnv, isPackaged: boolean, appPath: string): string[] {
  const appImage = env['APPIMAGE'];
  if (appImage && appImage.startsWith('/')) return [appImage];
  return isPackaged ? [execPath] : [execPath, appPath];
}

/** Characters that make an Exec argument need quotes (Desktop Entry Specification, "The Exec key"). */
const EXEC_RESERVED = /[\s"'\\><~|&;$*?#()`]/;

/**
 * One argument of an Exec line: quoted when it holds a reserved character, with `"`, `` ` ``, `$`
 * and `\` escaped inside the quotes, `%` doubled (a single one starts a field code), and, since
 * the value is itself a string whose backslashes are escapes, each backslash written twice.
 */
export function execArgument(argument: string): string {
  if (/[\n\r\0]/.test(argument)) throw new Error('a launch argument cannot hold a line break');
  const percentSafe = argument.replace(/%/g, '%%');
  if (argument !== '' && !EXEC_RESERVED.test(argument)) return percentSafe;
  const quoted = `"${percentSafe.replace(/["`$\\]/g, (c) => `\\${c}`)}"`;
  return quoted.replace(/\\/g, '\\\\');
}

/** The autostart entry's text for `command`, with `--hidden` when the start is to be hidden. */
export function autostartEntry(command: readonly string[], startHidden: boolean): string {
  const exec = [...command, ...(startHidden ? [HIDDEN_ARGUMENT] : [])].map(execArgument).join(' ');
  return [
    '[Desktop Entry]',
    'Type=Application',
    'Version=1.0',
    'Name=Wirelane',
    'Comment=WireGuard VPN client',
    `Exec=${exec}`,
    'Icon=wirelane',
    'Terminal=false',
    'X-GNOME-Autostart-enabled=true',
    '',
  ].join('\n');
}

/** The app.setLoginItemSettings call for macOS or Windows. */
export function loginItemSettingsFor(platform: NodeJS.Platform, settings: Pick<AppSettings, 'launchAtLogin' | 'startHidden'>, command: readonly string[]): LoginItemSettingsCall {
  const hidden = settings.launchAtLogin && settings.startHidden;
  if (platform === 'darwin') return { openAtLogin: settings.launchAtLogin, openAsHidden: hidden };
  const [path, ...args] = command;
  return { openAtLogin: settings.launchAtLogin, path: path ?? '', args: [...args, ...(hidden ? [HIDDEN_ARGUMENT] : [])] };
}

/** Makes the system start Wirelane at login, or not, as `settings` say. */
export async function applyLaunchAtLogin(settings: Pick<AppSettings, 'launchAtLogin' | 'startHidden'>, deps: LaunchAtLoginDeps): Promise<void> {
  if (deps.platform === 'darwin' || deps.platform === 'win32') {
    deps.setLoginItemSettings(loginItemSettingsFor(deps.platform, settings, deps.command));
    return;
  }
  const file = join(deps.autostartDir, AUTOSTART_FILE);
  if (settings.launchAtLogin) {
    await (deps.writeFile ?? writeFileAtomic)(file, autostartEntry(deps.command, settings.startHidden));
  } else {
    await (deps.removeFile ?? ((path: string) => rm(path, { force: true })))(file);
  }
}

export interface StartContext {
  platform: NodeJS.Platform;
  argv: readonly string[];
  settings: AppSettings;
  /** macOS: app.getLoginItemSettings(). */
  loginItem?: LoginItemState;
}

/**
 * Whether this start shows the tray icon only, no window. Linux and Windows: the login entry
 * passes --hidden exactly when start hidden is on. macOS: the login item was opened hidden, or
 * at login while start hidden is on. A start by the person (no --hidden) always opens the window.
 */
export function startsHidden(context: StartContext): boolean {
  if (context.argv.includes(HIDDEN_ARGUMENT)) return true;
  if (context.platform !== 'darwin') return false;
  const item = context.loginItem ?? {};
  return item.wasOpenedAsHidden === true || (item.wasOpenedAtLogin === true && context.settings.startHidden);
}
