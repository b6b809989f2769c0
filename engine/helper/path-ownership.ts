/**
 * Which directories and files the root helper may trust: those only root (or the helper's own
 * user) can change.
 *
 * The helper runs journal files as commands at start, reads private keys from its store and
 * sets permissions on its socket. If any directory on the way to them can be written by another
 * user, that user can plant a journal (commands run as root), swap the store, or race a symlink
 * under the chmod/chown of the socket. So, before it uses them, the helper walks every directory
 * from `/` down to the one it uses (on the path as given and on the path it resolves to, so a
 * symlink anywhere on the way counts) and refuses to start unless each is:
 *   - owned by root or by the helper's own user, and
 *   - not writable by group or others, except a parent that has the sticky bit and is owned by
 *     root (such as /tmp): there nobody can rename or delete what another user owns.
 * The directory itself must pass without the sticky exception.
 *
 * Not on Windows: %ProgramData%'s ACLs are the rule there and are not checked here.
 */
import { lstatSync, realpathSync, type Stats } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';

const GROUP_OR_OTHER_WRITE = 0o022;
const STICKY = 0o1000;

/** Why `dir` may not be trusted (one line), or null when it may. A missing `dir` is judged by its
 *  nearest existing ancestor (the helper will create the rest with its own modes). */
export function untrustedDirectoryReason(dir: string, what: string, ownUid: number = process.getuid?.() ?? 0): string | null {
  if (process.platform === 'win32') return null;
  const absolute = isAbsolute(dir) ? dir : resolve(dir);
  let existing = absolute;
  let missing = false;
  for (;;) {
    try {
      lstatSync(existing);
      break;
    } catch {
      missing = true;
      const parent = dirname(existing);
      if (parent === existing) return `${what} ${dir}: no part of its path exists`;
      existing = parent;
    }
  }
  const paths = new Set([existing]);
  try {
    paths.add(realpathSync(existing));
  } catch (error) {
    return `${what} ${dir}: cannot resolve ${existing} (${(error as Error).message})`;
  }
  for (const path of paths) {
    let current = path;
    let itself = !missing;
    for (;;) {
      const reason = untrustedEntryReason(current, itself, ownUid);
      if (reason !== null) return `${what} ${dir} is not safe for a root service: ${reason}`;
      const parent = dirname(current);
      if (parent === current) break;
      current = parent;
      itself = false;
    }
  }
  return null;
}

/** Throws Error(reason) unless untrustedDirectoryReason() finds nothing. */
export function requireTrustedDirectory(dir: string, what: string): void {
  const reason = untrustedDirectoryReason(dir, what);
  if (reason !== null) throw new Error(reason);
}

/**
 * Why a file the helper is about to read and act on (a journal) may not be trusted: it must be a
 * regular file (not a link), owned by root or the helper's user, not writable by group or others.
 */
export function untrustedFileReason(path: string, ownUid: number = process.getuid?.() ?? 0): string | null {
  if (process.platform === 'win32') return null;
  let stat: Stats;
  try {
    stat = lstatSync(path);
  } catch (error) {
    return `${path}: ${(error as Error).message}`;
  }
  if (!stat.isFile()) return `${path} is not a regular file`;
  if (stat.uid !== 0 && stat.uid !== ownUid) return `${path} is owned by uid ${stat.uid}, not root`;
  if ((stat.mode & GROUP_OR_OTHER_WRITE) !== 0) return `${path} is writable by group or others (mode ${octal(stat.mode)})`;
  return null;
}

function untrustedEntryReason(path: string, itself: boolean, ownUid: number): string | null {
  let stat: Stats;
  try {
    stat = lstatSync(path);
  } catch (error) {
    return `${path}: ${(error as Error).message}`;
  }
  // A symlink's own bits do not matter: who can replace it is decided by its directory, checked next.
  if (stat.isSymbolicLink()) return null;
  if (!stat.isDirectory()) return `${path} is not a directory`;
  if (stat.uid !== 0 && stat.uid !== ownUid) return `${path} is owned by uid ${stat.uid}, not root`;
  if ((stat.mode & GROUP_OR_OTHER_WRITE) !== 0) {
    if (!itself && (stat.mode & STICKY) !== 0 && stat.uid === 0) return null;
    return `${path} is writable by group or others (mode ${octal(stat.mode)})`;
  }
  return null;
}

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}
