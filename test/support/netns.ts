/**
 * Network namespaces and veth pairs for tests that need real interfaces, with cleanup that runs
 * even when the test failed halfway.
 *
 * A NetnsLab owns everything it creates: namespaces (named with the lab's prefix, so test files
 * running at once never collide), veth pairs inside them, and background processes. `cleanup()`
 * kills the processes and deletes the namespaces (which deletes their interfaces); call it from
 * `after()`. Every wait is bounded: `waitFor` polls with a deadline and fails saying what it
 * was waiting for.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Why namespace tests cannot run here, or null when they can. */
export function netnsUnavailableReason(requiredCommands: string[] = []): string | null {
  if (process.platform !== 'linux') return 'network namespaces exist on Linux only';
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'needs root (network namespaces and TUN devices)';
  for (const command of ['ip', ...requiredCommands]) {
    if (!commandExists(command)) return `the command "${command}" is not installed`;
  }
  return null;
}

export function commandExists(command: string): boolean {
  if (command.includes('/')) return existsSync(command);
  return spawnSync('sh', ['-c', `command -v "${command}"`], { stdio: 'ignore' }).status === 0;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  /** Milliseconds; the command is killed past it (default 30 s). */
  timeoutMs?: number;
  input?: string;
}

/** Runs a command to completion; returns stdout; throws with stderr when it fails. */
export function run(command: string, args: string[], options: RunOptions = {}): string {
  const result = spawnSync(command, args, {
    env: options.env ?? process.env,
    timeout: options.timeoutMs ?? 30_000,
    input: options.input,
    encoding: 'utf8',
    killSignal: 'SIGKILL',
  });
  if (result.error) throw new Error(`${command} ${args.join(' ')}: ${result.error.message}`);
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited with ${result.status ?? result.signal}: ${result.stderr.trim()}`);
  }
  return result.stdout;
}

/** Like run, but returns the exit status and output instead of throwing on failure. */
export function tryRun(command: string, args: string[], options: RunOptions = {}): { status: number; stdout: string; stderr: string } {
  const result = spawnSync(command, args, {
    env: options.env ?? process.env,
    timeout: options.timeoutMs ?? 30_000,
    input: options.input,
    encoding: 'utf8',
    killSignal: 'SIGKILL',
  });
  return { status: result.status ?? -1, stdout: result.stdout ?? '', stderr: result.stderr ?? String(result.error ?? '') };
}

/** Polls `check` every `intervalMs` until it returns true, failing after `timeoutMs`. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000, intervalMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await check()) return;
      lastError = null;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export interface VethOptions {
  /** Interface names (at most 15 characters). */
  nameA: string;
  nameB: string;
  /** Addresses with prefix length, e.g. ["192.0.2.1/24", "fd00:2::1/64"]. */
  addressesA?: string[];
  addressesB?: string[];
}

export class NetnsLab {
  private readonly prefix: string;
  private readonly namespaces: string[] = [];
  private readonly processes: ChildProcess[] = [];
  private readonly cleanups: Array<() => void> = [];

  /** `prefix` names this lab's namespaces: keep it unique per test file and short. */
  constructor(prefix: string) {
    this.prefix = `${prefix}${process.pid % 10000}`;
  }

  /** Creates a namespace with loopback up; returns its full name. */
  addNamespace(name: string): string {
    const full = `${this.prefix}-${name}`;
    if (tryRun('ip', ['netns', 'list']).stdout.split('\n').some((line) => line.split(' ')[0] === full)) {
      run('ip', ['netns', 'del', full]);
    }
    run('ip', ['netns', 'add', full]);
    this.namespaces.push(full);
    this.exec(full, 'ip', ['link', 'set', 'lo', 'up']);
    // Tentative IPv6 addresses would make the first seconds of a test flaky.
    this.exec(full, 'sysctl', ['-q', '-w', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0']);
    return full;
  }

  /** Runs a command inside namespace `ns` and returns its stdout. */
  exec(ns: string, command: string, args: string[], options: RunOptions = {}): string {
    return run('ip', ['netns', 'exec', ns, command, ...args], options);
  }

  tryExec(ns: string, command: string, args: string[], options: RunOptions = {}): { status: number; stdout: string; stderr: string } {
    return tryRun('ip', ['netns', 'exec', ns, command, ...args], options);
  }

  /** Joins two namespaces with a veth pair, sets the addresses and brings both ends up. */
  connect(nsA: string, nsB: string, options: VethOptions): void {
    run('ip', ['link', 'add', options.nameA, 'netns', nsA, 'type', 'veth', 'peer', 'name', options.nameB, 'netns', nsB]);
    for (const [ns, name, addresses] of [
      [nsA, options.nameA, options.addressesA ?? []],
      [nsB, options.nameB, options.addressesB ?? []],
    ] as const) {
      for (const address of addresses) this.exec(ns, 'ip', ['addr', 'add', address, 'dev', name, ...(address.includes(':') ? ['nodad'] : [])]);
      this.exec(ns, 'ip', ['link', 'set', name, 'up']);
    }
  }

  /** Starts a background process inside `ns`; it is killed at cleanup. */
  spawn(ns: string, command: string, args: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns, command, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    child.stdout?.resume();
    child.stderr?.resume();
    this.processes.push(child);
    return child;
  }

  /** Registers extra cleanup (run before the namespaces are deleted, errors ignored). */
  onCleanup(action: () => void): void {
    this.cleanups.push(action);
  }

  /** Kills this lab's processes and deletes its namespaces; safe to call more than once. */
  cleanup(): void {
    for (const action of this.cleanups.splice(0).reverse()) {
      try {
        action();
      } catch {
        // best effort: the namespaces still go below
      }
    }
    for (const child of this.processes.splice(0)) {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL'); // its whole process group
        } catch {
          try {
            child.kill('SIGKILL');
          } catch {
            // already gone
          }
        }
      }
    }
    for (const ns of this.namespaces.splice(0)) {
      // Processes a namespace still holds (daemons started by wg-quick) die with it here.
      const pids = tryRun('ip', ['netns', 'pids', ns]).stdout.split(/\s+/).filter(Boolean);
      for (const pid of pids) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // already gone
        }
      }
      tryRun('ip', ['netns', 'del', ns]);
    }
  }
}
