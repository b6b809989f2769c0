/**
 * The desktop app's logger: its main process writes to the terminal (or the system log that
 * captures its stdout and stderr). Debug lines only with WIRELANE_DEBUG set.
 */
/* eslint-disable no-console -- this module is the one place main/ writes log lines to the console */
import type { Logger } from '../engine/logger.js';

export const consoleLogger: Logger = {
  debug: (m) => void (process.env['WIRELANE_DEBUG'] ? console.debug(m) : undefined),
  info: (m) => console.info(m),
  warn: (m) => console.warn(m),
  error: (m) => console.error(m),
};
