/**
 * Children that do not outlive the helper. A helper killed with SIGKILL (or crashing) runs no
 * exit handler, so whatever it started would go on running as root: `ip -o monitor` for ever,
 * a hook script, a command of the OS layer. On Linux every child is therefore started through
 * `setpriv --pdeathsig KILL --` (util-linux): setpriv asks the kernel (prctl PR_SET_PDEATHSIG)
 * to send the child SIGKILL when its parent dies, then execs the program in the same process,
 * so the program keeps that setting and the pid the helper knows.
 *
 * Node cannot run code in a child between fork and exec, and libuv forks from the loop's thread
 * (the signal follows the death of the thread that forked, which lives as long as the helper),
 * so a wrapper is the way. Limits, in docs/security.md: a child's own children (a script's
 * background jobs) are not covered; a helper dying in the instant between fork and the prctl
 * leaves that one child; without setpriv (older util-linux, other systems) children start
 * unwrapped and the helper says so once. macOS and Windows have no such wrapper here.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const SETPRIV_CANDIDATES = ['/usr/bin/setpriv', '/bin/setpriv'];

let wrapper: readonly string[] | null | undefined;

/**
 * The argv put before every command the helper starts so that it dies with the helper, or []
 * where there is none. Found once (a probe run of setpriv), then reused.
 */
export function dieWithParentPrefix(platform: NodeJS.Platform = process.platform): readonly string[] {
  if (platform !== 'linux') return [];
  wrapper ??= findWrapper();
  return wrapper ?? [];
}

/**
 * `file args` as started so that it gets `signal` when the helper dies (see dieWithParentPrefix).
 * KILL unless the program has something to do first (the hook keeper kills its group on TERM).
 */
export function tiedToParent(file: string, args: readonly string[], platform: NodeJS.Platform = process.platform, signal: 'KILL' | 'TERM' = 'KILL'): { file: string; args: string[] } {
  const prefix = dieWithParentPrefix(platform);
  if (prefix.length === 0) return { file, args: [...args] };
  return { file: prefix[0]!, args: ['--pdeathsig', signal, '--', file, ...args] };
}

/** Why children may outlive the helper here, or null when they cannot. */
export function childLifetimeWarning(platform: NodeJS.Platform = process.platform): string | null {
  if (platform !== 'linux') return null;
  if (dieWithParentPrefix(platform).length > 0) return null;
  return 'setpriv (util-linux 2.33 or later) was not found: programs the helper starts are not tied to its life and would keep running if it were killed';
}

function findWrapper(): readonly string[] | null {
  for (const path of SETPRIV_CANDIDATES) {
    if (!existsSync(path)) continue;
    // An older setpriv has no --pdeathsig: ask it to run `true` with it and see.
    const probe = spawnSync(path, ['--pdeathsig', 'KILL', '--', 'true'], { stdio: 'ignore', timeout: 5_000 });
    if (probe.status === 0) return [path, '--pdeathsig', 'KILL', '--'];
  }
  return null;
}
