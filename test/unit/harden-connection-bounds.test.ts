/**
 * The control server's bounds (issue 10, item 5): a member of the group must not be able to
 * exhaust the helper, which shares its process with the engine. First the rules one by one, on
 * a server in this process with fake peer credentials; then the attack itself, against a helper
 * process of its own: 1,000 half-sent messages from a member while a legitimate client asks.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HelperClient } from '../../engine/helper/client.js';
import { ControlServer, DEFAULT_CONNECTION_LIMITS, type ConnectionLimits } from '../../engine/helper/server.js';
import { silentLogger, type Logger } from '../../engine/logger.js';
import type { PeerCredentials } from '../../engine/native/addon.js';
import { repoPath } from '../support/paths.js';

const WIRELANE_GID = 4242;
const cleanup: Array<() => unknown> = [];
after(async () => {
  for (const step of cleanup.reverse()) await step();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'wirelane-bounds-'));
  chmodSync(dir, 0o755);
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A logger that keeps its lines and can wait for one. */
function capturingLogger(): Logger & { waitFor(pattern: RegExp, ms: number): Promise<string> } {
  const lines: string[] = [];
  const wakers: Array<() => void> = [];
  const push = (level: string) => (message: string) => {
    lines.push(`${level} ${message}`);
    for (const wake of wakers.splice(0)) wake();
  };
  return {
    debug: push('debug'),
    info: push('info'),
    warn: push('warn'),
    error: push('error'),
    async waitFor(pattern, ms) {
      const deadline = Date.now() + ms;
      for (;;) {
        const line = lines.find((l) => pattern.test(l));
        if (line !== undefined) return line;
        if (Date.now() > deadline) throw new Error(`no log line ${pattern} within ${ms} ms: ${lines.join(' | ')}`);
        await new Promise<void>((wake) => {
          wakers.push(wake);
          setTimeout(wake, 100).unref();
        });
      }
    },
  };
}

interface Served {
  socket: string;
  /** The uid the next accepted connection is said to have. */
  as(uid: number): void;
}

/** A control server whose every connection is a member of the group, with the uid set by `as`. */
async function serve(limits: Partial<ConnectionLimits>, handle?: ConstructorParameters<typeof ControlServer>[0]['handle'], logger: Logger = silentLogger): Promise<Served> {
  const dir = tempDir();
  const groupFile = join(dir, 'group');
  writeFileSync(groupFile, `root:x:0:\nwirelane:x:${WIRELANE_GID}:\n`);
  let uid = 1000;
  const server = new ControlServer({
    socketPath: join(dir, 'run', 'helper.sock'),
    logger,
    groupFile,
    passwdFile: join(dir, 'no-passwd'),
    peerCredentials: (): PeerCredentials => ({ uid, gid: uid === 0 ? 0 : WIRELANE_GID, pid: 1 }),
    limits,
    handle: handle ?? (async (request) => (request.type === 'version' ? { helperVersion: 'test', protocolVersion: 1, platform: 'linux' } : {})),
  });
  await server.listen();
  cleanup.push(() => server.close());
  return { socket: join(dir, 'run', 'helper.sock'), as: (next) => void (uid = next) };
}

/** A raw connection that collects the lines it is sent and notes when it closes. */
interface RawClient {
  socket: Socket;
  lines: Array<{ id: number | null; ok: boolean; error?: { code: string; message: string } }>;
  closed: Promise<void>;
  /** Resolves with the next line (waits at most 5 s). */
  nextLine(): Promise<RawClient['lines'][number]>;
}

function rawClient(path: string): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    const lines: RawClient['lines'] = [];
    let pending = '';
    const waiters: Array<() => void> = [];
    let read = 0;
    const closed = new Promise<void>((done) => socket.on('close', () => done()));
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      let nl;
      while ((nl = pending.indexOf('\n')) !== -1) {
        lines.push(JSON.parse(pending.slice(0, nl)) as RawClient['lines'][number]);
        pending = pending.slice(nl + 1);
      }
      for (const wake of waiters.splice(0)) wake();
    });
    socket.on('close', () => {
      for (const wake of waiters.splice(0)) wake();
    });
    socket.once('error', reject);
    const client: RawClient = {
      socket,
      lines,
      closed,
      async nextLine() {
        const deadline = Date.now() + 5_000;
        while (lines.length <= read) {
          if (socket.destroyed && lines.length <= read) throw new Error('closed without a line');
          if (Date.now() > deadline) throw new Error('no line within 5 s');
          await new Promise<void>((wake) => {
            waiters.push(wake);
            setTimeout(wake, 100).unref();
          });
        }
        return lines[read++]!;
      },
    };
    socket.once('connect', () => {
      socket.off('error', reject);
      socket.on('error', () => {});
      resolve(client);
    });
  });
}

async function version(client: RawClient, id = 1): Promise<RawClient['lines'][number]> {
  client.socket.write(JSON.stringify({ id, type: 'version' }) + '\n');
  return client.nextLine();
}

/** Waits (at most `ms`) for the connection to close; fails otherwise. */
async function closesWithin(client: RawClient, ms: number, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    client.closed,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: still open after ${ms} ms`)), ms);
    }),
  ]);
  clearTimeout(timer);
}

test('per user: the connection past the cap gets busy and is closed; another user is still served; a freed slot serves again', async () => {
  const served = await serve({ perUser: 3, total: 10 });
  served.as(1000);
  const held: RawClient[] = [];
  for (let i = 0; i < 3; i++) {
    const client = await rawClient(served.socket);
    assert.equal((await version(client)).ok, true);
    held.push(client);
  }
  const extra = await rawClient(served.socket);
  const refusal = await extra.nextLine();
  assert.deepEqual([refusal.id, refusal.ok, refusal.error?.code], [null, false, 'busy']);
  assert.match(refusal.error!.message, /at most 3 connections per user/);
  await closesWithin(extra, 3_000, 'the busy connection');

  served.as(1001);
  const other = await rawClient(served.socket);
  assert.equal((await version(other)).ok, true, 'another member is not affected');

  held[0]!.socket.destroy();
  await held[0]!.closed;
  served.as(1000);
  // The server sees the close on its own turn of the event loop: ask until the slot is free.
  let again: RawClient['lines'][number] | undefined;
  for (let attempt = 0; attempt < 20 && again?.ok !== true; attempt++) {
    const client = await rawClient(served.socket);
    again = client.socket.destroyed ? undefined : await version(client).catch(() => undefined);
    if (again?.ok !== true) client.socket.destroy();
  }
  assert.equal(again?.ok, true, 'a closed connection frees its slot');
  for (const client of [...held, other]) client.socket.destroy();
});

test('in total: past the cap a member gets busy, and root is still served (an administrator can always reach the helper)', async () => {
  const served = await serve({ perUser: 2, total: 4 });
  const held: RawClient[] = [];
  for (const uid of [1000, 1000, 1001, 1001]) {
    served.as(uid);
    const client = await rawClient(served.socket);
    assert.equal((await version(client)).ok, true);
    held.push(client);
  }
  served.as(1002);
  const member = await rawClient(served.socket);
  const refusal = await member.nextLine();
  assert.equal(refusal.error?.code, 'busy');
  assert.match(refusal.error.message, /at most 4 connections at once/);
  served.as(0);
  const root = await rawClient(served.socket);
  assert.equal((await version(root)).ok, true);
  for (const client of [...held, root]) client.socket.destroy();
});

test('a half-sent message ends the connection at its time limit, even trickled a byte at a time; a whole one is answered', async () => {
  const served = await serve({ messageTimeoutMs: 400 });
  const half = await rawClient(served.socket);
  const started = performance.now();
  half.socket.write('{"id":1,"type":"vers');
  const reply = await half.nextLine();
  assert.deepEqual([reply.id, reply.error?.code], [null, 'timeout']);
  await closesWithin(half, 3_000, 'the half-sent connection');
  const tookMs = performance.now() - started;
  assert.ok(tookMs >= 350 && tookMs < 3_000, `closed after ${tookMs.toFixed(0)} ms`);

  // A byte every 100 ms never completes within 400 ms: the limit is per message, not per byte.
  const trickle = await rawClient(served.socket);
  const text = '{"id":2,"type":"version"}';
  let sent = 0;
  const ticker = setInterval(() => {
    if (!trickle.socket.destroyed && sent < text.length) trickle.socket.write(text[sent++]!);
  }, 100);
  try {
    await closesWithin(trickle, 3_000, 'the trickling connection');
  } finally {
    clearInterval(ticker);
  }
  assert.equal(trickle.lines[0]?.error?.code, 'timeout');
  assert.ok(sent < text.length, 'cut before the message could complete');

  // Messages that complete in time, one after another past the limit in all, are all answered.
  const steady = await rawClient(served.socket);
  for (let id = 1; id <= 4; id++) {
    assert.equal((await version(steady, id)).ok, true);
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  steady.socket.destroy();
});

test('replies a client does not read: its queue is bounded and it is cut off at the time limit; nothing more is read from it meanwhile', async () => {
  let handled = 0;
  const reply = 'x'.repeat(64 * 1024);
  const big = 'x'.repeat(256 * 1024);
  const logger = capturingLogger();
  const served = await serve({ replyTimeoutMs: 500, pendingBytes: 8 * 1024 * 1024 }, async () => {
    handled++;
    return { reply };
  }, logger);
  const sluggard = await rawClient(served.socket);
  sluggard.socket.pause();
  const started = performance.now();
  // 200 requests whose replies (13 MB) it does not read: fewer are ever queued than pendingBytes.
  for (let id = 1; id <= 200; id++) sluggard.socket.write(JSON.stringify({ id, type: 'version' }) + '\n');
  const cut = await logger.waitFor(/client \d+ .* has not read its messages for 0.5 s; disconnecting it/, 5_000);
  const tookMs = performance.now() - started;
  assert.ok(tookMs >= 400, `cut off after ${tookMs.toFixed(0)} ms, not before its time limit: ${cut}`);
  assert.ok(handled < 200, `reading paused while replies waited (${handled} of 200 handled)`);
  // When it reads at last, it finds the end of the connection after what had been queued.
  sluggard.socket.resume();
  await closesWithin(sluggard, 5_000, 'the client that did not read');
  assert.ok(sluggard.lines.length < 200, `${sluggard.lines.length} replies reached it`);

  // And by size: a queue past pendingBytes is cut at once, before any time limit.
  const sizeLogger = capturingLogger();
  const small = await serve({ replyTimeoutMs: 60_000, pendingBytes: 512 * 1024 }, async () => ({ big }), sizeLogger);
  const hoarder = await rawClient(small.socket);
  hoarder.socket.pause();
  for (let id = 1; id <= 40; id++) hoarder.socket.write(JSON.stringify({ id, type: 'version' }) + '\n');
  await sizeLogger.waitFor(/is not reading its messages \(\d+ bytes queued\); disconnecting it/, 5_000);
  hoarder.socket.resume();
  await closesWithin(hoarder, 5_000, 'the client whose queue outgrew the bound');
});

// ---------------------------------------------------------------------------------------------
// The attack, against a helper process: its memory is measured from outside.

const NOBODY = 65534;
const canSwitchUser = process.getuid?.() === 0 && spawnSync('setpriv', ['--version']).status === 0;

/** /proc/PID/status fields in MiB: VmRSS now, VmHWM the peak. */
function memoryOf(pid: number): { rssMiB: number; peakMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1] ?? NaN) / 1024;
  return { rssMiB: field('VmRSS'), peakMiB: field('VmHWM') };
}

/** Lines a child prints, as a waitable stream. */
function lineWaiter(child: ChildProcess): (pattern: RegExp, ms: number) => Promise<string> {
  const seen: string[] = [];
  let pending = '';
  const wakers: Array<() => void> = [];
  child.stdout!.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    seen.push(...lines);
    for (const wake of wakers.splice(0)) wake();
  });
  child.on('exit', () => {
    for (const wake of wakers.splice(0)) wake();
  });
  return async (pattern, ms) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const index = seen.findIndex((line) => pattern.test(line));
      if (index !== -1) return seen.splice(0, index + 1).pop()!;
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`exited (${child.exitCode ?? child.signalCode}) before printing ${pattern}`);
      if (Date.now() > deadline) throw new Error(`no ${pattern} within ${ms} ms`);
      await new Promise<void>((wake) => {
        wakers.push(wake);
        setTimeout(wake, 200).unref();
      });
    }
  };
}

/**
 * What the attacker runs, as a member (uid 65534, whose gid is the group's): `held` connections
 * one after another, each sending a message of almost MAX_MESSAGE_BYTES without its newline,
 * then prints HELD; then the rest of `count` the same way, in batches, and prints SENT; then,
 * once the helper has closed every one, a tally of the first reply each got.
 */
const ATTACKER = `
const net = require('node:net');
const [path, count, held, size] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3]), Number(process.argv[4])];
const payload = Buffer.alloc(size, 0x41);
payload.write('{"id":1,"type":"import","name":"x","confText":"');
const tally = {};
const closes = [];
function open() {
  return new Promise((settled) => {
    const s = net.connect(path);
    let got = '';
    let first = null;
    s.on('data', (d) => { got += d; if (first === null && got.includes('\\n')) { try { first = JSON.parse(got.split('\\n')[0]).error.code; } catch { first = 'unreadable'; } settled(); } });
    s.on('error', () => {});
    closes.push(new Promise((done) => s.on('close', () => { const key = first ?? 'closed without a reply'; tally[key] = (tally[key] ?? 0) + 1; settled(); done(); })));
    s.on('connect', () => s.write(payload, () => settled()));
  });
}
(async () => {
  for (let i = 0; i < held; i++) await open();
  console.log('HELD');
  for (let i = held; i < count; i += 50) await Promise.all(Array.from({ length: Math.min(50, count - i) }, open));
  console.log('SENT');
  await Promise.all(closes);
  console.log('TALLY ' + JSON.stringify(tally));
  process.exit(0);
})();
setTimeout(() => { console.log('TALLY ' + JSON.stringify({ stuck: true, ...tally })); process.exit(1); }, 120000);
`;

test('attack: 1,000 half-sent messages from a member: the helper stays under 150 MB, a legitimate client is answered fast, and the held ones time out', { skip: !canSwitchUser && 'needs root and setpriv' }, async () => {
  const root = tempDir();
  const groupFile = join(root, 'group');
  writeFileSync(groupFile, `root:x:0:\nwirelane:x:${NOBODY}:\n`);
  mkdirSync(join(root, 'run'), { mode: 0o755 });
  const socket = join(root, 'run', 'helper.sock');
  const helper = spawn(process.execPath, [repoPath('dist', 'test', 'support', 'helper-process.js'), JSON.stringify({ socket, store: join(root, 'store'), groupFile })], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  cleanup.push(() => helper.kill('SIGKILL'));
  await lineWaiter(helper)(/^ready$/, 20_000);
  const before = memoryOf(helper.pid!);

  const { perUser, messageTimeoutMs } = DEFAULT_CONNECTION_LIMITS;
  const attacker = spawn('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, '-e', ATTACKER, socket, '1000', String(perUser), String(1024 * 1024 - 64)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    cwd: '/',
  });
  cleanup.push(() => attacker.kill('SIGKILL'));
  const attackerSays = lineWaiter(attacker);
  await attackerSays(/^HELD$/, 60_000);

  // A legitimate client (root: the administrator, or the app's own user) asks, again and again,
  // while the rest of the attack goes on; each time a new connection, as `wirelane` makes one.
  const latencies: number[] = [];
  const ask = async () => {
    const started = performance.now();
    const client = await HelperClient.connect(socket);
    try {
      const reply = await client.request('version', {});
      assert.equal(reply.protocolVersion, 1);
    } finally {
      client.close();
    }
    latencies.push(performance.now() - started);
  };
  let sent = false;
  const sentLine = attackerSays(/^SENT$/, 60_000).then(() => void (sent = true));
  while (!sent) {
    await ask();
    await Promise.race([sentLine, new Promise((resolve) => setTimeout(resolve, 100))]);
  }
  await sentLine;
  await ask();
  const during = memoryOf(helper.pid!);
  const worst = Math.max(...latencies);
  console.log(
    `# helper memory: ${before.rssMiB.toFixed(0)} MiB before, ${during.rssMiB.toFixed(0)} MiB now, peak ${during.peakMiB.toFixed(0)} MiB;` +
      ` legitimate client: ${latencies.length} requests during the attack, slowest ${worst.toFixed(0)} ms, last ${latencies.at(-1)!.toFixed(0)} ms`,
  );
  assert.ok(during.peakMiB < 150, `the helper peaked at ${during.peakMiB.toFixed(0)} MiB`);
  // 1 s is the goal; the bound is looser for a loaded shared machine, and still far from the 9.5 s
  // an unbounded helper took.
  assert.ok(worst < 3_000, `a legitimate client waited ${worst.toFixed(0)} ms`);

  // Every held connection is closed by the helper at the message time limit, with `timeout`; the
  // rest were refused at once (busy, or closed without one when too many waited for theirs).
  const tally = JSON.parse((await attackerSays(/^TALLY /, messageTimeoutMs + 30_000)).slice('TALLY '.length)) as Record<string, number>;
  assert.equal(tally['timeout'], perUser, JSON.stringify(tally));
  assert.equal((tally['busy'] ?? 0) + (tally['closed without a reply'] ?? 0), 1000 - perUser, JSON.stringify(tally));
  assert.ok((tally['busy'] ?? 0) > 0, JSON.stringify(tally));
  assert.ok(memoryOf(helper.pid!).peakMiB < 150);
  await ask();
});
