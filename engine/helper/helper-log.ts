/**
 * The helper's whole log as a bounded ring, for the window's "helper log" (copy, save): the
 * helper's own lines (name null) and every tunnel's lines (the tunnel manager's rings feed it
 * through onLog). Tunnel engine lines reach the helper's logger too, prefixed "NAME: "; those are
 * the same line twice, so the one that comes right after its tunnel entry is not kept again.
 */
import type { Logger } from '../logger.js';
import { LOG_RING_LINES, type HelperLogEntry, type LogEntry, type LogLevel } from './protocol.js';

function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f]+/g, ' ').slice(0, 2000);
}

export class HelperLog {
  private readonly entries: HelperLogEntry[] = [];

  constructor(
    private readonly clock: () => number = () => Date.now(),
    private readonly capacity = LOG_RING_LINES,
  ) {}

  /** A line of one tunnel's log. */
  addTunnelLine(name: string, entry: LogEntry): void {
    this.push({ ...entry, name });
  }

  /** The most recent lines, oldest first. */
  recent(limit = this.capacity): HelperLogEntry[] {
    return this.entries.slice(Math.max(0, this.entries.length - limit));
  }

  /**
   * A logger that writes to `logger` and keeps each line here as the helper's own;
   * `onLine` hears every line kept (to send it to subscribers).
   */
  tee(logger: Logger, onLine?: (entry: LogEntry) => void): Logger {
    const write = (level: LogLevel, message: string) => {
      logger[level](message);
      const text = oneLine(message);
      const last = this.entries[this.entries.length - 1];
      if (last && last.name !== null && last.level === level && text === `${last.name}: ${last.message}`) return;
      const entry: LogEntry = { time: this.clock(), level, message: text };
      this.push({ ...entry, name: null });
      onLine?.(entry);
    };
    return {
      debug: (m) => write('debug', m),
      info: (m) => write('info', m),
      warn: (m) => write('warn', m),
      error: (m) => write('error', m),
    };
  }

  private push(entry: HelperLogEntry): void {
    this.entries.push(entry);
    if (this.entries.length > this.capacity) this.entries.splice(0, this.entries.length - this.capacity);
  }
}
