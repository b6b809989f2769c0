/**
 * wirelane-helper [--socket PATH] [--store DIR] [--service] [--linux-dns resolvectl|resolvconf|resolv.conf]
 *
 * The privileged service, in the foreground: what the systemd unit, the launchd daemon and the
 * Windows service start. Logs go to stderr (the service manager's journal). SIGTERM/SIGINT
 * disconnect every tunnel, restore the system and remove the socket.
 *
 * --service (Windows): run as the WirelaneHelper service, speaking the Service Control Manager's
 * protocol through the addon; a STOP from the SCM does what SIGTERM does (windows-service.ts).
 *
 * --linux-dns (Linux): how tunnels' DNS is set, instead of detecting it (systemd-resolved, else
 * resolvconf, else /etc/resolv.conf edited in place, stacked for several tunnels).
 *
 * Importing this module has no effect; engine/bin/wirelane-helper calls main().
 */
import { parseArgs } from 'node:util';
import { UdpBind } from '../conn/udp-bind.js';
import { selectCryptoBackend } from '../crypto/index.js';
import { helperDefaults } from '../helper/defaults.js';
import { journalDirOf, startHelper, HELPER_VERSION } from '../helper/helper.js';
import { addonServiceApi, ServiceConnection } from '../helper/windows-service.js';
import type { Logger } from '../logger.js';
import type { LogLevel } from '../helper/protocol.js';
import { createOsConfigurator } from '../os/configurator.js';
import { openTun } from '../tun/index.js';

const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/** The helper's log on stderr, from `minimum` up; the minimum can change while it runs (settings). */
function stderrLogger(minimum: LogLevel): Logger & { setMinimum(level: LogLevel): void } {
  let min = LEVELS.indexOf(minimum);
  const write = (level: LogLevel) => (message: string) => {
    if (LEVELS.indexOf(level) < min) return;
    process.stderr.write(`${new Date().toISOString()} ${level.toUpperCase()}: ${message}\n`);
  };
  return {
    debug: write('debug'),
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
    setMinimum(level) {
      min = LEVELS.indexOf(level);
    },
  };
}

const USAGE = 'usage: wirelane-helper [--socket PATH] [--store DIR] [--service] [--linux-dns resolvectl|resolvconf|resolv.conf]';
const LINUX_DNS_METHODS = ['resolvectl', 'resolvconf', 'resolv.conf'] as const;

async function runHelper(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        socket: { type: 'string' },
        store: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
        service: { type: 'boolean' },
        'linux-dns': { type: 'string' },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`wirelane-helper: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`wirelane-helper ${HELPER_VERSION}\n`);
    return 0;
  }
  const linuxDns = values['linux-dns'];
  const dnsMethod = LINUX_DNS_METHODS.find((method) => method === linuxDns);
  if (linuxDns !== undefined && dnsMethod === undefined) {
    process.stderr.write(`wirelane-helper: --linux-dns takes ${LINUX_DNS_METHODS.join(', ')}\n${USAGE}\n`);
    return 2;
  }
  const defaults = helperDefaults();
  const socketPath = values.socket ?? defaults.socket;
  const storeDir = values.store ?? defaults.store;
  // LOG_LEVEL, when set, overrides the level kept in the helper's settings (for a debugging run).
  const envLevel = LEVELS.find((level) => level === process.env['LOG_LEVEL']);
  const logger = stderrLogger(envLevel ?? 'info');

  // As a Windows service, connect to the SCM first: it must hear from us within 30 seconds.
  let stopRequested: ((reason: string) => void) | null = null;
  let earlyStop: string | null = null;
  let service: ServiceConnection | null = null;
  if (values.service) {
    try {
      service = new ServiceConnection(addonServiceApi(), logger, (reason) => (stopRequested ? stopRequested(reason) : (earlyStop = reason)));
    } catch (err) {
      logger.error((err as Error).message);
      return 2;
    }
  }
  const finish = (code: number) => {
    service?.stopped(code);
    return code;
  };

  const selection = selectCryptoBackend();
  if (selection.fallbackReason) logger.warn(`using the noble crypto backend: ${selection.fallbackReason}`);

  let helper;
  try {
    helper = await startHelper({
      socketPath,
      storeDir,
      logger,
      crypto: selection.backend,
      os: createOsConfigurator({ journalDir: journalDirOf(storeDir), logger, ...(dnsMethod ? { linux: { dnsMethod } } : {}) }),
      openTun: (name, mtu, tunLogger) => openTun(name, mtu, { logger: tunLogger, watchInterface: true }),
      createBind: (bindLogger) => new UdpBind({ logger: bindLogger }),
      applyLogLevel: (level) => {
        if (envLevel === undefined) logger.setMinimum(level);
      },
    });
  } catch (err) {
    logger.error(`cannot start: ${(err as Error).message}`);
    return finish(1);
  }
  if (helper.recovered.undone.length > 0) {
    logger.info(`restored the system after an unclean stop (${helper.recovered.journals.length} journal(s))`);
  }

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info(`${signal}: disconnecting every tunnel and stopping`);
      helper.stop().then(
        () => resolve(0),
        (err: unknown) => {
          logger.error(`stopping: ${(err as Error).message}`);
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    stopRequested = stop;
    if (earlyStop !== null) stop(earlyStop);
    else service?.running();
  }).then(finish);
}

/** Runs the helper until SIGTERM/SIGINT, then exits the process (engine/bin/wirelane-helper calls it). */
export function main(): void {
  runHelper().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`wirelane-helper: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
