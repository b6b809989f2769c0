/**
 * The app's own settings (launch at login, start hidden, theme): one small JSON file in the
 * user's config folder, written atomically (a temporary file in the same folder, flushed, then
 * renamed over the old one), so a crash or a full disk leaves either the old file or the new one,
 * never half of one.
 *
 * Applying a change (the login item, the theme) is handed in as `apply`, so the same store runs
 * under Electron (main/index.ts) and in tests. A change is applied first and stored only once it
 * applied: the file never says "launch at login" while no login item exists.
 */
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from '../engine/logger.js';
import { appSettingsSchema, type AppSettings, type AppSettingsChange, type IpcResult } from './ipc-schema.js';

/** The settings file's name inside the app's config folder. */
export const APP_SETTINGS_FILE = 'app-settings.json';

/**
 * What a new install starts with. Start hidden is on: a VPN client started at login belongs in
 * the tray, not in a window that pops up at every login.
 */
export const DEFAULT_APP_SETTINGS: AppSettings = { launchAtLogin: false, startHidden: true, theme: 'system' };

/**
 * Settings from the file's text. A garbled file, or a field that does not fit, falls back to the
 * defaults field by field rather than failing the app's start; unknown fields are dropped.
 */
export function parseStoredAppSettings(text: string, defaults: AppSettings = DEFAULT_APP_SETTINGS): AppSettings {
  let stored: unknown;
  try {
    stored = JSON.parse(text);
  } catch {
    return { ...defaults };
  }
  if (typeof stored !== 'object' || stored === null || Array.isArray(stored)) return { ...defaults };
  const settings: AppSettings = { ...defaults };
  const fields = appSettingsSchema.shape;
  for (const key of Object.keys(fields) as (keyof AppSettings)[]) {
    const parsed = fields[key].safeParse((stored as Record<string, unknown>)[key]);
    if (parsed.success) (settings as Record<string, unknown>)[key] = parsed.data;
  }
  return settings;
}

/**
 * Writes `text` to `path` atomically, readable by this user only: a fresh temporary file in the
 * same folder (so the rename cannot cross file systems), flushed to disk, renamed over `path`.
 */
export async function writeFileAtomic(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = join(dirname(path), `.${process.pid}.${Date.now()}.${Math.random().toString(36).slice(2)}.tmp`);
  const handle = await open(temporary, 'wx', 0o600);
  try {
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

export interface AppSettingsStoreOptions {
  /** The settings file (APP_SETTINGS_FILE in the app's config folder). */
  file: string;
  /** Makes a change real (login item, theme); throws when it cannot. */
  apply: (next: AppSettings, previous: AppSettings) => Promise<void>;
  logger: Logger;
  /** The settings before any file exists (e.g. a login item made by an older version). */
  defaults?: AppSettings;
}

/** The app settings as the relay uses them: read them, change some. */
export interface AppSettingsPort {
  get(): AppSettings;
  change(change: AppSettingsChange): Promise<IpcResult<AppSettings>>;
}

export class AppSettingsStore implements AppSettingsPort {
  private settings: AppSettings;
  private readonly listeners = new Set<(settings: AppSettings) => void>();
  /** Changes run one after another, so two quick clicks cannot interleave their writes. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: AppSettingsStoreOptions) {
    this.settings = { ...(options.defaults ?? DEFAULT_APP_SETTINGS) };
  }

  /** Reads the file; a missing or garbled one leaves the defaults. */
  async load(): Promise<AppSettings> {
    try {
      this.settings = parseStoredAppSettings(await readFile(this.options.file, 'utf8'), this.options.defaults);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') this.options.logger.warn(`could not read ${this.options.file}: ${String(error)}; using the defaults`);
    }
    return this.get();
  }

  get(): AppSettings {
    return { ...this.settings };
  }

  onChange(listener: (settings: AppSettings) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  change(change: AppSettingsChange): Promise<IpcResult<AppSettings>> {
    const run = this.queue.then(() => this.changeNow(change));
    this.queue = run.catch(() => {});
    return run;
  }

  private async changeNow(change: AppSettingsChange): Promise<IpcResult<AppSettings>> {
    const previous = this.get();
    const next: AppSettings = { ...previous };
    for (const [key, value] of Object.entries(change) as [keyof AppSettings, unknown][]) {
      if (value !== undefined) (next as Record<string, unknown>)[key] = value;
    }
    const checked = appSettingsSchema.safeParse(next);
    if (!checked.success) return { ok: false, error: { code: 'bad_arguments', message: checked.error.issues[0]?.message ?? 'bad settings' } };
    try {
      await this.options.apply(checked.data, previous);
    } catch (error) {
      this.options.logger.error(`applying the app settings failed: ${String(error)}`);
      // Put back what the previous settings had made, so the system and the file agree.
      await this.options.apply(previous, checked.data).catch(() => {});
      return { ok: false, error: { code: 'internal', message: `could not apply the settings: ${error instanceof Error ? error.message : String(error)}` } };
    }
    try {
      await writeFileAtomic(this.options.file, `${JSON.stringify(checked.data, null, 2)}\n`);
    } catch (error) {
      this.options.logger.error(`saving the app settings failed: ${String(error)}`);
      await this.options.apply(previous, checked.data).catch(() => {});
      return { ok: false, error: { code: 'internal', message: `could not save the settings: ${error instanceof Error ? error.message : String(error)}` } };
    }
    this.settings = checked.data;
    for (const listener of [...this.listeners]) listener(this.get());
    return { ok: true, value: this.get() };
  }
}

/** Settings kept in memory only, applied nowhere: for hosts without a desktop (tests, browser mode). */
export function memoryAppSettings(initial: AppSettings = DEFAULT_APP_SETTINGS): AppSettingsPort {
  let settings = { ...initial };
  return {
    get: () => ({ ...settings }),
    change: async (change) => {
      const checked = appSettingsSchema.safeParse({ ...settings, ...Object.fromEntries(Object.entries(change).filter(([, v]) => v !== undefined)) });
      if (!checked.success) return { ok: false, error: { code: 'bad_arguments', message: checked.error.issues[0]?.message ?? 'bad settings' } };
      settings = checked.data;
      return { ok: true, value: { ...settings } };
    },
  };
}
