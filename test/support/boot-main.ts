/**
 * Boots the real, compiled main/index.ts (dist/main/index.js) in this process with the recording
 * Electron stand-in in place of 'electron' (test/support/electron-hook.ts). Once per process:
 * main/index.ts is a program, not a library, so each test file that boots it runs alone (as
 * node --test runs every file in its own process).
 */
import { existsSync } from 'node:fs';
import { register } from 'node:module';
import { pathToFileURL } from 'node:url';
import { waitFor } from './netns.js';
import { repoPath } from './paths.js';
import type * as StandInModule from './electron-stand-in.js';

export interface BootOptions {
  /** The helper's socket (WIRELANE_HELPER_SOCKET). */
  socketPath: string;
  /** Electron's userData folder: where the app settings go. */
  userData: string;
  /** XDG_CONFIG_HOME: where the autostart entry goes. */
  configHome: string;
  /** Run as the packaged app: production menu, no developer tools, icons from resources/tray. */
  packaged: boolean;
  argv?: string[];
  /** Play another platform (process.platform as main reads it): its tray, menu and login items. */
  platform?: NodeJS.Platform;
  /** What app.getLoginItemSettings() reports (macOS: a start at login). */
  loginItem?: { openAtLogin?: boolean; wasOpenedAtLogin?: boolean; wasOpenedAsHidden?: boolean };
}

export type StandIn = (typeof StandInModule)['standIn'];

let booted: StandIn | null = null;

export async function bootMain(options: BootOptions): Promise<StandIn> {
  if (booted) throw new Error('main/index.ts boots once per process');
  const entry = repoPath('dist', 'main', 'index.js');
  if (!existsSync(entry)) throw new Error(`${entry} is missing: run npm run build first`);
  process.env['WIRELANE_HELPER_SOCKET'] = options.socketPath;
  process.env['WIRELANE_STAND_IN_USER_DATA'] = options.userData;
  process.env['WIRELANE_STAND_IN_PACKAGED'] = options.packaged ? '1' : '0';
  process.env['XDG_CONFIG_HOME'] = options.configHome;
  // Packaged, the tray icons are read from process.resourcesPath/tray (extraResources: build/tray).
  if (options.packaged) (process as { resourcesPath?: string }).resourcesPath = repoPath('build');
  if (options.argv) process.argv.push(...options.argv);
  if (options.loginItem) process.env['WIRELANE_STAND_IN_LOGIN_ITEM'] = JSON.stringify(options.loginItem);
  if (options.platform) Object.defineProperty(process, 'platform', { value: options.platform, configurable: true });
  register(new URL('./electron-hook.js', import.meta.url).href, import.meta.url);
  const standInModule = (await import(new URL('./electron-stand-in.js', import.meta.url).href)) as typeof StandInModule;
  const standIn = standInModule.standIn;
  await import(pathToFileURL(entry).href);
  await waitFor('main to make its tray', () => standIn.trays.length > 0 && standIn.ipcHandlers.size > 0, 20_000, 20);
  booted = standIn;
  return standIn;
}
