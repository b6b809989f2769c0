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
 * - Windows: the named pipe gets, right after listen(), the descriptor of controlPipeSddl():
 *   full access for SYSTEM and Administrators, read/write for the members of the local group
 *   `wirelane` when it exists, nobody else. Windows enforces it when a client opens the pipe.
 *   The group mirrors the Unix rule (the administrator chooses who may use the helper); it is
 *   not "all interactive users", which on a shared machine is everyone who logs on. Limits
 *   (the instant between listen and the new descriptor; members can also create instances of
 *   the pipe) are in docs/security.md.
 */
import { chmodSync, chownSync, lstatSync, mkdirSync, readFileSync, unlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import type { Logger } from '../logger.js';
import { ioAddon } from '../tun/native-addon.js';

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
  /** Windows: the pipe's descriptor in effect (SDDL), or null if it could not be set. */
  sddl?: string | null;
}

/** What the Windows rule needs from the OS (the addon's functions; tests pass fakes). */
export interface PipeSecurityApi {
  lookupGroupSid(name: string): string | null;
  pipeSetSecurity(pipeName: string, sddl: string): string;
}

const SID_PATTERN = /^S-1-\d+(-\d+)+$/;

/**
 * The control pipe's security descriptor: a protected DACL (nothing inherited) with full access
 * for SYSTEM (SY) and Administrators (BA) and, when the `wirelane` group exists, read and write
 * for its members. GRGW is what a Node client needs: libuv opens a pipe with GENERIC_READ |
 * GENERIC_WRITE, and an ACE without FILE_APPEND_DATA would leave it a read-only connection.
 * No mandatory label: the app runs at medium integrity, the default for unlabelled objects.
 */
export function controlPipeSddl(groupSid: string | null): string {
  if (groupSid !== null && !SID_PATTERN.test(groupSid)) throw new Error(`not a SID: ${groupSid}`);
  return `D:P(A;;GA;;;SY)(A;;GA;;;BA)${groupSid ? `(A;;GRGW;;;${groupSid})` : ''}`;
}

/** The local group's account name: "COMPUTER\\wirelane", so a domain account of that name never matches. */
export function localGroupName(group: string, env: NodeJS.ProcessEnv = process.env): string {
  const computer = env['COMPUTERNAME'];
  return computer ? `${computer}\\${group}` : group;
}

/**
 * Applies the Windows rule to a pipe just served. If it cannot (addon missing, Windows refuses),
 * the pipe keeps Node's default descriptor, which lets only SYSTEM and Administrators write: the
 * failure narrows who may connect, never widens it, so the helper logs it and carries on.
 */
export function restrictPipe(path: string, logger: Logger, api: PipeSecurityApi | null = addonPipeSecurity(), env: NodeJS.ProcessEnv = process.env): SocketAccess {
  if (api === null) {
    logger.error(`control pipe ${path}: the addon cannot set pipe security here; only administrators can connect`);
    return { mode: 0, gid: null, sddl: null };
  }
  try {
    const groupSid = api.lookupGroupSid(localGroupName(CLIENT_GROUP, env));
    const sddl = api.pipeSetSecurity(path, controlPipeSddl(groupSid));
    logger.info(
      groupSid
        ? `control pipe ${path}: SYSTEM, Administrators and group '${CLIENT_GROUP}' (${groupSid}) may connect`
        : `control pipe ${path}: only SYSTEM and Administrators may connect (create local group '${CLIENT_GROUP}' to allow users)`,
    );
    return { mode: 0, gid: null, sddl };
  } catch (error) {
    logger.error(`control pipe ${path}: cannot set its security (${(error as Error).message}); only administrators can connect`);
    return { mode: 0, gid: null, sddl: null };
  }
}

function addonPipeSecurity(): PipeSecurityApi | null {
  try {
    const addon = ioAddon();
    if (typeof addon.pipeSetSecurity !== 'function' || typeof addon.lookupGroupSid !== 'function') return null;
    return { pipeSetSecurity: addon.pipeSetSecurity, lookupGroupSid: addon.lookupGroupSid };
  } catch {
    return null;
  }
}

/** Applies the rule above to a socket just bound; returns what it set. */
export function restrictSocket(path: string, logger: Logger, groupFile?: string): SocketAccess {
  if (isNamedPipe(path)) return restrictPipe(path, logger);
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
