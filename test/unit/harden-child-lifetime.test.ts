/**
 * Nothing the helper starts outlives it (issue 10, item 6): a helper killed with SIGKILL runs no
 * exit handler, yet `ip -o monitor`, a command of the OS layer and a hook script it started must
 * not go on running as root. Each test starts the real code in a process of its own, finds the
 * child it started in /proc, kills the process with SIGKILL and waits for the child to be gone.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { dieWithParentPrefix, tiedToParent } from '../../engine/os/child-lifetime.js';
import { repoPath } from '../support/paths.js';

const linuxOnly = process.platform !== 'linux' && 'PR_SET_PDEATHSIG is Linux';
const cleanup: Array<() => unknown> = [];
after(() => {
  for (const step of cleanup.reverse()) step();
});

/** pid -> parent pid of every process, from /proc/PID/stat (the field after the command's ")"). */
function parentsOfAll(): Map<number, number> {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z') continue; // a zombie is dead already, waiting to be reaped
      parents.set(Number(entry), Number(fields[1]));
    } catch {
      // Gone meanwhile.
    }
  }
  return parents;
}

/** Every live descendant of `pid`, with its command line. */
function descendantsOf(pid: number): Array<{ pid: number; command: string }> {
  const parents = parentsOfAll();
  const found: Array<{ pid: number; command: string }> = [];
  const wanted = new Set([pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [child, parent] of parents) {
      if (wanted.has(parent) && !wanted.has(child)) {
        wanted.add(child);
        grew = true;
        let command = '';
        try {
          command = readFileSync(`/proc/${child}/cmdline`, 'utf8').split('\0').join(' ').trim();
        } catch {
          // Gone meanwhile.
        }
        found.push({ pid: child, command });
      }
    }
  }
  return found;
}

function alive(pid: number): boolean {
  return parentsOfAll().has(pid);
}

async function until<T>(what: string, ms: number, probe: () => T | undefined): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Kills `parent` with SIGKILL and asserts that every process it had started is gone shortly
 * after (the kernel's SIGKILL is immediate; the wait is only for /proc to show it).
 */
async function killAndExpectNoChildLeft(parent: ChildProcess, children: Array<{ pid: number; command: string }>): Promise<void> {
  assert.ok(children.length > 0, 'the test saw the child it is about');
  const exited = new Promise((resolve) => parent.once('exit', resolve));
  parent.kill('SIGKILL');
  await exited;
  const survivors = () => children.filter((child) => alive(child.pid));
  try {
    await until('every child gone', 5_000, () => (survivors().length === 0 ? true : undefined));
  } catch {
    const left = survivors();
    for (const child of left) process.kill(child.pid, 'SIGKILL');
    assert.fail(`still running after the parent's kill -9: ${left.map((c) => `${c.pid} ${c.command}`).join('; ')}`);
  }
}

function startNode(args: string[]): ChildProcess {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  cleanup.push(() => child.kill('SIGKILL'));
  return child;
}

function printed(child: ChildProcess, pattern: RegExp, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`no ${pattern} within ${ms} ms: ${seen}`)), ms);
    child.stdout!.on('data', (chunk: Buffer) => {
      seen += chunk.toString('utf8');
      if (pattern.test(seen)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited (${code}) before ${pattern}: ${seen}`));
    });
  });
}

const moduleUrl = (...parts: string[]) => pathToFileURL(repoPath('dist', ...parts)).href;

test('the wrapper: setpriv --pdeathsig KILL in front of the program, which keeps its own arguments', { skip: linuxOnly }, () => {
  const prefix = dieWithParentPrefix();
  assert.equal(prefix.length, 4, 'setpriv with --pdeathsig is installed (util-linux, as on Debian)');
  assert.match(prefix[0]!, /\/setpriv$/);
  assert.deepEqual(prefix.slice(1), ['--pdeathsig', 'KILL', '--']);
  assert.deepEqual(tiedToParent('ip', ['-o', 'monitor', '--x']), { file: prefix[0], args: ['--pdeathsig', 'KILL', '--', 'ip', '-o', 'monitor', '--x'] });
  assert.deepEqual(tiedToParent('/sbin/route', ['-n', 'monitor'], 'darwin'), { file: '/sbin/route', args: ['-n', 'monitor'] });
});

test('attack: kill -9 the helper while it watches the network: no `ip -o monitor` is left running', { skip: linuxOnly || (process.getuid?.() !== 0 && 'the helper runs as root') }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'wirelane-lifetime-'));
  chmodSync(root, 0o755);
  cleanup.push(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'run'), { mode: 0o755 });
  writeFileSync(join(root, 'group'), 'root:x:0:\n');
  const options = { socket: join(root, 'run', 'helper.sock'), store: join(root, 'store'), groupFile: join(root, 'group'), watchNetwork: true };
  const helper = startNode([repoPath('dist', 'test', 'support', 'helper-process.js'), JSON.stringify(options)]);
  await printed(helper, /^ready$/m, 20_000);
  const monitor = await until('the helper started its network monitor', 10_000, () => {
    const found = descendantsOf(helper.pid!).filter((child) => / -o monitor link address route$/.test(child.command));
    return found.length > 0 ? found : undefined;
  });
  // The monitor is the program itself (setpriv exec'd it in place), so the pid the helper holds is ip's.
  assert.match(monitor[0]!.command, /^ip -o monitor/);
  await killAndExpectNoChildLeft(helper, descendantsOf(helper.pid!));
  assert.ok(!existsSync(`/proc/${monitor[0]!.pid}/cmdline`) || !alive(monitor[0]!.pid));
});

test('attack: kill -9 the helper while the OS layer runs a command: the command goes with it', { skip: linuxOnly }, async () => {
  const script = [
    `import { execFileRunner } from ${JSON.stringify(moduleUrl('engine', 'os', 'runner.js'))};`,
    `void execFileRunner({ timeoutMs: 600000 })('sleep', ['600']);`,
    `setTimeout(() => console.log('started'), 100);`,
  ].join('\n');
  const parent = startNode(['--input-type=module', '-e', script]);
  await printed(parent, /started/, 10_000);
  const children = await until('the runner started sleep', 10_000, () => {
    const found = descendantsOf(parent.pid!);
    return found.some((child) => child.command === 'sleep 600') ? found : undefined;
  });
  await killAndExpectNoChildLeft(parent, children);
});

test('a hook still reports its exit status and output through the keeper', { skip: process.platform === 'win32' && 'cmd.exe' }, async () => {
  const { runScript } = await import('../../engine/helper/engine-launcher.js');
  const lines: string[] = [];
  const logger = { debug() {}, info: (m: string) => void lines.push(m), warn() {}, error() {} };
  await runScript('PostUp', 'echo "up on %i"; true', 'hd-test0', logger);
  assert.ok(lines.includes('PostUp: up on hd-test0'), lines.join(' | '));
  await assert.rejects(runScript('PreDown', 'echo no >&2; exit 3', 'hd-test0', logger), /PreDown command failed \(exit status 3\): echo no >&2; exit 3/);
  assert.ok(lines.includes('PreDown: no'));
});

test('attack: kill -9 the helper while a hook script runs: the script and the jobs it started go with it', { skip: linuxOnly }, async () => {
  const script = [
    `import { runScript } from ${JSON.stringify(moduleUrl('engine', 'helper', 'engine-launcher.js'))};`,
    `import { silentLogger } from ${JSON.stringify(moduleUrl('engine', 'logger.js'))};`,
    `void runScript('PostUp', 'sleep 601 & sleep 600', 'hd-test0', silentLogger).catch(() => {});`,
    `setTimeout(() => console.log('started'), 100);`,
  ].join('\n');
  const parent = startNode(['--input-type=module', '-e', script]);
  await printed(parent, /started/, 10_000);
  const children = await until('the hook started', 10_000, () => {
    const found = descendantsOf(parent.pid!);
    return found.some((child) => child.command === 'sleep 600') && found.some((child) => child.command === 'sleep 601') ? found : undefined;
  });
  await killAndExpectNoChildLeft(parent, children);
});

test('a hook still reports its exit status and output through the keeper', { skip: process.platform === 'win32' && 'cmd.exe' }, async () => {
  const { runScript } = await import('../../engine/helper/engine-launcher.js');
  const lines: string[] = [];
  const logger = { debug() {}, info: (m: string) => void lines.push(m), warn() {}, error() {} };
  await runScript('PostUp', 'echo "up on %i"; true', 'hd-test0', logger);
  assert.ok(lines.includes('PostUp: up on hd-test0'), lines.join(' | '));
  await assert.rejects(runScript('PreDown', 'echo no >&2; exit 3', 'hd-test0', logger), /PreDown command failed \(exit status 3\): echo no >&2; exit 3/);
  assert.ok(lines.includes('PreDown: no'));
});
