/**
 * The crash-safe journal of OS changes.
 *
 * Before the helper changes anything in the system (an address, a route, a rule, DNS, a file), it
 * appends one JSON line that says what it is about to do and how to undo it, and fsyncs the file.
 * After the change it appends a second line saying whether it happened or was skipped (it was
 * already there and so is not ours to remove). If the helper is killed at any point, the journal
 * holds every change that may have happened, so the next start can undo them all (recoverJournals).
 *
 * Lines, one JSON object each:
 *   {"v":1,"type":"journal","tunnel":"wg0","createdAt":"..."}            first line
 *   {"v":1,"type":"step","seq":1,"description":"...","undo":[...]}     before the change
 *   {"v":1,"type":"result","seq":1,"state":"done"|"skipped"}           after it
 *
 * A step with no result line may or may not have happened: it is undone, and undo is idempotent
 * (see UndoAction.alreadyUndone), so undoing a change that never took place is not an error.
 * A torn last line (killed mid-write) is ignored: its change had not started yet.
 */
import { constants as fsConstants } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../logger.js';
import { describeCommand } from './runner.js';
import { undoRefusal } from './undo-policy.js';
import type { DnsStack } from './dns-stack.js';
import { requireTrustedDirectory, untrustedFileReason } from '../helper/path-ownership.js';
import type { CommandRunner, UndoAction, UndoReport } from './types.js';
import { syncDirectory } from './sync-directory.js';

export const JOURNAL_SUFFIX = '.os-journal';

export interface JournalStep {
  readonly seq: number;
  readonly description: string;
  readonly undo: readonly UndoAction[];
  /** 'unknown': the helper stopped between the step line and its result line. */
  readonly state: 'done' | 'skipped' | 'unknown';
}

/** An open journal that apply() appends to. */
export class Journal {
  private nextSeq = 1;

  private constructor(
    /** The journal file. */
    readonly path: string,
    private readonly handle: FileHandle,
  ) {}

  /**
   * Creates a new journal file in `dir` (made 0700 if missing) for a tunnel. The name is unique, so
   * two connects of the same tunnel name never share a journal.
   */
  static async create(dir: string, tunnel: string): Promise<Journal> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const safeName = tunnel.replace(/[^A-Za-z0-9_=+.-]/g, '_').slice(0, 32);
    const path = join(dir, `${safeName}-${Date.now()}-${randomBytes(4).toString('hex')}${JOURNAL_SUFFIX}`);
    const handle = await open(path, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_APPEND, 0o600);
    const journal = new Journal(path, handle);
    await journal.appendLine({ v: 1, type: 'journal', tunnel, createdAt: new Date().toISOString() });
    await syncDirectory(dir);
    return journal;
  }

  /** Records a step and its undo before it is carried out. Returns its sequence number. */
  async begin(description: string, undo: readonly UndoAction[]): Promise<number> {
    const seq = this.nextSeq++;
    await this.appendLine({ v: 1, type: 'step', seq, description, undo });
    return seq;
  }

  /** Records what became of a step. */
  async finish(seq: number, state: 'done' | 'skipped'): Promise<void> {
    await this.appendLine({ v: 1, type: 'result', seq, state });
  }

  async close(): Promise<void> {
    await this.handle.close();
  }

  private async appendLine(record: object): Promise<void> {
    await this.handle.write(`${JSON.stringify(record)}\n`);
    await this.handle.sync();
  }
}

/** Reads a journal's steps in the order they were recorded. Unreadable lines are skipped. */
export async function readJournal(path: string, logger?: Logger): Promise<JournalStep[]> {
  const text = await readFile(path, 'utf8');
  const steps = new Map<number, { description: string; undo: UndoAction[]; state: JournalStep['state'] }>();
  const lines = text.split('\n');
  lines.forEach((line, index) => {
    if (line.trim() === '') return;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch {
      // The last line may be torn by a crash mid-write; any other bad line is reported.
      if (index < lines.length - 1 && lines.slice(index + 1).some((rest) => rest.trim() !== '')) {
        logger?.warn(`os journal ${path}: line ${index + 1} is not JSON; skipped`);
      }
      return;
    }
    if (!isObject(record) || record['v'] !== 1) return;
    if (record['type'] === 'step' && typeof record['seq'] === 'number' && typeof record['description'] === 'string') {
      const undo = Array.isArray(record['undo']) ? record['undo'].filter(isUndoAction) : [];
      steps.set(record['seq'], { description: record['description'], undo, state: 'unknown' });
    } else if (record['type'] === 'result' && typeof record['seq'] === 'number') {
      const step = steps.get(record['seq']);
      const state = record['state'];
      if (step && (state === 'done' || state === 'skipped')) step.state = state;
    }
  });
  return [...steps.entries()].sort((a, b) => a[0] - b[0]).map(([seq, step]) => ({ seq, ...step }));
}

/** The journal files in a directory (none if it does not exist). */
export async function listJournals(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return names.filter((name) => name.endsWith(JOURNAL_SUFFIX)).sort().map((name) => join(dir, name));
}

export interface UndoContext {
  readonly run: CommandRunner;
  readonly logger: Logger;
  /** The files the OS layer edits in place and so may restore (default: /etc/resolv.conf). */
  readonly restorableFiles?: readonly string[];
  /** The DNS stack that 'dns-stack-remove' undo actions take layers out of. */
  readonly dnsStack?: DnsStack;
}

/** Suffix a journal gets when the helper refuses to carry it out (kept for a person to read). */
export const REFUSED_JOURNAL_SUFFIX = '.refused';

/**
 * Undoes a journal's steps in reverse order and deletes the file when every undo succeeded (or found
 * its change already gone). When some undo failed, the file stays for the next recover() to retry.
 */
export async function undoJournal(path: string, context: UndoContext): Promise<UndoReport> {
  const undone: string[] = [];
  const failures: { step: string; error: string }[] = [];
  // Checked before anything runs: a journal that holds even one step the OS layer could not have
  // written was not written by it, and none of it is carried out.
  const refusal = untrustedFileReason(path) ?? (await refusedStepOf(path, context));
  if (refusal !== null) {
    context.logger.error(`refusing the os journal ${path}: ${refusal}; it is set aside as ${REFUSED_JOURNAL_SUFFIX}`);
    failures.push({ step: `journal ${path}`, error: `refused: ${refusal}` });
    await rename(path, `${path}${REFUSED_JOURNAL_SUFFIX}`).catch(() => undefined);
    return { journals: [path], undone, failures };
  }
  const steps = await readJournal(path, context.logger);
  for (const step of [...steps].reverse()) {
    if (step.state === 'skipped') continue;
    let failed = false;
    for (const action of step.undo) {
      const error = await runUndo(action, context);
      if (error !== null) {
        failed = true;
        failures.push({ step: step.description, error });
        context.logger.warn(`could not undo "${step.description}": ${error}`);
      }
    }
    if (!failed) undone.push(step.description);
  }
  if (failures.length === 0) await rm(path, { force: true });
  return { journals: [path], undone, failures };
}

async function refusedStepOf(path: string, context: UndoContext): Promise<string | null> {
  const restorable = context.restorableFiles ?? ['/etc/resolv.conf'];
  for (const step of await readJournal(path, context.logger)) {
    for (const action of step.undo) {
      const refusal = undoRefusal(action, restorable);
      if (refusal !== null) return `step "${step.description.slice(0, 100)}": ${refusal}`;
    }
  }
  return null;
}

/**
 * The journals newest first (by the creation time in their names, see Journal.create): what a
 * later connect changed may rest on what an earlier one did (the same resolver file, overlapping
 * routes), so it is taken back first, as a disconnect in reverse order would.
 */
export function newestFirst(journals: readonly string[]): string[] {
  const stamp = (path: string): number => Number(/-(\d+)-[0-9a-f]{8}\.os-journal$/.exec(path)?.[1] ?? -1);
  return [...journals].sort((a, b) => stamp(b) - stamp(a) || (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * Undoes every journal in `dir`, newest first: what a helper killed mid-tunnel left behind. Call
 * at helper start only. Throws, undoing nothing, when the directory (or a parent) could be changed
 * by someone other than root: its journals could then have been planted.
 */
export async function recoverJournals(dir: string, context: UndoContext): Promise<UndoReport> {
  requireTrustedDirectory(dir, 'the journal directory');
  const journals = newestFirst(await listJournals(dir));
  const undone: string[] = [];
  const failures: { step: string; error: string }[] = [];
  for (const path of journals) {
    context.logger.info(`undoing the OS changes recorded in ${path} by a helper that did not finish`);
    const report = await undoJournal(path, context);
    undone.push(...report.undone);
    failures.push(...report.failures);
  }
  return { journals, undone, failures };
}

/** Runs one undo action; null on success or when the change is already gone, else the error. */
async function runUndo(action: UndoAction, context: UndoContext): Promise<string | null> {
  if (action.kind === 'dns-stack-remove') {
    if (!context.dnsStack) return `${action.path}: no DNS stack to take layer ${action.layer} out of`;
    try {
      await context.dnsStack.remove(action.path, action.layer);
      return null;
    } catch (error) {
      return `${action.path}: ${(error as Error).message}`;
    }
  }
  if (action.kind === 'restore-file') {
    try {
      if (action.originalBase64 === null) await rm(action.path, { force: true });
      else await writeFileInPlace(action.path, Buffer.from(action.originalBase64, 'base64'));
      return null;
    } catch (error) {
      return `${action.path}: ${(error as Error).message}`;
    }
  }
  const { file, args, input } = action.command;
  const result = await context.run(file, args, input === undefined ? undefined : { input });
  if (result.code === 0) return null;
  const patterns = action.alreadyUndone ?? [];
  if (patterns.some((pattern) => new RegExp(pattern, 'i').test(result.stderr))) return null;
  return `${describeCommand(file, args)} exited with ${result.code}: ${result.stderr.trim()}`;
}

/**
 * Replaces a file's bytes without replacing the file: the same inode is opened read-write,
 * overwritten and truncated. /etc/resolv.conf may be a bind mount (network namespaces,
 * containers), which a rename would not write through. Creates the file if it is missing.
 */
export async function writeFileInPlace(path: string, bytes: Uint8Array): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r+');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    handle = await open(path, 'w', 0o644);
  }
  try {
    await handle.write(bytes, 0, bytes.length, 0);
    await handle.truncate(bytes.length);
    await handle.sync();
  } finally {
    await handle.close();
  }
}


function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isUndoAction(value: unknown): value is UndoAction {
  if (!isObject(value)) return false;
  if (value['kind'] === 'dns-stack-remove') return typeof value['path'] === 'string' && typeof value['layer'] === 'string';
  if (value['kind'] === 'restore-file') {
    return typeof value['path'] === 'string' && (value['originalBase64'] === null || typeof value['originalBase64'] === 'string');
  }
  if (value['kind'] !== 'run' || !isObject(value['command'])) return false;
  const command = value['command'];
  return (
    typeof command['file'] === 'string' &&
    Array.isArray(command['args']) &&
    command['args'].every((arg) => typeof arg === 'string') &&
    (command['input'] === undefined || typeof command['input'] === 'string') &&
    (value['alreadyUndone'] === undefined ||
      (Array.isArray(value['alreadyUndone']) && value['alreadyUndone'].every((p) => typeof p === 'string')))
  );
}
