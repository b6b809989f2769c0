/**
 * The one place that starts OS tools: child_process.execFile, a program and an argument vector,
 * never a shell. A value from a configuration file therefore always stays one argument, whatever
 * characters it holds.
 */
import { execFile } from 'node:child_process';
import { dieWithParentPrefix } from './child-lifetime.js';
import type { CommandResult, CommandRunner, RunOptions } from './types.js';

export interface ExecFileRunnerOptions {
  /**
   * Put in front of every command, e.g. ['ip', 'netns', 'exec', 'wltest'] to run everything inside
   * a network namespace. The first entry is the program started.
   */
  readonly prefix?: readonly string[];
  /** Per-command time limit unless the call gives its own; default 20 s. */
  readonly timeoutMs?: number;
  /** Extra environment (LC_ALL=C is always set, so tool output parses the same everywhere). */
  readonly env?: Readonly<Record<string, string>>;
}

const MAX_OUTPUT_BYTES = 4 * 1024 * 1024;

/** A CommandRunner over execFile. It resolves for every exit status; only the status tells failure. */
export function execFileRunner(options: ExecFileRunnerOptions = {}): CommandRunner {
  // Every command dies with the helper if the helper is killed (child-lifetime.ts).
  const prefix = [...dieWithParentPrefix(), ...(options.prefix ?? [])];
  const env = { ...process.env, ...options.env, LC_ALL: 'C' };
  return (file: string, args: readonly string[], runOptions?: RunOptions): Promise<CommandResult> => {
    const argv = [...prefix, file, ...args];
    const program = argv[0] as string;
    return new Promise((resolve) => {
      const child = execFile(
        program,
        argv.slice(1),
        {
          encoding: 'utf8',
          env,
          shell: false,
          windowsHide: true,
          maxBuffer: MAX_OUTPUT_BYTES,
          timeout: runOptions?.timeoutMs ?? options.timeoutMs ?? 20_000,
        },
        (error, stdout, stderr) => {
          if (!error) {
            resolve({ stdout, stderr, code: 0 });
            return;
          }
          const failure = error as NodeJS.ErrnoException & { code?: number | string; killed?: boolean };
          if (failure.code === 'ENOENT') {
            resolve({ stdout: '', stderr: `${program}: command not found`, code: 127 });
          } else if (typeof failure.code === 'number') {
            resolve({ stdout, stderr, code: failure.code });
          } else {
            resolve({ stdout, stderr: stderr || failure.message, code: -1 });
          }
        },
      );
      child.stdin?.on('error', () => {
        // The program may exit without reading its input; its exit status tells what happened.
      });
      child.stdin?.end(runOptions?.input ?? '');
    });
  };
}

/** "ip -4 route add ..." for logs and error messages (quoted so a reader sees argument borders). */
export function describeCommand(file: string, args: readonly string[]): string {
  const quote = (word: string): string => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : JSON.stringify(word));
  return [file, ...args].map(quote).join(' ');
}
