/**
 * The app settings store as the desktop app uses it: loaded from the user's config folder, each
 * change applied to the system (launch at login, the window theme) before it is stored. The
 * Electron calls come in as plain functions, so main/index.ts only hands them over.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../engine/logger.js';
import { APP_SETTINGS_FILE, AppSettingsStore, DEFAULT_APP_SETTINGS } from './app-settings.js';
import type { AppSettings, AppTheme } from './ipc-schema.js';
import { applyLaunchAtLogin, AUTOSTART_FILE, type LaunchAtLoginDeps, type LoginItemState } from './launch-at-login.js';

export interface DesktopSettingsOptions extends LaunchAtLoginDeps {
  /** The app's config folder (Electron's app.getPath('userData')). */
  configDir: string;
  /** Electron's app.getLoginItemSettings(): what the system does now, for a first start. */
  getLoginItemSettings: () => LoginItemState;
  /** Sets nativeTheme.themeSource. */
  setThemeSource: (theme: AppTheme) => void;
  logger: Logger;
}

/** Whether the system starts Wirelane at login now (an older version may have set it up). */
export function launchesAtLoginNow(options: Pick<DesktopSettingsOptions, 'platform' | 'autostartDir' | 'getLoginItemSettings'>): boolean {
  if (options.platform === 'darwin' || options.platform === 'win32') return options.getLoginItemSettings().openAtLogin === true;
  return existsSync(join(options.autostartDir, AUTOSTART_FILE));
}

export async function createDesktopSettings(options: DesktopSettingsOptions): Promise<AppSettingsStore> {
  const defaults: AppSettings = { ...DEFAULT_APP_SETTINGS, launchAtLogin: launchesAtLoginNow(options) };
  const store = new AppSettingsStore({
    file: join(options.configDir, APP_SETTINGS_FILE),
    defaults,
    logger: options.logger,
    apply: async (next, previous) => {
      if (next.launchAtLogin !== previous.launchAtLogin || next.startHidden !== previous.startHidden) await applyLaunchAtLogin(next, options);
      if (next.theme !== previous.theme) options.setThemeSource(next.theme);
    },
  });
  const settings = await store.load();
  options.setThemeSource(settings.theme);
  return store;
}
