/**
 * A helper with a fake engine (no TUN, no OS changes) as a process of its own, so a test can
 * look at it from outside, as an attacker's victim: its memory (/proc/PID/status), its children,
 * kill -9. Started as `node dist/test/support/helper-process.js '<HelperProcessOptions as JSON>'`;
 * prints `ready` on stdout once its socket is listening, logs to stderr.
 */
import { silentLogger, type Logger } from '../../engine/logger.js';
import { nobleBackend } from '../../engine/crypto/index.js';
import { startHelper } from '../../engine/helper/helper.js';
import type { ConnectionLimits } from '../../engine/helper/server.js';
import { noOs, fakeLauncher } from './helper-fakes.js';

export interface HelperProcessOptions {
  socket: string;
  store: string;
  groupFile: string;
  /** Start `ip -o monitor` as the real helper does (default false). */
  watchNetwork?: boolean;
  limits?: Partial<ConnectionLimits>;
  /** Log to stderr (default: silent). */
  verbose?: boolean;
}

const stderrLogger: Logger = {
  debug: () => {},
  info: (message) => process.stderr.write(`info ${message}\n`),
  warn: (message) => process.stderr.write(`warn ${message}\n`),
  error: (message) => process.stderr.write(`error ${message}\n`),
};

const options = JSON.parse(process.argv[2] ?? '{}') as HelperProcessOptions;
const helper = await startHelper({
  socketPath: options.socket,
  storeDir: options.store,
  logger: options.verbose ? stderrLogger : silentLogger,
  crypto: nobleBackend,
  os: noOs,
  openTun: () => {
    throw new Error('not used');
  },
  createBind: () => {
    throw new Error('not used');
  },
  launcher: fakeLauncher,
  watchNetwork: options.watchNetwork ?? false,
  groupFile: options.groupFile,
  ...(options.limits ? { connectionLimits: options.limits } : {}),
});
process.on('SIGTERM', () => {
  void helper.stop().then(() => process.exit(0));
});
process.stdout.write('ready\n');
