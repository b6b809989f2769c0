/**
 * The helper service, wired: store + tunnel manager + engine launcher + control server.
 *
 * Start-up order matters: first the OS layer's recover() undoes whatever a killed helper left
 * behind (interfaces, routes, rules, DNS), then the socket opens, so no client ever sees a
 * half-configured system; last, always-on (always-on.ts) brings back the tunnels the user had on,
 * each applied once, on a clean system.
 */
import { dirname, join } from 'node:path';
import type { Bind } from '../conn/bind.js';
import { parseConf } from '../conf/parse.js';
import type { CryptoBackend } from '../crypto/backend.js';
import { Device } from '../device/device.js';
import type { Logger } from '../logger.js';
import type { LogEntry, LogLevel } from './protocol.js';
import { HelperLog } from './helper-log.js';
import { keyToBase64 } from '../keys.js';
import type { OsConfigurator, UndoReport } from '../os/types.js';
import type { TunDevice } from '../tun/tun.js';
import { createConfInspector } from './conf-info.js';
import { createEngineLauncher } from './engine-launcher.js';
import { createRequestHandler } from './handlers.js';
import { NetworkWatch } from './network-watch.js';
import { ControlServer, type ConnectionLimits } from './server.js';
import { isNamedPipe } from './authorisation.js';
import { requireTrustedDirectory } from './path-ownership.js';
import { childLifetimeWarning } from '../os/child-lifetime.js';
import { SETTINGS_FILE, TunnelStore, type StoreFaults } from './store.js';
import { TunnelManager, type TunnelLauncher } from './tunnel-manager.js';
import { TunnelGuards } from './tunnel-guards.js';
import { AlwaysOn } from './always-on.js';
import { serveUapi, uapiSocketPath } from '../uapi/server.js';

export const HELPER_VERSION = '0.1.0';

export interface HelperOptions {
  socketPath: string;
  storeDir: string;
  logger: Logger;
  crypto: CryptoBackend;
  /** The OS configurator; created by the caller so tests can run it in a namespace. */
  os: OsConfigurator;
  /** Passed on to the engine launcher unbound, so these are functions, not methods using `this`. */
  openTun: (name: string, mtu: number, logger: Logger) => TunDevice;
  createBind: (logger: Logger) => Bind;
  /** Where the tunnels' UAPI sockets go (default /var/run/wireguard, where `wg` looks; not on Windows). */
  uapiDirectory?: string;
  /** Tests replace the engine launcher with a fake. */
  launcher?: TunnelLauncher;
  groupFile?: string;
  storeFaults?: StoreFaults;
  /** Re-handshake on network changes (default true; tests with fakes turn it off). */
  watchNetwork?: boolean;
  /** The control server's bounds (default DEFAULT_CONNECTION_LIMITS; tests shorten timeouts). */
  connectionLimits?: Partial<ConnectionLimits>;
  /**
   * Applies the log level of the helper's settings to `logger`: called once at start with the
   * stored level and again whenever setSettings changes it. Without it the level is stored only.
   */
  applyLogLevel?: (level: LogLevel) => void;
}

export interface RunningHelper {
  store: TunnelStore;
  manager: TunnelManager;
  server: ControlServer;
  recovered: UndoReport;
  stop(): Promise<void>;
}

/** Where the OS layer keeps its journals: inside the store, readable by the helper alone. */
export function journalDirOf(storeDir: string): string {
  return join(storeDir, 'journal');
}

export async function startHelper(options: HelperOptions): Promise<RunningHelper> {
  const { crypto } = options;
  // Everything the helper logs is also kept in its whole-log ring (the window's helper log) and
  // sent to subscribers as log events of no tunnel; until the server is up there is no one to send to.
  const helperLog = new HelperLog();
  let sendHelperLine: ((entry: LogEntry) => void) | null = null;
  const logger = helperLog.tee(options.logger, (entry) => sendHelperLine?.(entry));
  // Before anything is read or run from them: a store or socket directory another user can
  // change would let that user plant journals (run as root at recovery) or race the socket.
  requireTrustedDirectory(options.storeDir, 'the store');
  if (!isNamedPipe(options.socketPath)) requireTrustedDirectory(dirname(options.socketPath), 'the socket directory');
  const lifetime = childLifetimeWarning();
  if (lifetime) logger.warn(lifetime);
  const store = TunnelStore.open(options.storeDir, logger, options.storeFaults);
  options.applyLogLevel?.(store.readPreferences().logLevel);
  if (store.hasLegacyScriptsSwitch()) {
    logger.warn(`${join(options.storeDir, SETTINGS_FILE)} allows scripts for every tunnel: that switch is ignored now; approve each tunnel's scripts as root with 'wirelane scripts allow NAME'`);
  }

  const recovered = await options.os.recover();
  if (recovered.undone.length > 0) {
    logger.warn(`recovered from an unclean stop: undid ${recovered.undone.length} change(s): ${recovered.undone.join('; ')}`);
  }
  for (const failure of recovered.failures) logger.error(`recovery could not undo ${failure.step}: ${failure.error}`);

  // The kill switch outlives the tunnels' journals: a tunnel still on keeps blocking until it
  // reconnects; one turned off (or deleted) is released here.
  const guards = new TunnelGuards({
    killSwitch: options.os.killSwitch ?? null,
    killSwitchSetting: (name) => (store.has(name) ? store.meta(name).killSwitch : undefined),
    logger,
  });
  await guards.recover((name) => store.has(name) && store.meta(name).on);

  const inspector = createConfInspector(parseConf, (key) => crypto.publicKey(key));
  const launcher =
    options.launcher ??
    createEngineLauncher({
      inspector,
      os: options.os,
      crypto,
      openTun: options.openTun,
      createBind: options.createBind,
      createDevice: (deviceOptions) => new Device(deviceOptions),
      scriptsApproval: (name) => (store.has(name) ? store.meta(name).scriptsApproval : undefined),
      guards,
      serveUapi: (interfaceName, device, tunnelLogger) => serveUapi(uapiSocketPath(interfaceName, options.uapiDirectory), device, tunnelLogger),
      // A re-resolved endpoint: the kill switch lets WireGuard out to the new address first.
      onEndpointsChanging: (name, endpoints) => guards.endpointsChanged(name, endpoints),
    });

  let server: ControlServer | null = null;
  const manager = new TunnelManager({
    launcher,
    readConf: (name) => store.read(name),
    logger,
    onStatus: (tunnels) => {
      // statusAll() knows only tunnels touched since start; add the stored ones for a full list.
      if (!server || server.subscriberCount() === 0) return;
      const known = new Map(tunnels.map((t) => [t.name, t]));
      const all = store.list().map((name) => known.get(name) ?? manager.status(name));
      for (const t of tunnels) if (!store.has(t.name)) all.push(t);
      server.broadcast({ event: 'status', tunnels: all });
    },
    onLog: (name, entry) => {
      helperLog.addTunnelLine(name, entry);
      server?.broadcast({ event: 'log', name, entry });
    },
  });

  const alwaysOn = new AlwaysOn({
    wantedOn: () => store.listOn(),
    isWantedOn: (name) => store.has(name) && store.meta(name).on,
    isActive: (name) => manager.isActive(name),
    connect: (name) => manager.connect(name),
    logger,
  });

  server = new ControlServer({
    socketPath: options.socketPath,
    logger,
    groupFile: options.groupFile,
    limits: options.connectionLimits,
    handle: createRequestHandler({
      store,
      manager,
      inspector,
      helperVersion: HELPER_VERSION,
      guards,
      helperLog,
      userChose: (name) => alwaysOn.cancel(name),
      broadcast: (event) => server?.broadcast(event),
      settings: {
        get: () => store.readPreferences(),
        set: (change) => {
          const current = store.readPreferences();
          const next = { ...current, ...change };
          if (next.logLevel === current.logLevel) return current;
          store.writePreferences(next);
          options.applyLogLevel?.(next.logLevel);
          logger.info(`settings changed: log level ${next.logLevel}`);
          return next;
        },
      },
      generateKeypair: () => {
        const privateKey = crypto.generatePrivateKey();
        const publicKey = crypto.publicKey(privateKey);
        return { privateKey: keyToBase64(privateKey), publicKey: keyToBase64(publicKey) };
      },
    }),
  });
  sendHelperLine = (entry) => server?.broadcast({ event: 'log', name: null, entry });
  await server.listen();
  manager.start();
  const networkWatch = new NetworkWatch({
    logger,
    ownInterfaces: () => manager.activeNames(),
    onChange: () => manager.rehandshakeAll('the network changed'),
  });
  if (options.watchNetwork !== false) networkWatch.start();
  logger.info(`helper ${HELPER_VERSION} listening on ${options.socketPath}, store ${options.storeDir}`);
  // After recovery (above) undid what a killed helper left, so nothing is applied twice.
  void alwaysOn.restore();

  const running = server;
  return {
    store,
    manager,
    server: running,
    recovered,
    async stop() {
      alwaysOn.stop();
      networkWatch.stop();
      await running.close();
      await manager.stop();
    },
  };
}
