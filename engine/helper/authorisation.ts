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
 *   (decidePeer; decideFromDirectory on macOS): root, the helper's own user, or a member of
 *   `wirelane`. So a
 *   socket left world-writable by mistake, or a socket directory someone loosened, still lets no
 *   one else in. A connection refused here gets one `forbidden` reply and is closed. Without the
 *   addon the file permissions are the whole check, and the helper says so once at start.
 *   Where the group comes from: on Linux /etc/group and /etc/passwd; on macOS the directory
 *   service (DarwinDirectory: `dscl` for the group's id, `dsmemberutil` for membership), because
 *   there groups and users made in System Settings or with dseditgroup are not in the /etc files.
 * - Windows: the named pipe gets, right after listen(), the descriptor of controlPipeSddl():
 *   full access for SYSTEM and Administrators, read/write for the members of the local group
 *   `wirelane` when it exists, nobody else. Windows enforces it when a client opens the pipe.
 *   The group mirrors the Unix rule (the administrator chooses who may use the helper); it is
 *   not "all interactive users", which on a shared machine is everyone who logs on. Limits
 *   (the instant between listen and the new descriptor; members can also create instances of
 *   the pipe) are in docs/security.md.
 */
import { execFile, type ExecFileException } from 'node:child_process';
import { chmodSync, lchownSync, lstatSync, mkdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { Logger } from '../logger.js';
import { ioAddon, type PeerCredentials } from '../native/addon.js';
import { requireTrustedDirectory } from './path-ownership.js';

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
  // Someone who can write the directory (or a parent) could swap the socket for a symlink between
  // bind() and the chown/chmod below and have root change another file: refuse to start instead.
  requireTrustedDirectory(dir, 'the socket directory');
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

/**
 * Applies the rule above to a socket just bound; returns what it set. The group's id comes from
 * `groupFile` when one is given (tests), else from the directory service on macOS and from
 * /etc/group elsewhere. A group that cannot be looked up leaves the socket 0600 (narrower).
 */
export async function restrictSocket(path: string, logger: Logger, groupFile?: string, directory: DarwinDirectory | null = defaultDirectory(process.platform, groupFile)): Promise<SocketAccess> {
  if (isNamedPipe(path)) return restrictPipe(path, logger);
  let gid: number | null;
  if (directory) {
    const answer = await directory.groupId();
    if (answer.error !== undefined) logger.error(`control socket ${path}: cannot look up group '${CLIENT_GROUP}' (${answer.error}); only its owner may connect`);
    gid = answer.gid;
  } else {
    gid = lookupGroupId(CLIENT_GROUP, groupFile);
  }
  const uid = process.getuid?.() ?? 0;
  // Set without following links: lchown never follows one, and chmod (Linux has no lchmod) runs
  // only once lstat shows our own socket there, in a directory nobody else can write
  // (prepareSocketPath checked it), so nobody can put a link in its place in between.
  const stat = lstatSync(path);
  if (!stat.isSocket() || stat.uid !== uid) throw new Error(`${path} is no longer the helper's socket; refusing to change its permissions`);
  if (gid !== null) {
    lchownSync(path, uid, gid);
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

// ---------------------------------------------------------------------------------------------
// macOS: the directory service.

/**
 * Runs a program directly (never through a shell) and says how it ended. Rejects only when it
 * could not be run, ran past `timeoutMs` (it is then killed) or printed more than a lookup can.
 */
export type CommandRunner = (file: string, args: readonly string[], timeoutMs: number) => Promise<{ code: number; stdout: string }>;

export const DSCL = '/usr/bin/dscl';
export const DSMEMBERUTIL = '/usr/sbin/dsmemberutil';

export const runCommand: CommandRunner = (file, args, timeoutMs) =>
  new Promise((resolve, reject) => {
    execFile(
      file,
      [...args],
      // Fixed PATH and C locale: the helper parses English output and trusts no caller's environment.
      { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 1024, encoding: 'utf8', env: { PATH: '/usr/bin:/bin:/usr/sbin:/sbin', LC_ALL: 'C' } },
      (error: ExecFileException | null, stdout: string) => {
        if (error === null) resolve({ code: 0, stdout });
        // A number is the exit status; a string (ENOENT, the maxBuffer error) or a kill is a failure to answer.
        else if (typeof error.code === 'number' && !error.killed) resolve({ code: error.code, stdout });
        else if (error.killed) reject(new Error(`${file} did not answer within ${timeoutMs} ms`, { cause: error }));
        else reject(new Error(error.message.split('\n')[0]!.slice(0, 200), { cause: error }));
      },
    );
  });

/** `dscl . -read /Groups/NAME PrimaryGroupID` prints `PrimaryGroupID: 401`; anything else is no answer (null). */
export function parseDsclPrimaryGroupId(stdout: string): number | null {
  const match = /^PrimaryGroupID: (\d{1,10})$/.exec(stdout.trim());
  if (!match) return null;
  const gid = Number(match[1]);
  return gid <= 0xffffffff ? gid : null;
}

/**
 * `dsmemberutil checkmembership` prints `user is a member of the group` or `user is not a member
 * of the group`; anything else (an unknown user or group, an error) is no answer (null).
 */
export function parseCheckMembership(stdout: string): boolean | null {
  const text = stdout.trim();
  if (text === 'user is a member of the group') return true;
  if (text === 'user is not a member of the group') return false;
  return null;
}

export interface GroupIdAnswer {
  /** The group's id, or null when it does not exist or could not be looked up. */
  gid: number | null;
  /** Set when the directory service could not be asked: the caller narrows and says why. */
  error?: string;
}

export interface MembershipAnswer {
  member: boolean;
  /** Set when the directory service could not be asked (then member is false). */
  error?: string;
}

export interface DarwinDirectoryOptions {
  group?: string;
  run?: CommandRunner;
  /** Milliseconds, monotonic. */
  now?: () => number;
  /** How long an answer is reused: a connect storm costs one lookup per user per this long. */
  cacheMs?: number;
  timeoutMs?: number;
}

interface CachedAnswer<T> {
  at: number;
  answer: Promise<T>;
}

/**
 * The `wirelane` group as macOS's directory service knows it. Groups and users made in System
 * Settings or with dseditgroup live there and not in /etc/group or /etc/passwd. dsmemberutil
 * asks opendirectoryd the question the kernel's own check answers (mbr_check_membership: direct,
 * primary or nested membership). Answers, failures included, are cached for `cacheMs` per uid
 * and shared by connections that arrive while one lookup runs. A lookup never rejects: a
 * failure is an answer that refuses (membership) or leaves the socket to its owner (group id).
 */
export class DarwinDirectory {
  private readonly group: string;
  private readonly run: CommandRunner;
  private readonly now: () => number;
  private readonly cacheMs: number;
  private readonly timeoutMs: number;
  private groupIdCache: CachedAnswer<GroupIdAnswer> | null = null;
  private readonly membershipCache = new Map<number, CachedAnswer<MembershipAnswer>>();

  constructor(options: DarwinDirectoryOptions = {}) {
    this.group = options.group ?? CLIENT_GROUP;
    this.run = options.run ?? runCommand;
    this.now = options.now ?? (() => performance.now());
    this.cacheMs = options.cacheMs ?? 10_000;
    this.timeoutMs = options.timeoutMs ?? 3_000;
  }

  groupId(): Promise<GroupIdAnswer> {
    const now = this.now();
    if (this.groupIdCache === null || now - this.groupIdCache.at >= this.cacheMs) {
      this.groupIdCache = { at: now, answer: this.askGroupId() };
    }
    return this.groupIdCache.answer;
  }

  isMember(uid: number): Promise<MembershipAnswer> {
    const now = this.now();
    const cached = this.membershipCache.get(uid);
    if (cached && now - cached.at < this.cacheMs) return cached.answer;
    // Only local users can connect, so the map stays small; stale entries go when it grows.
    if (this.membershipCache.size >= 256) {
      for (const [key, entry] of this.membershipCache) if (now - entry.at >= this.cacheMs) this.membershipCache.delete(key);
    }
    const answer = this.askMembership(uid);
    this.membershipCache.set(uid, { at: now, answer });
    return answer;
  }

  private async askGroupId(): Promise<GroupIdAnswer> {
    let result;
    try {
      result = await this.run(DSCL, ['.', '-read', `/Groups/${this.group}`, 'PrimaryGroupID'], this.timeoutMs);
    } catch (error) {
      return { gid: null, error: (error as Error).message };
    }
    // dscl exits non-zero for a group that does not exist (eDSRecordNotFound): no group, no error.
    if (result.code !== 0) return { gid: null };
    const gid = parseDsclPrimaryGroupId(result.stdout);
    return gid === null ? { gid: null, error: `${DSCL}: unexpected output '${result.stdout.trim().slice(0, 80)}'` } : { gid };
  }

  private async askMembership(uid: number): Promise<MembershipAnswer> {
    let result;
    try {
      result = await this.run(DSMEMBERUTIL, ['checkmembership', '-u', String(uid), '-G', this.group], this.timeoutMs);
    } catch (error) {
      return { member: false, error: (error as Error).message };
    }
    const member = parseCheckMembership(result.stdout);
    // Let in only on a clean "is a member"; "is not a member" refuses whatever the exit status.
    if (member === false || (member === true && result.code === 0)) return { member };
    return { member: false, error: `${DSMEMBERUTIL}: exit status ${result.code}, output '${result.stdout.trim().slice(0, 80)}'` };
  }
}

/** The directory to ask for the group: macOS, unless the caller named the account files (tests). */
function defaultDirectory(platform: NodeJS.Platform, ...files: Array<string | undefined>): DarwinDirectory | null {
  return platform === 'darwin' && files.every((file) => file === undefined) ? new DarwinDirectory() : null;
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

/**
 * Decides a new connection: at once from the files (Linux), or after asking the directory
 * service (macOS, a user other than root and the helper's). The promise never rejects.
 */
export type PeerCheck = (socket: Socket) => PeerCheckOutcome | Promise<PeerCheckOutcome>;

export interface PeerCheckOptions {
  /** Default /etc/group on Linux. Given (tests), it is read on macOS too instead of the directory. */
  groupFile?: string;
  /** Default /etc/passwd on Linux; as groupFile on macOS. */
  passwdFile?: string;
  /**
   * macOS: where membership is asked. Default a DarwinDirectory on darwin when neither file is
   * given, else null (the files decide).
   */
  directory?: DarwinDirectory | null;
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
export function createPeerCheck(path: string, logger: Logger, options: PeerCheckOptions = {}): PeerCheck | null {
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
  const directory = options.directory !== undefined ? options.directory : defaultDirectory(platform, options.groupFile, options.passwdFile);
  if (directory) {
    return (socket) => {
      const read = readPeer(socket, credentials);
      if ('reason' in read) return read;
      const peer = read.peer;
      if (peer.uid === 0 || peer.uid === helperUid) return { allowed: true, peer };
      return decideFromDirectory(peer, directory);
    };
  }
  const groups = new CachedAccountFile(options.groupFile ?? '/etc/group', parseGroupFile);
  const users = new CachedAccountFile(options.passwdFile ?? '/etc/passwd', parsePasswdFile);
  return (socket) => {
    const read = readPeer(socket, credentials);
    if ('reason' in read) return read;
    const peer = read.peer;
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

/** Who is at the other end, or the refusal when that cannot be known. */
function readPeer(socket: Socket, credentials: (fd: number) => PeerCredentials): { peer: PeerCredentials } | Extract<PeerCheckOutcome, { allowed: false }> {
  const fd = unixSocketFd(socket);
  if (fd === null) return { allowed: false, peer: null, reason: 'the connection has no file descriptor to ask' };
  try {
    return { peer: credentials(fd) };
  } catch (error) {
    return { allowed: false, peer: null, reason: `cannot read its credentials (${(error as Error).message})` };
  }
}

/**
 * The macOS rule for a user other than root and the helper's: the peer's effective gid is the
 * group's, or the directory service says the user is a member. A lookup that fails refuses.
 */
export async function decideFromDirectory(peer: PeerCredentials, directory: DarwinDirectory): Promise<PeerCheckOutcome> {
  const [group, membership] = await Promise.all([directory.groupId(), directory.isMember(peer.uid)]);
  if (group.gid !== null && peer.gid === group.gid) return { allowed: true, peer };
  if (membership.member) return { allowed: true, peer };
  if (membership.error !== undefined) return { allowed: false, peer, reason: `cannot ask the directory service whether it is in group '${CLIENT_GROUP}' (${membership.error})` };
  if (group.gid === null && group.error === undefined) return { allowed: false, peer, reason: `not root or the helper's user, and there is no group '${CLIENT_GROUP}'` };
  return { allowed: false, peer, reason: `not root, the helper's user or a member of group '${CLIENT_GROUP}'${group.gid === null ? '' : ` (gid ${group.gid})`}` };
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
