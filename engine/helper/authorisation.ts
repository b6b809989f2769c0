/**
 * Who may talk to the helper. The rule (docs/security.md explains it for administrators):
 *
 * - Linux and macOS: the control socket lives in a directory owned by root, mode 0755, so no one
 *   else can replace or pre-create it. The socket itself is owned by root and
 *   - group `wirelane`, mode 0660, when that group exists: its members (added by the
 *     administrator, e.g. `usermod -aG wirelane alice`) may connect;
 *   - otherwise mode 0600: root alone.
 *   The kernel enforces it: connect(2) to a Unix socket needs write permission on the socket file,
 *   so anyone else gets EACCES before the helper reads a byte.
 *   Node has no API for the peer's credentials (SO_PEERCRED / LOCAL_PEERCRED), so the helper does
 *   not check the peer's uid a second time; the file permissions are the whole check.
 * - Windows: a named pipe; see docs/security.md for its limits.
 */
import { chmodSync, chownSync, lstatSync, mkdirSync, readFileSync, unlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import type { Logger } from '../logger.js';

/** The group whose members may use the helper. */
export const CLIENT_GROUP = 'wirelane';

/** The gid of `group` from /etc/group, or null when it does not exist. */
export function lookupGroupId(group: string, groupFile = '/etc/group'): number | null {
  let text: string;
  try {
    text = readFileSync(groupFile, 'utf8');
  } catch {
    return null;
  }
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields[0] === group && fields[2] !== undefined && /^\d+$/.test(fields[2])) return Number(fields[2]);
  }
  return null;
}

export function isNamedPipe(path: string): boolean {
  return path.startsWith('\\\\.\\pipe\\') || path.startsWith('//./pipe/');
}

/**
 * Makes the socket's directory (root-owned 0755 when we create it) and removes a stale socket.
 * Refuses to start if another helper answers on it, or if the path is something other than a
 * socket (it never deletes a regular file someone pointed --socket at).
 */
export async function prepareSocketPath(path: string, logger: Logger): Promise<void> {
  if (isNamedPipe(path)) return;
  const dir = dirname(path);
  let created = false;
  try {
    lstatSync(dir);
  } catch {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    created = true;
  }
  if (created) chmodSync(dir, 0o755);
  const dirStat = lstatSync(dir);
  if ((dirStat.mode & 0o022) !== 0) {
    logger.warn(`${dir} is writable by group or others: someone else could replace the helper's socket`);
  }
  let stat;
  try {
    stat = lstatSync(path);
  } catch {
    return;
  }
  if (!stat.isSocket()) throw new Error(`${path} exists and is not a socket; remove it or choose another --socket`);
  if (await answers(path)) throw new Error(`another helper is already listening on ${path}`);
  logger.info(`removing stale socket ${path}`);
  unlinkSync(path);
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path);
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(false);
    }, 1000);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}

export interface SocketAccess {
  mode: number;
  gid: number | null;
}

/** Applies the rule above to a socket just bound; returns what it set. */
export function restrictSocket(path: string, logger: Logger, groupFile?: string): SocketAccess {
  if (isNamedPipe(path)) return { mode: 0, gid: null };
  const gid = lookupGroupId(CLIENT_GROUP, groupFile);
  const uid = process.getuid?.() ?? 0;
  if (gid !== null) {
    chownSync(path, uid, gid);
    chmodSync(path, 0o660);
    logger.info(`control socket ${path}: owner and group '${CLIENT_GROUP}' (gid ${gid}) may connect`);
    return { mode: 0o660, gid };
  }
  chmodSync(path, 0o600);
  logger.info(`control socket ${path}: only its owner may connect (create group '${CLIENT_GROUP}' to allow users)`);
  return { mode: 0o600, gid: null };
}
