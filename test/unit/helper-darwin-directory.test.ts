/**
 * The helper's group rule on macOS, where the `wirelane` group and its members live in the
 * directory service rather than /etc/group: the exact commands run, how their output is read,
 * the short cache that keeps a connect storm from spawning a process per connection, and that
 * every failure refuses (or leaves the socket to its owner) instead of letting anyone in.
 * The commands are faked: this runs anywhere.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createPeerCheck,
  DarwinDirectory,
  DSCL,
  DSMEMBERUTIL,
  parseCheckMembership,
  parseDsclPrimaryGroupId,
  restrictSocket,
  runCommand,
  type CommandRunner,
} from '../../engine/helper/authorisation.js';
import { ControlServer } from '../../engine/helper/server.js';
import type { Logger } from '../../engine/logger.js';
import type { PeerCredentials } from '../../engine/native/addon.js';

const MEMBER = 'user is a member of the group\n';
const NOT_MEMBER = 'user is not a member of the group\n';

function capturingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const push = (level: string) => (message: string) => void lines.push(`${level} ${message}`);
  return { lines, debug: push('debug'), info: push('info'), warn: push('warn'), error: push('error') };
}

interface Call {
  file: string;
  args: readonly string[];
  timeoutMs: number;
}

/**
 * A fake directory service: `wirelane` has gid 401 unless `gid` says otherwise (null: no such
 * group, as dscl reports it), and the uids in `members` are its members.
 */
function fakeDirectory(options: { gid?: number | null; members?: number[]; fail?: boolean; delayMs?: number } = {}) {
  const calls: Call[] = [];
  const gid = options.gid === undefined ? 401 : options.gid;
  const members = new Set(options.members ?? []);
  const run: CommandRunner = async (file, args, timeoutMs) => {
    calls.push({ file, args, timeoutMs });
    if (options.delayMs) await new Promise((resolve) => setTimeout(resolve, options.delayMs));
    if (options.fail) throw new Error(`${file} did not answer within ${timeoutMs} ms`); // as runCommand says it
    if (file === DSCL) return gid === null ? { code: 56, stdout: '' } : { code: 0, stdout: `PrimaryGroupID: ${gid}\n` };
    if (file === DSMEMBERUTIL) return { code: 0, stdout: members.has(Number(args[2])) ? MEMBER : NOT_MEMBER };
    throw new Error(`unexpected command ${file}`);
  };
  let clock = 1_000;
  const directory = new DarwinDirectory({ run, now: () => clock, timeoutMs: 1_500 });
  return { calls, directory, advance: (ms: number) => void (clock += ms) };
}

/** A stand-in for an accepted connection: the peer check only reads its descriptor number. */
const fakeSocket = { _handle: { fd: 7 } } as unknown as Socket;
const as = (uid: number, gid = 20): ((fd: number) => PeerCredentials) => () => ({ uid, gid, pid: 4321 });

test('the commands: dscl for the group id, dsmemberutil by uid for membership, each with the timeout', async () => {
  const { calls, directory } = fakeDirectory({ members: [501] });
  assert.deepEqual(await directory.groupId(), { gid: 401 });
  assert.deepEqual(await directory.isMember(501), { member: true });
  assert.deepEqual(await directory.isMember(502), { member: false });
  assert.deepEqual(calls, [
    { file: '/usr/bin/dscl', args: ['.', '-read', '/Groups/wirelane', 'PrimaryGroupID'], timeoutMs: 1_500 },
    { file: '/usr/sbin/dsmemberutil', args: ['checkmembership', '-u', '501', '-G', 'wirelane'], timeoutMs: 1_500 },
    { file: '/usr/sbin/dsmemberutil', args: ['checkmembership', '-u', '502', '-G', 'wirelane'], timeoutMs: 1_500 },
  ]);
});

test('parsing: only the exact answers count; anything else is no answer', () => {
  assert.equal(parseDsclPrimaryGroupId('PrimaryGroupID: 401\n'), 401);
  assert.equal(parseDsclPrimaryGroupId('PrimaryGroupID: 401 402\n'), null, 'two values: not guessed at');
  assert.equal(parseDsclPrimaryGroupId('No such key: PrimaryGroupID\n'), null);
  assert.equal(parseDsclPrimaryGroupId('PrimaryGroupID: 99999999999\n'), null);
  assert.equal(parseDsclPrimaryGroupId(''), null);
  assert.equal(parseCheckMembership(MEMBER), true);
  assert.equal(parseCheckMembership(NOT_MEMBER), false);
  assert.equal(parseCheckMembership('Invalid user.\n'), null);
  assert.equal(parseCheckMembership('user is a member of the group wheel\n'), null);
  assert.equal(parseCheckMembership(''), null);
});

test('a connect storm from one user runs one lookup; the answer is reused for 10 s, then asked again', async () => {
  const { calls, directory, advance } = fakeDirectory({ members: [501], delayMs: 20 });
  const answers = await Promise.all(Array.from({ length: 50 }, () => directory.isMember(501)));
  assert.ok(answers.every((a) => a.member));
  assert.equal(calls.filter((c) => c.file === DSMEMBERUTIL).length, 1, 'connections during the lookup share it');
  advance(9_999);
  await directory.isMember(501);
  assert.equal(calls.filter((c) => c.file === DSMEMBERUTIL).length, 1, 'still fresh');
  advance(1);
  await directory.isMember(501);
  assert.equal(calls.filter((c) => c.file === DSMEMBERUTIL).length, 2, 'stale after 10 s: removal from the group takes effect');
  await directory.isMember(502);
  assert.equal(calls.filter((c) => c.file === DSMEMBERUTIL).length, 3, 'cached per uid');
});

test('the peer check on macOS: root and the helper user at once; others by the directory', async () => {
  const { calls, directory } = fakeDirectory({ members: [501] });
  const logger = capturingLogger();
  const check = (uid: number, gid?: number) => createPeerCheck('/var/run/wirelane/helper.sock', logger, { platform: 'darwin', credentials: as(uid, gid), helperUid: 0, directory })!(fakeSocket);

  const root = check(0);
  assert.ok(!(root instanceof Promise) && root.allowed, 'root is decided without asking');
  assert.equal(calls.length, 0);

  assert.equal((await check(501)).allowed, true, 'a member');
  const stranger = await check(502);
  assert.equal(stranger.allowed, false);
  assert.match(stranger.reason, /not root, the helper's user or a member of group 'wirelane' \(gid 401\)/);
  assert.equal((await check(503, 401)).allowed, true, "a process whose effective gid is the group's");
});

test('no wirelane group: nobody but root and the helper user, and the socket stays 0600', async () => {
  const { directory } = fakeDirectory({ gid: null });
  const logger = capturingLogger();
  const refused = await createPeerCheck('/var/run/wirelane/helper.sock', logger, { platform: 'darwin', credentials: as(501), helperUid: 0, directory })!(fakeSocket);
  assert.equal(refused.allowed, false);
  assert.match(refused.reason, /there is no group 'wirelane'/);

  const path = await boundSocket();
  chmodSync(path, 0o666);
  assert.deepEqual(await restrictSocket(path, logger, undefined, directory), { mode: 0o600, gid: null });
  assert.equal(statSync(path).mode & 0o777, 0o600);
});

test('the directory service cannot be asked: the peer is refused and the socket left to its owner (narrower, never wider)', async () => {
  const { directory } = fakeDirectory({ fail: true, members: [501] });
  const logger = capturingLogger();
  const refused = await createPeerCheck('/var/run/wirelane/helper.sock', logger, { platform: 'darwin', credentials: as(501), helperUid: 0, directory })!(fakeSocket);
  assert.equal(refused.allowed, false);
  assert.match(refused.reason, /cannot ask the directory service whether it is in group 'wirelane' \(\/usr\/sbin\/dsmemberutil did not answer within 1500 ms\)/);

  const path = await boundSocket();
  chmodSync(path, 0o666);
  assert.deepEqual(await restrictSocket(path, logger, undefined, directory), { mode: 0o600, gid: null });
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.ok(logger.lines.some((l) => /^error .*cannot look up group 'wirelane' \(\/usr\/bin\/dscl did not answer/.test(l)));

  // A "member" answer with a failing exit status, or output that is not an answer, refuses too.
  const odd = new DarwinDirectory({ run: async () => ({ code: 1, stdout: MEMBER }) });
  assert.equal((await odd.isMember(501)).member, false);
  const garbled = new DarwinDirectory({ run: async () => ({ code: 0, stdout: 'Invalid group\n' }) });
  assert.equal((await garbled.isMember(501)).member, false);
});

test('runCommand runs the program itself: exit status and output come back; a hang is killed at the timeout; a missing program fails', { skip: process.platform === 'win32' && 'needs /bin/sh and /bin/sleep' }, async () => {
  // A shell here is only the program under test; runCommand itself never starts one.
  assert.deepEqual(await runCommand('/bin/sh', ['-c', 'echo "$0 $1"; exit 3', 'a b', '$(no expansion)'], 5_000), { code: 3, stdout: 'a b $(no expansion)\n' });
  const started = Date.now();
  await assert.rejects(runCommand('/bin/sleep', ['5'], 200), /^Error: \/bin\/sleep did not answer within 200 ms$/);
  assert.ok(Date.now() - started < 4_000, 'killed, not waited for');
  await assert.rejects(runCommand('/nonexistent/dsmemberutil', [], 1_000), /ENOENT/);
});

test('the socket gets the group id dscl reports', { skip: process.getuid?.() !== 0 && 'chown to another group needs root' }, async () => {
  const { directory } = fakeDirectory({ gid: 4242 });
  const path = await boundSocket();
  assert.deepEqual(await restrictSocket(path, capturingLogger(), undefined, directory), { mode: 0o660, gid: 4242 });
  assert.equal(statSync(path).gid, 4242);
  assert.equal(statSync(path).mode & 0o777, 0o660);
});

test('restrictSocket changes nothing that is not the helper\'s own socket: a regular file in its place is refused, its mode kept', async () => {
  const { directory } = fakeDirectory({ gid: 4242 });
  const path = join(tempDir(), 'helper.sock');
  writeFileSync(path, '');
  chmodSync(path, 0o644);
  await assert.rejects(restrictSocket(path, capturingLogger(), undefined, directory), /is no longer the helper's socket; refusing to change its permissions/);
  assert.equal(statSync(path).mode & 0o777, 0o644);
});

test('the control server waits for the directory: a member\'s first request is answered, a stranger gets forbidden', async () => {
  // A uid that is neither root nor this process (the helper's own user is let in without asking).
  const peerUid = 77_777;
  for (const [members, expect] of [[[peerUid], 'result'], [[], 'forbidden']] as const) {
    // Slow answers: the client's request arrives before the verdict and must not be lost.
    const { directory } = fakeDirectory({ members: [...members], delayMs: 50 });
    const dir = tempDir();
    const socketPath = join(dir, 'helper.sock');
    const server = new ControlServer({
      socketPath,
      logger: capturingLogger(),
      peerCredentials: () => ({ uid: peerUid, gid: 20, pid: process.pid }),
      directory,
      handle: async (request) => (request.type === 'list' ? { tunnels: [] } : {}),
    });
    await server.listen();
    try {
      const reply = await listOnce(socketPath);
      if (expect === 'result') assert.deepEqual(reply, { id: 1, ok: true, result: { tunnels: [] } });
      else assert.equal((reply as { error?: { code?: string } }).error?.code, 'forbidden');
    } finally {
      await server.close();
    }
  }
});

function listOnce(socketPath: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    let got = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within 5 s: ${got}`));
    }, 5_000);
    socket.on('connect', () => socket.write(JSON.stringify({ id: 1, type: 'list' }) + '\n'));
    socket.on('data', (chunk: Buffer) => {
      got += chunk.toString('utf8');
      const line = got.split('\n')[0];
      if (got.includes('\n') && line !== undefined) {
        clearTimeout(timer);
        socket.destroy();
        resolve(JSON.parse(line) as unknown);
      }
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

const dirs: string[] = [];
const servers: Server[] = [];
after(async () => {
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/**
 * A Unix socket bound by this process in a fresh directory, as the helper's is when restrictSocket
 * runs: restrictSocket changes permissions only on a socket its own uid owns (a regular file or
 * another user's socket there is refused), so the stand-in has to be a real one.
 */
async function boundSocket(): Promise<string> {
  const path = join(tempDir(), 'helper.sock');
  const server = createServer();
  servers.push(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, resolve);
  });
  return path;
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'wirelane-darwin-directory-'));
  dirs.push(dir);
  return dir;
}
