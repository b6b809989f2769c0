/**
 * The helper's second authorisation check: the addon reads who is at the other end of a Unix
 * socket, the group rule decides from /etc/group and /etc/passwd, and the control server refuses
 * everyone else with `forbidden` even when the socket file's permissions let them in.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, closeSync, cpSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CachedAccountFile,
  createPeerCheck,
  decidePeer,
  lookupGroupId,
  parseGroupFile,
  parsePasswdFile,
  unixSocketFd,
  type GroupEntry,
} from '../../engine/helper/authorisation.js';
import { runWirelane, type CliIo } from '../../engine/cli/wirelane.js';
import { HelperClient, HelperRequestError } from '../../engine/helper/client.js';
import { ControlServer } from '../../engine/helper/server.js';
import type { Logger } from '../../engine/logger.js';
import { ioAddon, type PeerCredentials } from '../../engine/native/addon.js';
import { repoPath } from '../support/paths.js';

const GROUP_TEXT = [
  '# comment:x:1:',
  'root:x:0:',
  'users:x:100:alice',
  'wirelane:x:4242:alice, bob',
  'carol:x:4242', // three fields: not a group line
  '+nis:::',
  'wirelane:x:5555:mallory', // a later duplicate: the first entry counts, as for lookupGroupId
  'nogroup:x:65534:',
  '',
].join('\n');

const PASSWD_TEXT = [
  'root:x:0:0:root:/root:/bin/bash',
  'alice:x:1001:1001::/home/alice:/bin/bash',
  'bob:x:1002:1002::/home/bob:/bin/bash',
  'dave:x:1004:4242::/home/dave:/bin/bash', // primary group wirelane
  'erin:x:1005:1005::/home/erin:/bin/bash',
  'toor:x:1002:1002::/root:/bin/sh', // a second name for bob's uid
  'mallory:x:1006:1006::/home/mallory:/bin/bash',
  'broken:x:abc:1:::',
  '',
].join('\n');

const users = parsePasswdFile(PASSWD_TEXT);
const wirelane = parseGroupFile(GROUP_TEXT).find((g) => g.name === 'wirelane') ?? null;

function capturingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const push = (level: string) => (message: string) => void lines.push(`${level} ${message}`);
  return { lines, debug: push('debug'), info: push('info'), warn: push('warn'), error: push('error') };
}

test('group and passwd files parse as the C library reads them; malformed lines are skipped', () => {
  const groups = parseGroupFile(GROUP_TEXT);
  assert.deepEqual(
    groups.map((g) => [g.name, g.gid, g.members]),
    [
      ['root', 0, []],
      ['users', 100, ['alice']],
      ['wirelane', 4242, ['alice', 'bob']],
      ['wirelane', 5555, ['mallory']],
      ['nogroup', 65534, []],
    ],
  );
  assert.deepEqual(users.map((u) => [u.name, u.uid, u.gid]), [
    ['root', 0, 0],
    ['alice', 1001, 1001],
    ['bob', 1002, 1002],
    ['dave', 1004, 4242],
    ['erin', 1005, 1005],
    ['toor', 1002, 1002],
    ['mallory', 1006, 1006],
  ]);
  const dir = mkdtempSync(join(tmpdir(), 'wirelane-groupfile-'));
  try {
    writeFileSync(join(dir, 'group'), GROUP_TEXT);
    assert.equal(lookupGroupId('wirelane', join(dir, 'group')), 4242, 'the socket owner rule and the peer rule pick the same line');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the peer rule: root, the helper user, and members of wirelane by gid, primary group or member list', () => {
  const helperUid = 0;
  const allowed = (uid: number, gid: number, group: GroupEntry | null = wirelane, helper = helperUid) => decidePeer({ uid, gid }, helper, group, users);
  assert.deepEqual(allowed(0, 0), { allowed: true, because: 'root' });
  assert.deepEqual(allowed(0, 0, null), { allowed: true, because: 'root' });
  assert.deepEqual(allowed(1001, 1001), { allowed: true, because: 'group-member' }); // alice is listed
  assert.deepEqual(allowed(1002, 1002), { allowed: true, because: 'group-member' }); // " bob" with a space, and toor shares the uid
  assert.deepEqual(allowed(1004, 1004), { allowed: true, because: 'primary-group' }); // dave's passwd gid is 4242
  assert.deepEqual(allowed(1005, 4242), { allowed: true, because: 'group-gid' }); // running with egid wirelane
  assert.deepEqual(allowed(1005, 1005), { allowed: false }); // erin: not a member
  assert.deepEqual(allowed(1006, 1006), { allowed: false }); // mallory is only in the ignored duplicate
  assert.deepEqual(allowed(65534, 65534), { allowed: false });
  assert.deepEqual(allowed(7777, 7777), { allowed: false }); // a uid with no passwd entry
  assert.deepEqual(allowed(1001, 1001, null), { allowed: false }); // no wirelane group: root alone
  assert.deepEqual(allowed(1005, 1005, null, 1005), { allowed: true, because: 'helper-user' }); // a helper run by erin
  assert.deepEqual(allowed(1005, 1005, wirelane, 1005), { allowed: true, because: 'helper-user' });
});

test('account files are read again only when they change', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wirelane-groupcache-'));
  try {
    const path = join(dir, 'group');
    let parses = 0;
    const cache = new CachedAccountFile(path, (text) => {
      parses++;
      return parseGroupFile(text);
    });
    const start = parses;
    assert.deepEqual(cache.get(), [], 'a missing file is empty: nobody but root and the helper user');
    writeFileSync(path, 'wirelane:x:4242:alice\n');
    utimesSync(path, 1_000_000, 1_000_000);
    assert.deepEqual(cache.get()[0]?.members, ['alice']);
    const afterRead = parses;
    cache.get();
    cache.get();
    assert.equal(parses, afterRead, 'unchanged file: not parsed again');
    writeFileSync(path, 'wirelane:x:4242:bob\n'); // same size, new mtime
    utimesSync(path, 2_000_000, 2_000_000);
    assert.deepEqual(cache.get()[0]?.members, ['bob']);
    assert.equal(parses - start, 3);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('without the addon (or on Windows) there is no peer check, and that is logged once', () => {
  const logger = capturingLogger();
  assert.equal(createPeerCheck('/run/x/helper.sock', logger, { credentials: null, platform: 'linux' }), null);
  assert.equal(createPeerCheck('\\\\.\\pipe\\wirelane-helper', logger, { platform: 'win32' }), null);
  assert.equal(logger.lines.length, 2);
  assert.match(logger.lines[0]!, /^warn .*file permissions are the only check/);
  assert.match(logger.lines[1]!, /^info .*security descriptor decides/);
});

// ---------------------------------------------------------------------------------------------
// The addon, on real sockets.

const addon = process.platform === 'win32' ? null : (() => {
  try {
    return ioAddon();
  } catch {
    return null;
  }
})();
const peerCredentials = addon?.peerCredentials;
const noAddon = typeof peerCredentials !== 'function' && 'needs the built addon on Linux or macOS';
const canSwitchUser = process.platform === 'linux' && process.getuid?.() === 0 && spawnSync('setpriv', ['--version']).status === 0;

const cleanup: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const step of cleanup.reverse()) await step();
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755); // traversable by the unprivileged clients below
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Listens on a Unix socket and resolves with the credentials read from the first accepted connection. */
async function credentialsOfFirstClient(connectClient: (path: string) => void): Promise<PeerCredentials> {
  const path = join(tempDir('wirelane-peercred-'), 's.sock');
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(path, resolve));
  chmodSync(path, 0o666);
  try {
    return await new Promise<PeerCredentials>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no connection within 10 s')), 10_000);
      server.once('connection', (socket: Socket) => {
        clearTimeout(timer);
        try {
          const fd = unixSocketFd(socket);
          assert.notEqual(fd, null);
          resolve(peerCredentials!(fd!));
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
        } finally {
          socket.destroy();
        }
      });
      connectClient(path);
    });
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

test('the addon names this process as the peer of its own connection', { skip: noAddon }, async () => {
  let client: Socket | undefined;
  const cred = await credentialsOfFirstClient((path) => {
    client = connect(path);
    client.on('error', () => {});
  });
  client?.destroy();
  assert.deepEqual(cred, { uid: process.getuid!(), gid: process.getgid!(), pid: process.pid });
});

test('the addon names another user and its pid for a client run as nobody', { skip: noAddon || (!canSwitchUser && 'needs root and setpriv') }, async () => {
  let childPid = -1;
  const cred = await credentialsOfFirstClient((path) => {
    const script = `const s=require('net').connect(${JSON.stringify(path)});s.on('error',()=>{});setTimeout(()=>process.exit(0),5000);`;
    const child = spawn('setpriv', ['--reuid=65534', '--regid=65533', '--clear-groups', process.execPath, '-e', script], { stdio: 'ignore' });
    childPid = child.pid ?? -1;
    cleanup.push(() => void child.kill());
  });
  // setpriv execs node in place, so the connecting process keeps setpriv's pid.
  assert.deepEqual(cred, { uid: 65534, gid: 65533, pid: childPid });
});

test('the addon reads a socketpair (a child\'s stdio): its creator, this process', { skip: noAddon }, async () => {
  const child = spawn(process.execPath, ['-e', 'process.stdin.resume()'], { stdio: ['pipe', 'ignore', 'ignore'] });
  try {
    const fd = unixSocketFd(child.stdin as unknown as Socket);
    assert.notEqual(fd, null, 'libuv gives a child its stdio through a Unix socketpair');
    assert.deepEqual(peerCredentials!(fd!), { uid: process.getuid!(), gid: process.getgid!(), pid: process.pid });
  } finally {
    child.kill();
  }
});

test('the addon refuses what is not a connected Unix socket, with the errno name', { skip: noAddon }, async () => {
  const file = join(tempDir('wirelane-peercred-file-'), 'f');
  writeFileSync(file, 'x');
  const fd = openSync(file, 'r');
  try {
    assert.throws(() => peerCredentials!(fd), { code: 'ENOTSOCK' });
  } finally {
    closeSync(fd);
  }
  assert.throws(() => peerCredentials!(1_000_000), { code: 'EBADF' });
  assert.throws(() => peerCredentials!(-1), TypeError);
  // A TCP socket (listening, nothing connects): Linux would answer SO_PEERCRED with uid -1 for a
  // socket that is not AF_UNIX; the addon refuses before asking.
  const tcp = createServer();
  await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
  try {
    const tcpFd = (tcp as unknown as { _handle: { fd: number } })._handle.fd;
    assert.throws(() => peerCredentials!(tcpFd), { code: 'EAFNOSUPPORT' });
  } finally {
    await new Promise<void>((resolve) => tcp.close(() => resolve()));
  }
});

// ---------------------------------------------------------------------------------------------
// The control server, with its socket deliberately left world-writable.

interface Served {
  socket: string;
  logger: Logger & { lines: string[] };
}

async function serve(options: { group?: string; credentials?: (fd: number) => PeerCredentials }): Promise<Served> {
  const dir = tempDir('wirelane-peerserver-');
  const groupFile = join(dir, 'group');
  const passwdFile = join(dir, 'passwd');
  writeFileSync(groupFile, options.group ?? 'root:x:0:\n');
  writeFileSync(passwdFile, 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n');
  const socket = join(dir, 'run', 'helper.sock');
  const logger = capturingLogger();
  const server = new ControlServer({
    socketPath: socket,
    logger,
    groupFile,
    passwdFile,
    peerCredentials: options.credentials,
    handle: async (request) => (request.type === 'list' ? { tunnels: [] } : {}),
  });
  await server.listen();
  cleanup.push(() => server.close());
  chmodSync(join(dir, 'run'), 0o755);
  // The misconfiguration this check exists for: anyone may connect(2) to the socket.
  chmodSync(socket, 0o666);
  return { socket, logger };
}

/**
 * Runs a client as uid 65534 (gid 65534, no supplementary groups) that sends `list` and prints
 * what it gets until EOF. Asynchronous: the server under test runs on this event loop.
 */
async function runClientAsNobody(socketPath: string): Promise<{ lines: string[]; stderr: string }> {
  const script = [
    `const s=require('net').connect(${JSON.stringify(socketPath)});let got='';`,
    `s.on('connect',()=>s.write(JSON.stringify({id:1,type:'list'})+'\\n'));`,
    `s.on('data',d=>{got+=d;if(got.includes('"result"'))s.destroy();});`,
    `s.on('close',()=>{process.stdout.write(got+'CLOSED\\n',()=>process.exit(0))});s.on('error',e=>{console.log('ERROR '+e.code)});`,
    `setTimeout(()=>{console.log('TIMEOUT');process.exit(1)},8000);`,
  ].join('');
  const child = spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 15_000 });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  await new Promise<void>((resolve) => {
    child.on('close', () => resolve());
    child.on('error', (error) => {
      stderr += String(error);
      resolve();
    });
  });
  return { lines: stdout.split('\n').filter((l) => l !== ''), stderr };
}

/** Sends `list` as this process and returns the replies until the connection closes or a result arrives. */
function listAsSelf(socketPath: string): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    let got = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer: ${got}`));
    }, 8000);
    const finish = () => {
      clearTimeout(timer);
      resolve(got.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as unknown));
    };
    socket.on('connect', () => socket.write(JSON.stringify({ id: 1, type: 'list' }) + '\n'));
    socket.on('data', (chunk) => {
      got += chunk.toString('utf8');
      if (got.includes('"result"')) {
        socket.destroy();
        finish();
      }
    });
    socket.on('close', finish);
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

const FORBIDDEN = { id: null, ok: false, error: { code: 'forbidden' } };

function assertForbidden(reply: unknown): void {
  const r = reply as { id: unknown; ok: unknown; error?: { code?: unknown; message?: unknown } };
  assert.deepEqual({ id: r.id, ok: r.ok, error: { code: r.error?.code } }, FORBIDDEN);
  assert.match(String(r.error?.message), /ask an administrator to add you to the 'wirelane' group/);
}

test('a world-writable socket still refuses nobody with one forbidden reply and accepts root', { skip: noAddon || (!canSwitchUser && 'needs root and setpriv') }, async () => {
  const served = await serve({});
  const nobody = await runClientAsNobody(served.socket);
  assert.equal(nobody.lines.length, 2, `${nobody.lines.join('\n')}\n${nobody.stderr}`);
  assertForbidden(JSON.parse(nobody.lines[0]!));
  assert.equal(nobody.lines[1], 'CLOSED', 'the helper closes the connection after the reply');
  assert.ok(
    served.logger.lines.some((l) => /^warn control socket: refused uid 65534 \(gid 65534, pid \d+\): .*no group 'wirelane'/.test(l)),
    served.logger.lines.join('\n'),
  );
  assert.deepEqual(await listAsSelf(served.socket), [{ id: 1, ok: true, result: { tunnels: [] } }]);
});

test('a member listed in the wirelane group is accepted by the peer check, a non-member of it refused', { skip: noAddon || (!canSwitchUser && 'needs root and setpriv') }, async () => {
  // nobody runs with gid 65534 and no supplementary groups; only the member list vouches for it.
  const member = await serve({ group: 'root:x:0:\nwirelane:x:4242:daemon,nobody\n' });
  const accepted = await runClientAsNobody(member.socket);
  assert.deepEqual(JSON.parse(accepted.lines[0] ?? 'null'), { id: 1, ok: true, result: { tunnels: [] } }, accepted.stderr);
  const other = await serve({ group: 'root:x:0:\nwirelane:x:4242:daemon\n' });
  const refused = await runClientAsNobody(other.socket);
  assertForbidden(JSON.parse(refused.lines[0] ?? 'null'));
  assert.ok(other.logger.lines.some((l) => /refused uid 65534 .*member of group 'wirelane' \(gid 4242\)/.test(l)), other.logger.lines.join('\n'));
});

test('when the credentials cannot be read the connection is refused, not waved through', async () => {
  const served = await serve({
    credentials: () => {
      throw Object.assign(new Error('peer credentials of a Unix socket: simulated'), { code: 'EINVAL' });
    },
  });
  const replies = await listAsSelf(served.socket);
  assert.equal(replies.length, 1);
  assertForbidden(replies[0]);
  assert.ok(served.logger.lines.some((l) => /refused a client: cannot read its credentials \(.*simulated\)/.test(l)), served.logger.lines.join('\n'));
});

// What a refused user sees: the helper's `forbidden` message as the client's error, one line from
// the command, rather than "the helper closed the connection".

const REFUSAL_LINE = "not allowed to use the helper: ask an administrator to add you to the 'wirelane' group (then log in again)\n";

function cliSink(): CliIo & { out: string; err: string } {
  const sink = {
    out: '',
    err: '',
    stdout(text: string) {
      sink.out += text;
    },
    stderr(text: string) {
      sink.err += text;
    },
    readStdin: () => Promise.resolve(''),
    now: () => Date.now(),
  };
  return sink;
}

test('a refused client fails its request, and every later one, with the forbidden error', async () => {
  const served = await serve({
    credentials: () => {
      throw Object.assign(new Error('peer credentials of a Unix socket: simulated'), { code: 'EINVAL' });
    },
  });
  const client = await HelperClient.connect(served.socket);
  try {
    const refusal = (error: unknown) =>
      error instanceof HelperRequestError && error.error.code === 'forbidden' && `${error.message}\n` === REFUSAL_LINE;
    await assert.rejects(client.request('list', {}), refusal);
    await assert.rejects(client.request('list', {}), refusal, 'the connection stays failed with the same error');
  } finally {
    client.close();
  }
  const sink = cliSink();
  assert.equal(await runWirelane(['--socket', served.socket, 'list'], sink), 1);
  assert.equal(sink.err, REFUSAL_LINE);
  assert.equal(sink.out, '');
});

const builtCli = existsSync(repoPath('dist', 'engine', 'cli', 'wirelane.js')) || 'needs the compiled CLI (npm run build)';

/**
 * A copy of what the installed CLI runs from (engine/bin/wirelane, dist/engine, package.json and
 * the production dependencies in package-lock.json), readable by everyone, in a fresh directory
 * under the system's temporary directory. The checkout itself may sit where other users cannot
 * enter (a clone under /root, or in a `mktemp -d` directory, is mode 0700), and a user outside
 * the group runs the installed CLI, not the developer's checkout.
 */
function cliCopyForOtherUsers(): string {
  const root = tempDir('wirelane-cli-');
  const lock = JSON.parse(readFileSync(repoPath('package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; optional?: boolean }> };
  const production = Object.entries(lock.packages)
    .filter(([path, entry]) => path.startsWith('node_modules/') && entry.dev !== true && existsSync(repoPath(path)))
    .map(([path]) => path);
  for (const path of ['package.json', join('engine', 'bin', 'wirelane'), join('dist', 'engine'), ...production]) {
    cpSync(repoPath(path), join(root, path), { recursive: true });
  }
  const chmod = spawnSync('chmod', ['-R', 'a+rX', root], { encoding: 'utf8' });
  assert.equal(chmod.status, 0, chmod.stderr);
  return root;
}

test('`wirelane list` run as nobody prints the refusal as its one line', { skip: noAddon || (!canSwitchUser && 'needs root and setpriv') || (builtCli !== true && builtCli) }, async () => {
  const served = await serve({});
  const cli = cliCopyForOtherUsers();
  const child = spawn(
    'setpriv',
    ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, join(cli, 'engine', 'bin', 'wirelane'), '--socket', served.socket, 'list'],
    // cwd: the checkout's folder may not be enterable by nobody either.
    { stdio: ['ignore', 'pipe', 'pipe'], timeout: 15_000, cwd: cli },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const status = await new Promise<number | null>((resolve) => {
    child.on('close', (code) => resolve(code));
    child.on('error', (error) => {
      stderr += String(error);
      resolve(null);
    });
  });
  assert.equal(stderr, REFUSAL_LINE);
  assert.equal(stdout, '');
  assert.equal(status, 1);
});
