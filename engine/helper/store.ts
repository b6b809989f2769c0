/**
 * The tunnel store: one wg-quick .conf file per tunnel, `<name>.conf`, in one directory, and
 * beside it the tunnel's metadata, `<name>.json` (whether the user turned it on, and the other
 * per-tunnel settings the helper keeps; never inside the .conf text, which stays the user's file).
 *
 * The files hold private keys, so the directory is 0700 and every file 0600, both owned by the
 * helper's user. Every change is atomic and leaves the store exactly as before when it fails:
 *
 *   write   .<name>.conf.tmp-<random>  (O_EXCL, 0600) -> fsync -> rename or link into place -> fsync dir
 *
 * A crash between the steps leaves at most a temp file, which `open` removes. Creating a tunnel
 * links the temp file into place (link fails with EEXIST instead of replacing, so two imports of
 * one name cannot overwrite each other); replacing renames over the old file.
 *
 * Names are checked against TUNNEL_NAME_PATTERN before any path is built from them, so nothing
 * is ever read or written outside the directory. Calls are synchronous: the files are small, and
 * it keeps each change a single step in the event loop, never interleaved with another.
 */
import {
  chmodSync,
  closeSync,
  fsyncSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
  constants as fsConstants,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { z } from 'zod';
import { TUNNEL_NAME_PATTERN, helperSettingsSchema, type HelperSettings as HelperPreferences } from './protocol.js';
import type { Logger } from '../logger.js';

const CONF_SUFFIX = '.conf';
const META_SUFFIX = '.json';
const TEMP_MARKER = '.tmp-';
/** The settings file of older helpers (its allowScripts switch is ignored: script-approval.ts). */
export const SETTINGS_FILE = 'settings.json';
/**
 * The helper's own settings that users change (log level): not the administrator's
 * settings.json. The name is longer than a tunnel name can be, so no tunnel's `<name>.json`
 * can ever be this file.
 */
export const PREFERENCES_FILE = 'helper-preferences.json';
const PREFERENCES_NAME = PREFERENCES_FILE.slice(0, -META_SUFFIX.length);

/** Why a store operation was refused; the handlers turn it into a protocol error. */
export type StoreRefusal = 'invalid_name' | 'not_found' | 'already_exists';

export class StoreError extends Error {
  constructor(
    readonly refusal: StoreRefusal,
    message: string,
  ) {
    super(message);
  }
}

/** Test hooks to simulate a failure between the steps of a write. */
export interface StoreFaults {
  /** Called after the temp file is written and synced, before it is moved into place. */
  beforeCommit?(tempPath: string): void;
}


/**
 * What the helper keeps about a tunnel besides its .conf, in `<name>.json`. Each field has a
 * default, so a missing file or a field an older helper did not write reads as the default; fields
 * this version does not know are kept on write (passthrough), so a downgrade loses nothing.
 */
export const tunnelMetaSchema = z
  .object({
    /**
     * The user turned the tunnel on and has not turned it off: the helper brings it back after a
     * restart, a crash or a reboot (always-on), and keeps it on while it is failing.
     */
    on: z.boolean().default(false),
    /** The user's kill switch setting; absent: the default (on for full tunnels, see tunnel-guards.ts). */
    killSwitch: z.boolean().optional(),
    /** Root's approval of the tunnel's scripts, pinned to their digest (script-approval.ts). */
    scriptsApproval: z
      .object({ sha256: z.string().regex(/^[0-9a-f]{64}$/), by: z.number().int().min(0), at: z.number() })
      .optional()
      .catch(undefined),
  })
  .passthrough();
export type TunnelMeta = z.infer<typeof tunnelMetaSchema>;

export function isValidTunnelName(name: string): boolean {
  return TUNNEL_NAME_PATTERN.test(name) && name !== '.' && name !== '..';
}

export class TunnelStore {
  private constructor(
    readonly dir: string,
    private readonly logger: Logger,
    private readonly faults: StoreFaults,
  ) {}

  /** Opens (creating if needed) the store directory, tightens its mode and removes leftover temp files. */
  static open(dir: string, logger: Logger, faults: StoreFaults = {}): TunnelStore {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const stat = lstatSync(dir);
    if (!stat.isDirectory()) throw new Error(`the store ${dir} is not a directory`);
    if (process.platform !== 'win32') chmodSync(dir, 0o700);
    const store = new TunnelStore(dir, logger, faults);
    for (const entry of readdirSync(dir)) {
      if (entry.startsWith('.') && entry.includes(TEMP_MARKER)) {
        logger.warn(`removing ${entry}, left over from an interrupted write`);
        unlinkSync(join(dir, entry));
      }
    }
    return store;
  }

  /** Names of the stored tunnels, sorted. Files whose names are not tunnel names are ignored. */
  list(): string[] {
    const names: string[] = [];
    for (const entry of readdirSync(this.dir)) {
      if (!entry.endsWith(CONF_SUFFIX)) continue;
      const name = entry.slice(0, -CONF_SUFFIX.length);
      if (isValidTunnelName(name) && !entry.startsWith('.' + TEMP_MARKER)) names.push(name);
    }
    return names.sort();
  }

  has(name: string): boolean {
    try {
      return lstatSync(this.pathOf(name)).isFile();
    } catch {
      return false;
    }
  }

  /** The .conf text of `name`; throws StoreError not_found. */
  read(name: string): string {
    const path = this.pathOf(name);
    try {
      return readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new StoreError('not_found', `no tunnel named '${name}'`);
      throw err;
    }
  }

  /** Stores a new tunnel; throws StoreError already_exists if the name is taken. */
  create(name: string, text: string): void {
    const path = this.pathOf(name);
    const temp = this.writeTemp(name, text);
    try {
      this.faults.beforeCommit?.(temp);
      linkSync(temp, path);
    } catch (err) {
      this.removeQuietly(temp);
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new StoreError('already_exists', `a tunnel named '${name}' exists already`);
      }
      throw err;
    }
    this.removeQuietly(temp);
    this.syncDir();
  }

  /** Replaces a stored tunnel's text; throws StoreError not_found. */
  replace(name: string, text: string): void {
    const path = this.pathOf(name);
    if (!this.has(name)) throw new StoreError('not_found', `no tunnel named '${name}'`);
    const temp = this.writeTemp(name, text);
    try {
      this.faults.beforeCommit?.(temp);
      renameSync(temp, path);
    } catch (err) {
      this.removeQuietly(temp);
      throw err;
    }
    this.syncDir();
  }

  /**
   * Renames without replacing: link to the new name (EEXIST if taken), then unlink the old. The
   * metadata moves with it; a stale `<newName>.json` without a .conf (left by a crash) is replaced.
   */
  rename(name: string, newName: string): void {
    const from = this.pathOf(name);
    const to = this.pathOf(newName);
    try {
      linkSync(from, to);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') throw new StoreError('already_exists', `a tunnel named '${newName}' exists already`);
      if (code === 'ENOENT') throw new StoreError('not_found', `no tunnel named '${name}'`);
      throw err;
    }
    unlinkSync(from);
    try {
      renameSync(this.metaPathOf(name), this.metaPathOf(newName));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      this.removeQuietly(this.metaPathOf(newName));
    }
    this.syncDir();
  }

  /** Deletes a tunnel's .conf and its metadata. */
  remove(name: string): void {
    try {
      unlinkSync(this.pathOf(name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new StoreError('not_found', `no tunnel named '${name}'`);
      throw err;
    }
    this.removeQuietly(this.metaPathOf(name));
    this.syncDir();
  }

  /**
   * A tunnel's metadata (defaults when it has none). A file that is not valid JSON of the right
   * shape is reported and read as the defaults: it is ours, but a disk error must not stop the
   * helper from starting.
   */
  meta(name: string): TunnelMeta {
    const path = this.metaPathOf(name);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return tunnelMetaSchema.parse({});
      throw err;
    }
    try {
      return tunnelMetaSchema.parse(JSON.parse(text));
    } catch (err) {
      this.logger.warn(`ignoring ${path}: ${(err as Error).message.split('\n')[0]}`);
      return tunnelMetaSchema.parse({});
    }
  }

  /**
   * Changes some fields of a stored tunnel's metadata, atomically (temp file, fsync, rename),
   * keeping the others; returns the new metadata. Throws StoreError not_found without a .conf.
   */
  updateMeta(name: string, change: Partial<TunnelMeta>): TunnelMeta {
    if (!this.has(name)) throw new StoreError('not_found', `no tunnel named '${name}'`);
    const next = tunnelMetaSchema.parse({ ...this.meta(name), ...change });
    const temp = this.writeTemp(name, `${JSON.stringify(next, null, 2)}\n`, META_SUFFIX);
    try {
      this.faults.beforeCommit?.(temp);
      renameSync(temp, this.metaPathOf(name));
    } catch (err) {
      this.removeQuietly(temp);
      throw err;
    }
    this.syncDir();
    return next;
  }

  /** Stored tunnels whose metadata says the user turned them on (always-on), sorted. */
  listOn(): string[] {
    return this.list().filter((name) => this.meta(name).on);
  }

  /**
   * Whether the store still has the `settings.json` of helpers before per-tunnel approvals, whose
   * `allowScripts` let every tunnel's scripts run. It is ignored now; the helper says so at start.
   */
  hasLegacyScriptsSwitch(): boolean {
    try {
      const parsed = safeJson(readFileSync(join(this.dir, SETTINGS_FILE), 'utf8'));
      return typeof parsed === 'object' && parsed !== null && (parsed as { allowScripts?: unknown }).allowScripts === true;
    } catch {
      return false;
    }
  }

  /**
   * The helper's user-changeable settings (defaults when the file is missing; a file of the wrong
   * shape is reported and read as the defaults, so a disk error cannot stop the helper).
   */
  readPreferences(): HelperPreferences {
    const defaults: HelperPreferences = { logLevel: 'info' };
    const path = join(this.dir, PREFERENCES_FILE);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return defaults;
      this.logger.warn(`ignoring ${path}: ${(err as Error).message}`);
      return defaults;
    }
    const parsed = helperSettingsSchema.partial().safeParse(safeJson(text));
    if (!parsed.success) {
      this.logger.warn(`ignoring ${path}: not the helper's settings`);
      return defaults;
    }
    return { ...defaults, ...parsed.data };
  }

  /** Stores the helper's settings atomically (temp file, fsync, rename), as every store change. */
  writePreferences(preferences: HelperPreferences): void {
    const temp = this.writeTemp(PREFERENCES_NAME, `${JSON.stringify(helperSettingsSchema.parse(preferences), null, 2)}\n`, META_SUFFIX);
    try {
      this.faults.beforeCommit?.(temp);
      renameSync(temp, join(this.dir, PREFERENCES_FILE));
    } catch (err) {
      this.removeQuietly(temp);
      throw err;
    }
    this.syncDir();
  }

  /** The path of a tunnel's file; refuses anything that is not a tunnel name before building it. */
  private pathOf(name: string): string {
    if (!isValidTunnelName(name)) {
      throw new StoreError('invalid_name', `'${name.slice(0, 40)}' is not a tunnel name (1-15 of a-z A-Z 0-9 _ = + . -)`);
    }
    return join(this.dir, name + CONF_SUFFIX);
  }

  private metaPathOf(name: string): string {
    return this.pathOf(name).slice(0, -CONF_SUFFIX.length) + META_SUFFIX;
  }

  /** Writes and syncs a temp file for the tunnel's `<name><suffix>`; the caller moves it into place. */
  private writeTemp(name: string, text: string, suffix = CONF_SUFFIX): string {
    const temp = join(this.dir, `.${name}${suffix}${TEMP_MARKER}${randomBytes(6).toString('hex')}`);
    const fd = openSync(temp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600);
    try {
      const data = Buffer.from(text, 'utf8');
      let written = 0;
      while (written < data.length) written += writeSync(fd, data, written, data.length - written);
      fsyncSync(fd);
    } catch (err) {
      closeSync(fd);
      this.removeQuietly(temp);
      throw err;
    }
    closeSync(fd);
    return temp;
  }

  /** fsync the directory so the rename or link itself survives a power cut (not possible on Windows). */
  private syncDir(): void {
    if (process.platform === 'win32') return;
    const fd = openSync(this.dir, fsConstants.O_RDONLY);
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  private removeQuietly(path: string): void {
    try {
      unlinkSync(path);
    } catch {
      // Already gone.
    }
  }

  /** For tests and diagnostics: mode bits of the directory. */
  dirMode(): number {
    return statSync(this.dir).mode & 0o777;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
