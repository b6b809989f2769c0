/**
 * Notices that the machine's network changed (Wi-Fi to Ethernet, a new address, a new default
 * route) so connected tunnels re-handshake at once instead of waiting up to two minutes for the
 * protocol's timers.
 *
 * Linux: `ip -o monitor link address route`; macOS: `route -n monitor`. Bursts of changes are
 * debounced into one notification; lines about the tunnels' own interfaces are ignored (bringing
 * a tunnel up would otherwise look like a network change). Windows: not watched yet; wake from
 * sleep is still detected by the tunnel manager's clock check.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from '../logger.js';
import { tiedToParent } from '../os/child-lifetime.js';

export const NETWORK_CHANGE_DEBOUNCE_MS = 2000;

export interface NetworkWatchOptions {
  logger: Logger;
  /** Names of the tunnels' own interfaces right now (their changes are ours, not the network's). */
  ownInterfaces(): string[];
  onChange(): void;
  platform?: NodeJS.Platform;
}

/** The command that prints a line per network change, or null where none is used. */
export function monitorCommand(platform: NodeJS.Platform): { file: string; args: string[] } | null {
  if (platform === 'linux') return { file: 'ip', args: ['-o', 'monitor', 'link', 'address', 'route'] };
  if (platform === 'darwin') return { file: '/sbin/route', args: ['-n', 'monitor'] };
  return null;
}

/** Whether a monitor line is about one of our own interfaces. */
export function concernsOwnInterface(line: string, own: string[]): boolean {
  return own.some((name) => new RegExp(`(^|[\\s:])${name.replace(/[.+=]/g, '\\$&')}([\\s:@]|$)`).test(line));
}

export class NetworkWatch {
  private child: ChildProcess | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly options: NetworkWatchOptions) {}

  start(): void {
    const command = monitorCommand(this.options.platform ?? process.platform);
    if (!command || this.child) return;
    // Tied to the helper's life: a killed helper must not leave a monitor running as root.
    const started = tiedToParent(command.file, command.args);
    const child = spawn(started.file, started.args, { stdio: ['ignore', 'pipe', 'ignore'] });
    this.child = child;
    let pending = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      if (pending.length > 65536) pending = '';
      for (const line of lines) this.line(line);
    });
    child.on('error', (err) => this.options.logger.warn(`network changes are not watched: ${err.message}`));
    child.on('exit', () => {
      this.child = null;
      if (!this.stopped) this.options.logger.warn('the network monitor stopped; network changes are no longer watched');
    });
  }

  /** Feeds one monitor line (public for tests). */
  line(line: string): void {
    if (!line.trim() || concernsOwnInterface(line, this.options.ownInterfaces())) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.options.onChange();
    }, NETWORK_CHANGE_DEBOUNCE_MS);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.child?.kill();
    this.child = null;
  }
}
