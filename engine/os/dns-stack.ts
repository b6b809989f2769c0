/**
 * DNS of several tunnels at once, on a Linux without resolvconf or systemd-resolved, where the
 * only place DNS lives is one file (/etc/resolv.conf) that every tunnel wants to write.
 *
 * A per-tunnel "save the bytes, restore them at disconnect" breaks as soon as two tunnels overlap:
 * the second saves the first one's file, so disconnecting in the other order leaves a file written
 * by Wirelane behind for good, and the first one's disconnect puts the machine's own DNS back while
 * the second tunnel is still up. So the file is a stack instead:
 *
 *   original   the machine's own bytes, saved once, by the first tunnel that writes DNS
 *   layers     one per connected tunnel with DNS, in the order they connected
 *
 * The file always holds the newest layer's content; removing any layer (in any order) rewrites it
 * from the newest that is left, and removing the last one writes the original bytes back, byte for
 * byte, and forgets them. Each change goes to disk (temporary file, fsync, rename, directory fsync)
 * before the file changes, so a helper killed at any point leaves a stack that the journal's undo
 * step ({kind: 'dns-stack-remove'}) finishes: removing a layer that is already gone only rewrites
 * the file from what is left, so undo is idempotent and recovery may run in any order.
 */
import { mkdir, open, readdir, readFile, rename, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { writeFileInPlace } from './journal.js';
import { syncDirectory } from './sync-directory.js';

/** A layer's name: when it was pushed (ms, 15 digits, so names sort by age) and whose it is. */
export const DNS_LAYER_NAME = /^[0-9]{15}-[A-Za-z0-9_=+.-]{1,32}$/;

const ORIGINAL_FILE = 'original.json';
const LAYER_SUFFIX = '.layer.json';

interface OriginalRecord {
  readonly v: 1;
  readonly path: string;
  /** The file's bytes before the first tunnel wrote it; null: there was no file. */
  readonly originalBase64: string | null;
}

interface LayerRecord {
  readonly v: 1;
  readonly path: string;
  readonly owner: string;
  readonly contentBase64: string;
}

/** The stack directory inside the OS journal directory. */
export function dnsStackDirOf(journalDir: string): string {
  return join(journalDir, 'dns-stack');
}

/**
 * Where a stack's DNS lives when it is not a plain file (macOS: every network service's settings,
 * through networksetup). read() gives the bytes to save as the original, write() puts a layer's
 * or the original's bytes in force (null: the original was "nothing", for a file: no file).
 */
export interface DnsTarget {
  read(): Promise<Uint8Array | null>;
  write(bytes: Uint8Array | null): Promise<void>;
}

/** A file edited in place (resolv.conf, possibly a bind mount). */
function fileTarget(path: string): DnsTarget {
  return {
    read: () => readBytes(path),
    write: async (bytes) => {
      if (bytes === null) await rm(path, { force: true });
      else await writeFileInPlace(path, bytes);
    },
  };
}

export class DnsStack {
  /** Pushes and removals run one at a time: each reads what the one before left. */
  private queue: Promise<unknown> = Promise.resolve();
  private lastStamp = 0;

  constructor(
    /** Where the stack's records live (created 0700); root-only like the journals around it. */
    private readonly dir: string,
    /** Targets that are not files, by the name journals use for them instead of a path. */
    private readonly targets: Readonly<Record<string, DnsTarget>> = {},
  ) {}

  private targetOf(path: string): DnsTarget {
    return Object.hasOwn(this.targets, path) ? (this.targets[path] as DnsTarget) : fileTarget(path);
  }

  /**
   * A new layer's name for `owner` (an interface name), newer than every layer this process named
   * before. The journal records it before push() runs, so a crash in between is undone too.
   */
  newLayerName(owner: string): string {
    const safeOwner = owner.replace(/[^A-Za-z0-9_=+.-]/g, '_').slice(0, 32) || '_';
    this.lastStamp = Math.max(Date.now(), this.lastStamp + 1);
    return `${String(this.lastStamp).padStart(15, '0')}-${safeOwner}`;
  }

  /** Puts a layer on top: the file then holds `content`. The original is saved first if no layer was there. */
  async push(path: string, layer: string, content: string): Promise<void> {
    checkLayerName(layer);
    return this.serialise(async () => {
      const original = await this.readOriginal();
      if (original && original.path !== path) throw new Error(`the DNS stack holds ${original.path}, not ${path}`);
      if (!original) {
        const bytes = await this.targetOf(path).read();
        await this.writeRecord(ORIGINAL_FILE, { v: 1, path, originalBase64: bytes === null ? null : Buffer.from(bytes).toString('base64') });
      }
      const owner = layer.slice(layer.indexOf('-') + 1);
      await this.writeRecord(layer + LAYER_SUFFIX, { v: 1, path, owner, contentBase64: Buffer.from(content, 'utf8').toString('base64') });
      await this.writeTop(path);
    });
  }

  /**
   * Takes a layer out, wherever it is in the stack (idempotent: a layer already gone only
   * rewrites the file from what is left). The last layer out restores the original bytes.
   */
  async remove(path: string, layer: string): Promise<void> {
    checkLayerName(layer);
    return this.serialise(async () => {
      await rm(join(this.dir, layer + LAYER_SUFFIX), { force: true });
      await syncDirectory(this.dir);
      await this.writeTop(path);
    });
  }

  /** The layers in force, oldest first (for tests and the log). */
  async layers(): Promise<{ name: string; owner: string; content: string }[]> {
    const result: { name: string; owner: string; content: string }[] = [];
    for (const name of await this.layerNames()) {
      const record = await this.readLayer(name);
      if (record) result.push({ name, owner: record.owner, content: Buffer.from(record.contentBase64, 'base64').toString('utf8') });
    }
    return result;
  }

  /** Whether the machine's own bytes are saved (some layer is, or was about to be, in force). */
  async holdsOriginal(): Promise<boolean> {
    return (await this.readOriginal()) !== null;
  }

  /** Writes the newest layer's content into the file; with no layer left, the original, then forgets it. */
  private async writeTop(path: string): Promise<void> {
    const names = await this.layerNames();
    for (const name of names.reverse()) {
      const record = await this.readLayer(name);
      if (!record || record.path !== path) continue;
      await this.targetOf(path).write(Buffer.from(record.contentBase64, 'base64'));
      return;
    }
    const original = await this.readOriginal();
    if (!original || original.path !== path) return;
    await this.targetOf(path).write(original.originalBase64 === null ? null : Buffer.from(original.originalBase64, 'base64'));
    await rm(join(this.dir, ORIGINAL_FILE), { force: true });
    // Nothing of the stack is left: the journal directory looks as it did before any DNS tunnel.
    await rmdir(this.dir).catch(() => syncDirectory(this.dir));
  }

  private async layerNames(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    return names
      .filter((name) => name.endsWith(LAYER_SUFFIX))
      .map((name) => name.slice(0, -LAYER_SUFFIX.length))
      .filter((name) => DNS_LAYER_NAME.test(name))
      .sort();
  }

  private async readLayer(name: string): Promise<LayerRecord | null> {
    const record = await this.readJson(name + LAYER_SUFFIX);
    if (
      record === null ||
      record['v'] !== 1 ||
      typeof record['path'] !== 'string' ||
      typeof record['owner'] !== 'string' ||
      typeof record['contentBase64'] !== 'string'
    ) {
      return null;
    }
    return record as unknown as LayerRecord;
  }

  private async readOriginal(): Promise<OriginalRecord | null> {
    const record = await this.readJson(ORIGINAL_FILE);
    if (
      record === null ||
      record['v'] !== 1 ||
      typeof record['path'] !== 'string' ||
      !(record['originalBase64'] === null || typeof record['originalBase64'] === 'string')
    ) {
      return null;
    }
    return record as unknown as OriginalRecord;
  }

  private async readJson(name: string): Promise<Record<string, unknown> | null> {
    let text: string;
    try {
      text = await readFile(join(this.dir, name), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    try {
      const value: unknown = JSON.parse(text);
      return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
    } catch {
      return null;
    }
  }

  /** temp file, fsync, rename, directory fsync: a record is either wholly there or not at all. */
  private async writeRecord(name: string, record: OriginalRecord | LayerRecord): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const temp = join(this.dir, `.${name}.tmp-${randomBytes(6).toString('hex')}`);
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(`${JSON.stringify(record)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, join(this.dir, name));
    await syncDirectory(this.dir);
  }

  private serialise<T>(step: () => Promise<T>): Promise<T> {
    const next = this.queue.then(step, step);
    this.queue = next.catch(() => undefined);
    return next;
  }
}

function checkLayerName(layer: string): void {
  if (!DNS_LAYER_NAME.test(layer)) throw new Error(`not a DNS layer name: ${JSON.stringify(layer)}`);
}

async function readBytes(path: string): Promise<Uint8Array | null> {
  try {
    return await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

