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
 *   Then, independently, the helper asks the kernel who connected (the addon's peerCredentials:
 *   SO_PEERCRED on Linux, LOCAL_PEERCRED on macOS) and applies the same rule a second time
 *   (decidePeer): root, the helper's own user, or a member of `wirelane` per /etc/group. So a
 *   socket left world-writable by mistake, or a socket directory someone loosened, still lets no
 *   one else in. A connection refused here gets one `forbidden` reply and is closed. Without the
 *   addon the file permissions are the whole check, and the helper says so once at start.
 * - Windows: the named pipe gets, right after listen(), the descriptor of controlPipeSddl():
 *   full access for SYSTEM and Administrators, read/write for the members of the local group
 *   `wirelane` when it exists, nobody else. Windows enforces it when a client opens the pipe.
 *   The group mirrors the Unix rule (the administrator chooses who may use the helper); it is
 *   not "all interactive users", which on a shared machine is everyone who logs on. Limits
 *   (the instant between listen and the new descriptor; members can also create instances of
 *   the pipe) are in docs/security.md.
 */
import { chmodSync, chownSync, lstatSync, mkdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { Logger } from '../logger.js';
import { ioAddon, type PeerCredentials } from '../tun/native-addon.js';

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
  // The same parser as the peer check, so both checks agree on which line is the group.
  return parseGroupFile(text).find((entry) => entry.name === group)?.gid ?? null;
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

// ---------------------------------------------------------------------------------------------
// The second check: the peer's credentials (Linux and macOS).

/** One line of /etc/group. */
export interface GroupEntry {
  name: string;
  gid: number;
  /** User names listed as members (the fourth field); a user's primary group lists no one. */
  members: string[];
}

/** What the rule needs from one line of /etc/passwd. */
export interface PasswdEntry {
  name: string;
  uid: number;
  /** The primary group. */
  gid: number;
}

const ID_PATTERN = /^\d{1,10}$/;

/**
 * Parses group(5) text: `name:password:gid:member,member`. Lines that do not have that shape
 * (comments, NIS `+` entries, a bad gid) are skipped, never guessed at.
 */
export function parseGroupFile(text: string): GroupEntry[] {
  const groups: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.replace(/\r$/, '').split(':');
    const [name, , gid, members] = fields;
    if (fields.length !== 4 || !name || name.startsWith('#') || name.startsWith('+') || name.startsWith('-')) continue;
    if (gid === undefined || !ID_PATTERN.test(gid)) continue;
    groups.push({ name, gid: Number(gid), members: (members ?? '').split(',').map((m) => m.trim()).filter((m) => m !== '') });
  }
  return groups;
}

/** Parses passwd(5) text: `name:password:uid:gid:gecos:home:shell`; malformed lines are skipped. */
export function parsePasswdFile(text: string): PasswdEntry[] {
  const users: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.replace(/\r$/, '').split(':');
    const [name, , uid, gid] = fields;
    if (fields.length < 7 || !name || name.startsWith('#') || name.startsWith('+') || name.startsWith('-')) continue;
    if (uid === undefined || gid === undefined || !ID_PATTERN.test(uid) || !ID_PATTERN.test(gid)) continue;
    users.push({ name, uid: Number(uid), gid: Number(gid) });
  }
  return users;
}

/** Why a peer may connect, or that it may not. */
export type PeerVerdict =
  | { allowed: true; because: 'root' | 'helper-user' | 'group-gid' | 'primary-group' | 'group-member' }
  | { allowed: false };

/**
 * The socket's permission rule, decided a second time from the peer's credentials:
 * - uid 0, or the helper's own uid (the socket's owner): allowed;
 * - otherwise only a member of `group` (the `wirelane` entry of /etc/group, null when there is
 *   none, which leaves root and the owner alone, as mode 0600 does): the peer's effective gid is
 *   the group's gid, or a passwd entry with the peer's uid has it as primary group or is listed
 *   among its members.
 * The kernel's own check also counts the process's supplementary groups, which SO_PEERCRED does
 * not report; the member list of /etc/group stands in for them. A user removed from the group is
 * refused here at once, even while an old login session still carries the group.
 */
export function decidePeer(peer: Pick<PeerCredentials, 'uid' | 'gid'>, helperUid: number, group: GroupEntry | null, users: readonly PasswdEntry[]): PeerVerdict {
  if (peer.uid === 0) return { allowed: true, because: 'root' };
  if (peer.uid === helperUid) return { allowed: true, because: 'helper-user' };
  if (group === null) return { allowed: false };
  if (peer.gid === group.gid) return { allowed: true, because: 'group-gid' };
  for (const user of users) {
    if (user.uid !== peer.uid) continue;
    if (user.gid === group.gid) return { allowed: true, because: 'primary-group' };
    if (group.members.includes(user.name)) return { allowed: true, because: 'group-member' };
  }
  return { allowed: false };
}

/**
 * A parsed file, read again only when it changed (mtime, size or inode: editors and useradd
 * replace /etc/group by rename). A file that cannot be read parses as empty text, so the
 * decision narrows to root and the helper's user rather than failing open.
 */
export class CachedAccountFile<T> {
  private stamp = '';
  private value: T;

  constructor(
    private readonly path: string,
    private readonly parse: (text: string) => T,
  ) {
    this.value = parse('');
  }

  get(): T {
    let stamp: string;
    try {
      const stat = statSync(this.path);
      stamp = `${stat.ino}:${stat.size}:${stat.mtimeMs}`;
    } catch {
      stamp = 'missing';
    }
    if (stamp !== this.stamp) {
      let text = '';
      try {
        text = readFileSync(this.path, 'utf8');
      } catch {
        // Unreadable: as if empty (see above).
      }
      this.value = this.parse(text);
      this.stamp = stamp;
    }
    return this.value;
  }
}

/**
 * The file descriptor under a node:net socket accepted on a Unix socket, or null. Node has no
 * public API for it (nor for peer credentials); `_handle.fd` is the fd libuv keeps for a Pipe
 * handle on Unix (-1 on Windows or once closed). Reading it stays in this one function so a
 * change in Node breaks one place, and an fd that cannot be had refuses the peer (null).
 */
export function unixSocketFd(socket: Socket): number | null {
  const handle = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle;
  const fd = handle?.fd;
  return typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 ? fd : null;
}

/** What a connection is told and why, when the peer check refuses it. */
export type PeerCheckOutcome =
  | { allowed: true; peer: PeerCredentials }
  | { allowed: false; peer: PeerCredentials | null; reason: string };

export interface PeerCheckOptions {
  /** Default /etc/group (read on macOS too; see docs/security.md for what that misses there). */
  groupFile?: string;
  /** Default /etc/passwd. */
  passwdFile?: string;
  /** Default process.getuid(). */
  helperUid?: number;
  /** Default the addon's peerCredentials; null means "not available here". Tests pass fakes. */
  credentials?: ((fd: number) => PeerCredentials) | null;
  platform?: NodeJS.Platform;
}

/**
 * The per-connection peer check for a control socket at `path`, or null when it cannot be done
 * here (Windows, where the pipe's DACL is the check; or the addon is missing), in which case
 * the reason is logged once, now.
 */
export function createPeerCheck(path: string, logger: Logger, options: PeerCheckOptions = {}): ((socket: Socket) => PeerCheckOutcome) | null {
  const platform = options.platform ?? process.platform;
  if (platform === 'win32' || isNamedPipe(path)) {
    logger.info(`control pipe ${path}: no peer credential check on Windows; the pipe's security descriptor decides who may connect`);
    return null;
  }
  const credentials = options.credentials === undefined ? addonPeerCredentials() : options.credentials;
  if (credentials === null) {
    logger.warn(`control socket ${path}: the addon cannot read peer credentials here; the socket's file permissions are the only check`);
    return null;
  }
  const helperUid = options.helperUid ?? process.getuid?.() ?? 0;
  const groups = new CachedAccountFile(options.groupFile ?? '/etc/group', parseGroupFile);
  const users = new CachedAccountFile(options.passwdFile ?? '/etc/passwd', parsePasswdFile);
  return (socket) => {
    const fd = unixSocketFd(socket);
    if (fd === null) return { allowed: false, peer: null, reason: 'the connection has no file descriptor to ask' };
    let peer: PeerCredentials;
    try {
      peer = credentials(fd);
    } catch (error) {
      return { allowed: false, peer: null, reason: `cannot read its credentials (${(error as Error).message})` };
    }
    const group = groups.get().find((entry) => entry.name === CLIENT_GROUP) ?? null;
    const verdict = decidePeer(peer, helperUid, group, users.get());
    if (verdict.allowed) return { allowed: true, peer };
    return {
      allowed: false,
      peer,
      reason: group === null ? `not root or the helper's user, and there is no group '${CLIENT_GROUP}'` : `not root, the helper's user or a member of group '${CLIENT_GROUP}' (gid ${group.gid})`,
    };
  };
}

function addonPeerCredentials(): ((fd: number) => PeerCredentials) | null {
  try {
    const addon = ioAddon();
    if (typeof addon.peerCredentials !== 'function') return null;
    return addon.peerCredentials;
  } catch {
    return null;
  }
}
