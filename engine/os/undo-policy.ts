/**
 * What an undo step read back from a journal may do. A journal is data on disk: even inside the
 * root-only store (engine/helper/path-ownership.ts checks it), the helper runs its steps as root
 * at the next start, so it runs only the kinds of command the OS layer itself writes there, and
 * restores only the files it edits. Anything else is refused and the journal set aside.
 *
 * To let a new kind of step be undone (a firewall tool, a DNS tool), add its program here with a
 * check of its arguments; keep each check as narrow as what the OS layer produces.
 */
import { DNS_LAYER_NAME } from './dns-stack.js';
import type { UndoAction } from './types.js';

type ArgumentCheck = (args: readonly string[]) => boolean;

/** ip(8) objects the OS layer changes; never `netns exec`, `-batch` files or `-force`. */
const IP_OBJECTS = new Set(['link', 'address', 'addr', 'route', 'rule']);
const ipArgs: ArgumentCheck = (args) => {
  let i = 0;
  while (i < args.length && (args[i] === '-4' || args[i] === '-6')) i++;
  return IP_OBJECTS.has(args[i] ?? '') && !args.some((arg) => arg === 'netns' || arg === 'exec' || /^-(b|batch|force)$/.test(arg));
};

/** Programs an undo may run, each with the arguments it may get (file names without a path: the
 *  runner looks them up in its fixed PATH). */
export const UNDO_COMMANDS: Record<string, ArgumentCheck> = {
  ip: ipArgs,
  // Only net.* keys, set with -w; never -p (load a file).
  sysctl: (args) => args.every((arg) => /^-[qw]+$/.test(arg) || /^net\.[A-Za-z0-9_./-]+=[A-Za-z0-9_.:-]*$/.test(arg)),
  resolvectl: (args) => ['revert', 'dns', 'domain', 'default-route'].includes(args[0] ?? ''),
  resolvconf: (args) => args[0] === '-d' && /^tun\.[a-zA-Z0-9_=+.-]{1,15}$/.test(args[1] ?? ''),
  // nftables: ruleset changes only, never a file read (-f) other than standard input.
  nft: (args) => !args.some((arg, i) => (arg === '-f' || arg === '--file') && args[i + 1] !== '-'),
  // macOS
  ifconfig: (args) => /^utun[0-9]{1,3}$/.test(args[0] ?? ''),
  route: (args) => args.includes('delete') || args.includes('add'),
  networksetup: (args) => ['-setdnsservers', '-setsearchdomains'].includes(args[0] ?? ''),
  pfctl: (args) => !args.some((arg, i) => arg === '-f' && args[i + 1] !== '-'),
  // Windows
  netsh: (args) => args[0] === 'interface' || args[0] === 'advfirewall',
  reg: (args) =>
    (args[0] === 'add' || args[0] === 'delete') &&
    /^HKLM\\SYSTEM\\CurrentControlSet\\Services\\Tcpip6?\\Parameters\\Interfaces\\\{[0-9A-Fa-f-]{36}\}$/i.test(args[1] ?? ''),
};

/** Why the helper will not carry out this undo action, or null when it may. `restorableFiles`:
 *  the files the OS layer edits in place (the resolv.conf it was configured with). */
export function undoRefusal(action: UndoAction, restorableFiles: readonly string[]): string | null {
  if (action.kind === 'restore-file') {
    return restorableFiles.includes(action.path) ? null : `restoring ${action.path}, a file the helper does not edit`;
  }
  if (action.kind === 'dns-stack-remove') {
    if (!restorableFiles.includes(action.path)) return `changing ${action.path}, a file the helper does not edit`;
    return DNS_LAYER_NAME.test(action.layer) ? null : `a DNS layer name the helper never writes: ${JSON.stringify(action.layer).slice(0, 100)}`;
  }
  const { file, args } = action.command;
  const check = Object.hasOwn(UNDO_COMMANDS, file) ? UNDO_COMMANDS[file] : undefined;
  if (!check) return `running '${file}', not a command the helper's OS layer uses`;
  if (!check(args)) return `running '${file}' with arguments the helper's OS layer never writes: ${JSON.stringify(args).slice(0, 200)}`;
  return null;
}
