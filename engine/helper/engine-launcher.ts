/**
 * Brings a stored tunnel up on our own engine, in the helper's process, and takes it down.
 *
 *   up:   parse -> resolve endpoint hostnames -> [PreUp] -> TUN + UDP bind + Device
 *         -> applySet(toUapiSetRequest) -> OS probe/plan -> (fwmark on the device) -> OS apply
 *         (addresses, MTU, routes incl. full tunnel, DNS; journalled) -> [PostUp]
 *   down: [PreDown] -> OS revert -> device close (the TUN interface goes with it) -> [PostDown]
 *
 * If any step of `up` fails, what was done is undone in reverse, and the error says which step
 * failed in one sentence. Scripts run, as wg-quick runs them (`/bin/sh -c` with %i replaced by
 * the interface name), only when root approved exactly these scripts of this tunnel
 * (script-approval.ts; decided once per connect, for the up and the down hooks alike);
 * otherwise they are logged as skipped. An imported file is not a way to run commands as root.
 */
import { spawn } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import type { Bind } from '../conn/bind.js';
import type { CryptoBackend } from '../crypto/backend.js';
import type { EngineDevice } from '../device/api.js';
import type { Logger } from '../logger.js';
import { tiedToParent } from '../os/child-lifetime.js';
import type { TunDevice } from '../tun/tun.js';
import type { AppliedTunnel, OsConfigurator, OsTunnelInput } from '../os/types.js';
import { endpointHostnames, toUapiSetRequest } from '../conf/to-uapi.js';
import type { TunnelConfig } from '../conf/types.js';
import { formatAddress, formatCidr, parseAddress } from '../routing/cidr.js';
import { isAllZero, keysEqual, keyToBase64 } from '../keys.js';
import { formatProblem, type ConfInspector } from './conf-info.js';
import { approveCommandFor, scriptsApproved, type ScriptsApproval } from './script-approval.js';
import { tableRefusal } from '../os/plan.js';
import type { EndpointChange, RunningTunnel, TunnelLauncher } from './tunnel-manager.js';
import { UNANSWERED_FOR_RECONNECTING_MS } from './tunnel-state.js';
import type { TunnelGuards } from './tunnel-guards.js';
import type { UapiServer } from '../uapi/server.js';
import { PrefixChanges } from '../routing/prefix-changes.js';

/** MTU the TUN is created with before the OS layer sets the computed one (wg-quick's default). */
const INITIAL_MTU = 1420;
const RESOLVE_TIMEOUT_MS = 10_000;
const SCRIPT_TIMEOUT_MS = 60_000;
/** A hostname endpoint is asked again at most this often while its peer does not answer. */
export const RERESOLVE_INTERVAL_MS = 30_000;

/**
 * Whether a hostname endpoint is due to be resolved again: its peer has left our data and
 * handshakes unanswered for UNANSWERED_FOR_RECONNECTING_MS (its address may have changed, as
 * with dynamic DNS; wireguard-tools' reresolve-dns asks once a handshake is 135 s old, we ask
 * once the attempts go unanswered), and the last try was RERESOLVE_INTERVAL_MS ago.
 */
export function reresolveDue(unansweredSinceMs: number | null, lastTryMs: number, nowMs: number): boolean {
  return unansweredSinceMs !== null && nowMs - unansweredSinceMs >= UNANSWERED_FOR_RECONNECTING_MS && nowMs - lastTryMs >= RERESOLVE_INTERVAL_MS;
}

export interface EngineLauncherOptions {
  inspector: ConfInspector;
  os: OsConfigurator;
  crypto: CryptoBackend;
  openTun(name: string, mtu: number, logger: Logger): TunDevice;
  createBind(logger: Logger): Bind;
  createDevice(options: { tun: TunDevice; bind: Bind; crypto: CryptoBackend; logger: Logger }): EngineDevice;
  /** The tunnel's stored approval of its scripts, read at every connect (script-approval.ts). */
  scriptsApproval(name: string): ScriptsApproval | undefined;
  /** Host name -> IP literal; default: the system resolver. Called unbound (no `this`). */
  resolve?: (host: string) => Promise<string>;
  /** Route claims and the kill switch (tunnel-guards.ts); absent in tests that need neither. */
  guards?: TunnelGuards;
  /**
   * Serves the cross-platform UAPI for the running device, where `wg` looks for it
   * (/var/run/wireguard/NAME.sock, root only), so `wg show`, `wg set` and `wg syncconf` work
   * on helper tunnels. Absent: no UAPI (tests with fakes).
   */
  serveUapi?: (interfaceName: string, device: EngineDevice, logger: Logger) => Promise<UapiServer>;
  /**
   * A re-resolved endpoint hostname gave a new address: called, and awaited, before the device
   * sends there, with every endpoint the tunnel will use. The hook for the kill switch's endpoint
   * allowance (tunnel-guards); a rejection keeps the old address.
   */
  onEndpointsChanging?: (name: string, endpoints: Array<{ address: string; port: number }>) => Promise<void>;
}

type ScriptHook = 'PreUp' | 'PostUp' | 'PreDown' | 'PostDown';

export function createEngineLauncher(options: EngineLauncherOptions): TunnelLauncher {
  const resolve = options.resolve ?? resolveWithTimeout;

  return {
    async up(name, confText, logger) {
      const inspection = options.inspector.inspect(confText);
      if (!inspection.ok) {
        const first = inspection.problems[0];
        throw new Error(`the stored configuration is invalid: ${first ? formatProblem(first) : 'unknown problem'}`);
      }
      const config = inspection.config;
      // Before anything of the tunnel exists, so a refusal leaves nothing behind.
      const tableProblem = tableRefusal(options.os.platform, config.interface.table ?? 'auto', config.peers.flatMap((p) => p.allowedIps));
      if (tableProblem !== null) throw new Error(tableProblem);
      options.guards?.claimRoutes(name, config);
      try {
        return await bringUp(name, config, inspection.info.hasScripts, logger);
      } catch (err) {
        options.guards?.releaseRoutes(name);
        throw err;
      }
    },
    async off(name) {
      await options.guards?.turnedOff(name);
    },
  };

  async function bringUp(name: string, config: TunnelConfig, hasScripts: boolean, logger: Logger): Promise<RunningTunnel> {
    const allowScripts = hasScripts && scriptsApproved(name, config, options.scriptsApproval(name));
    if (hasScripts && !allowScripts) {
      logger.warn(
        `PreUp/PostUp/PreDown/PostDown are not run: an administrator has not approved these scripts of '${name}' (an edit voids an approval); to run them: ${approveCommandFor(name)}`,
      );
    }
    const runHooks = async (hook: ScriptHook, commands: string[], interfaceName: string) => {
      if (!allowScripts) return;
      for (const command of commands) await runScript(hook, command, interfaceName, logger);
    };

    const resolved = new Map<string, string>();
    for (const host of endpointHostnames(config)) {
      try {
        resolved.set(host, await resolve(host));
      } catch (err) {
        throw new Error(`cannot resolve the endpoint host '${host}': ${(err as Error).message}`, { cause: err });
      }
    }
    const uapi = toUapiSetRequest(config, resolved);
    if (!uapi.ok) throw new Error(uapi.message);

    const undo: Array<() => Promise<void> | void> = [];
    const rollback = async () => {
      for (const step of undo.reverse()) {
        try {
          await step();
        } catch (err) {
          logger.error(`rolling back: ${(err as Error).message}`);
        }
      }
    };
    try {
      await runHooks('PreUp', config.interface.preUp, name);

      let tun: TunDevice;
      try {
        tun = options.openTun(name, config.interface.mtu ?? INITIAL_MTU, logger);
      } catch (err) {
        throw new Error(`cannot create the interface ${name}: ${(err as Error).message}`, { cause: err });
      }
      const endpoints = uapi.request.peers.flatMap((p) => (p.endpoint ? [splitEndpoint(p.endpoint)] : []));
      // The kill switch goes in force once the interface has its name and before any route
      // points into it; a failure from here on leaves it in force (it fails closed).
      try {
        await options.guards?.protect(name, config, { interfaceName: tun.name, endpoints, fwmark: null });
      } catch (err) {
        tun.close();
        throw err;
      }
      let device: EngineDevice;
      try {
        device = options.createDevice({ tun, bind: options.createBind(logger), crypto: options.crypto, logger });
      } catch (err) {
        tun.close();
        throw new Error(`cannot start the engine: ${(err as Error).message}`, { cause: err });
      }
      undo.push(() => device.close());

      const setError = device.applySet(uapi.request);
      if (setError) throw new Error(`the engine refused the configuration: ${setError.message}`);

      const input = osInput(tun.name, config, endpoints.map((endpoint) => endpoint.address));
      const facts = await options.os.probe(input);
      const plan = options.os.plan(input, facts);
      if (plan.fwmark !== null) {
        const markError = device.applySet({ fwmark: plan.fwmark, replacePeers: false, peers: [] });
        if (markError) throw new Error(`cannot set the firewall mark: ${markError.message}`);
        await options.guards?.protect(name, config, { interfaceName: tun.name, endpoints, fwmark: plan.fwmark });
      }
      let applied: AppliedTunnel;
      try {
        applied = await options.os.apply(plan);
      } catch (err) {
        throw new Error(`cannot configure the system: ${(err as Error).message}`, { cause: err });
      }
      undo.push(async () => {
        await options.os.revert(applied);
      });

      // The standard tools' way in. A failure costs `wg` its view of this tunnel, not the tunnel.
      let uapiServer: UapiServer | null = null;
      if (options.serveUapi) {
        try {
          const served = await options.serveUapi(tun.name, device, logger);
          uapiServer = served;
          undo.push(() => served.close());
        } catch (err) {
          logger.warn(`wg cannot see this tunnel: the UAPI socket was not served: ${(err as Error).message}`);
        }
      }

      await runHooks('PostUp', config.interface.postUp, tun.name);
      logger.info(`interface ${tun.name} is up with ${config.peers.length} peer(s)`);
      const hostnamePeers = config.peers.flatMap((peer) =>
        peer.endpoint && !parseAddress(peer.endpoint.host)
          ? [{ publicKey: peer.publicKey, host: peer.endpoint.host, port: peer.endpoint.port, address: resolved.get(peer.endpoint.host) ?? '', lastTry: 0 }]
          : [],
      );
      const watchdog = endpointWatchdog(name, device, hostnamePeers, endpoints, resolve, options.onEndpointsChanging, logger);
      return running(name, tun.name, config, device, applied, options.os, options.crypto, runHooks, logger, uapiServer, watchdog, () =>
        options.guards?.releaseRoutes(name),
      );
    } catch (err) {
      await rollback();
      throw err;
    }
  }
}

function running(
  name: string,
  interfaceName: string,
  config: TunnelConfig,
  device: EngineDevice,
  applied: AppliedTunnel,
  os: OsConfigurator,
  crypto: CryptoBackend,
  runHooks: (hook: ScriptHook, commands: string[], interfaceName: string) => Promise<void>,
  logger: Logger,
  uapiServer: UapiServer | null,
  reresolveEndpoints: (force: boolean) => Promise<EndpointChange[]>,
  routesGone: () => void,
): RunningTunnel {
  let down: Promise<void> | null = null;
  return {
    stats() {
      const snapshot = device.snapshot();
      let latest = 0;
      let endpoint: string | null = null;
      let rxBytes = 0;
      let txBytes = 0;
      for (const peer of snapshot.peers) {
        rxBytes += peer.rxBytes;
        txBytes += peer.txBytes;
        const ms = peer.lastHandshakeTimeSec * 1000 + Math.floor(peer.lastHandshakeTimeNsec / 1e6);
        // The endpoint shown is that of the peer that handshook last, else the first one known.
        if (ms > latest && peer.endpoint) {
          latest = ms;
          endpoint = peer.endpoint;
        } else {
          latest = Math.max(latest, ms);
          endpoint ??= peer.endpoint;
        }
      }
      return { latestHandshake: latest > 0 ? latest : null, rxBytes, txBytes, endpoint };
    },
    peers() {
      return device.snapshot().peers.map((peer) => {
        const ms = peer.lastHandshakeTimeSec * 1000 + Math.floor(peer.lastHandshakeTimeNsec / 1e6);
        return { latestHandshake: ms > 0 ? ms : null, unansweredSince: peer.unansweredSinceMs ?? null };
      });
    },
    details() {
      const snapshot = device.snapshot();
      return {
        interfaceName,
        publicKey: snapshot.privateKey ? keyToBase64(crypto.publicKey(snapshot.privateKey)) : '',
        listenPort: snapshot.listenPort,
        fwmark: snapshot.fwmark,
        peers: snapshot.peers.map((peer) => {
          const ms = peer.lastHandshakeTimeSec * 1000 + Math.floor(peer.lastHandshakeTimeNsec / 1e6);
          return {
            publicKey: keyToBase64(peer.publicKey),
            hasPresharedKey: peer.presharedKey !== null && !isAllZero(peer.presharedKey),
            endpoint: peer.endpoint,
            allowedIps: peer.allowedIps.map(formatCidr),
            latestHandshake: ms > 0 ? ms : null,
            rxBytes: peer.rxBytes,
            txBytes: peer.txBytes,
            persistentKeepalive: peer.persistentKeepaliveInterval,
          };
        }),
      };
    },
    rehandshakeAll: () => device.rehandshakeAll(),
    reresolveEndpoints,
    onClosed(listener) {
      device.onClosed(() => listener(`the interface ${interfaceName} was removed`));
    },
    down() {
      down ??= (async () => {
        const step = async (what: string, fn: () => unknown) => {
          try {
            await fn();
          } catch (err) {
            logger.error(`${what}: ${(err as Error).message}`);
          }
        };
        await step('PreDown', () => runHooks('PreDown', config.interface.preDown, interfaceName));
        await step('removing the UAPI socket', () => uapiServer?.close());
        await step('restoring the system configuration', async () => {
          const report = await os.revert(applied);
          for (const failure of report.failures) logger.error(`could not undo ${failure.step}: ${failure.error}`);
        });
        await step('closing the engine', () => device.close());
        routesGone();
        await step('PostDown', () => runHooks('PostDown', config.interface.postDown, interfaceName));
        logger.info(`tunnel ${name} is down`);
      })();
      return down;
    },
  };
}

interface HostnamePeer {
  publicKey: Uint8Array;
  host: string;
  port: number;
  /** The address in use. */
  address: string;
  /** Wall ms of the last resolve. */
  lastTry: number;
}

/**
 * Re-resolves hostname endpoints whose peers do not answer (or all of them, `force`: after a
 * network change or a wake) and moves the device to a changed address. One pass at a time.
 */
function endpointWatchdog(
  name: string,
  device: EngineDevice,
  peers: HostnamePeer[],
  endpoints: Array<{ address: string; port: number }>,
  resolve: (host: string) => Promise<string>,
  changing: EngineLauncherOptions['onEndpointsChanging'],
  logger: Logger,
): (force: boolean) => Promise<EndpointChange[]> {
  let pass: Promise<EndpointChange[]> | null = null;
  const once = async (force: boolean): Promise<EndpointChange[]> => {
    const changes: EndpointChange[] = [];
    const now = Date.now();
    const snapshot = device.snapshot();
    for (const peer of peers) {
      const live = snapshot.peers.find((p) => keysEqual(p.publicKey, peer.publicKey));
      if (!live) continue; // removed with wg set
      if (!force && !reresolveDue(live.unansweredSinceMs ?? null, peer.lastTry, now)) continue;
      peer.lastTry = now;
      let answer: string;
      try {
        answer = await resolve(peer.host);
      } catch (err) {
        logger.warn(`cannot resolve the endpoint host '${peer.host}' again: ${(err as Error).message}`);
        continue;
      }
      const bytes = parseAddress(answer);
      if (!bytes || answer === peer.address) continue;
      const text = formatAddress(bytes);
      const endpoint = bytes.length === 16 ? `[${text}]:${peer.port}` : `${text}:${peer.port}`;
      const next = endpoints.map((e) => (e.address === peer.address && e.port === peer.port ? { address: answer, port: peer.port } : e));
      try {
        await changing?.(name, next);
      } catch (err) {
        logger.error(`keeping ${peer.host} at ${peer.address}: ${(err as Error).message}`);
        continue;
      }
      const error = device.applySet({
        replacePeers: false,
        peers: [{ publicKey: peer.publicKey, remove: false, updateOnly: true, replaceAllowedIps: false, allowedIps: new PrefixChanges(), endpoint }],
      });
      if (error) {
        logger.error(`cannot move the endpoint of ${peer.host} to ${endpoint}: ${error.message}`);
        continue;
      }
      logger.info(`the endpoint host '${peer.host}' now resolves to ${answer} (was ${peer.address}); sending there`);
      changes.push({ publicKey: keyToBase64(peer.publicKey), host: peer.host, from: peer.address, to: answer });
      endpoints.splice(0, endpoints.length, ...next);
      peer.address = answer;
    }
    if (changes.length > 0) device.rehandshakeAll();
    return changes;
  };
  return (force) => {
    if (peers.length === 0) return Promise.resolve([]);
    pass ??= once(force).finally(() => {
      pass = null;
    });
    return pass;
  };
}

/** What the OS layer needs, from the parsed file and the endpoints the device actually uses. */
function osInput(interfaceName: string, config: TunnelConfig, endpoints: string[]): OsTunnelInput {
  const iface = config.interface;
  const input: OsTunnelInput = {
    interfaceName,
    addresses: iface.addresses,
    dns: iface.dns,
    allowedIps: config.peers.flatMap((p) => p.allowedIps),
    endpoints,
    ownsInterface: true,
    ...(iface.mtu !== undefined ? { mtu: iface.mtu } : {}),
    ...(iface.table !== undefined ? { table: iface.table } : {}),
    ...(iface.fwMark !== undefined ? { fwMark: iface.fwMark } : {}),
  };
  return input;
}

/** "192.0.2.1:51820" -> 192.0.2.1 and 51820; "[2001:db8::1]:51820" -> 2001:db8::1 and 51820. */
function splitEndpoint(endpoint: string): { address: string; port: number } {
  const colon = endpoint.lastIndexOf(':');
  const host = endpoint.slice(0, colon);
  return { address: host.startsWith('[') ? host.slice(1, -1) : host, port: Number(endpoint.slice(colon + 1)) };
}

async function resolveWithTimeout(host: string): Promise<string> {
  if (parseAddress(host)) return host;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${RESOLVE_TIMEOUT_MS / 1000} s`)), RESOLVE_TIMEOUT_MS);
  });
  try {
    // IPv4 first, as wg(8) effectively does on most systems; AAAA when there is no A record.
    const answer = await Promise.race([lookup(host, { family: 0, order: 'ipv4first' }), timeout]);
    return answer.address;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * What runs a hook on Linux and macOS: a shell that runs the hook's own shell (its commands as
 * wg-quick runs them, `/bin/sh -c LINE`) in the background and waits for it, and that, when told
 * TERM (by the kernel, once the helper is gone: see below), kills its whole process group, the
 * hook's commands and their children included. $1 is the line.
 */
const HOOK_KEEPER = 'trap "kill -KILL 0" TERM; /bin/sh -c "$1" & wait $!';

/**
 * Runs one hook command as wg-quick does: %i becomes the interface name, through /bin/sh -c.
 * On Unix it runs in a process group of its own, led by HOOK_KEEPER: a time-out kills the group,
 * and on Linux the keeper is started through `setpriv --pdeathsig TERM` (child-lifetime.ts), so
 * a killed helper leaves none of the hook's processes running. (A hook's own background jobs
 * that outlive the hook are no longer its group's once the keeper has ended; docs/security.md.)
 */
export function runScript(hook: ScriptHook, command: string, interfaceName: string, logger: Logger): Promise<void> {
  const line = command.replaceAll('%i', interfaceName);
  logger.info(`[#] ${hook}: ${line}`);
  const windows = process.platform === 'win32';
  const started = windows ? { file: 'cmd.exe', args: ['/c', line] } : tiedToParent('/bin/sh', ['-c', HOOK_KEEPER, 'wirelane-hook', line], process.platform, 'TERM');
  return new Promise((resolve, reject) => {
    const child = spawn(started.file, started.args, { stdio: ['ignore', 'pipe', 'pipe'], detached: !windows, ...(windows ? { timeout: SCRIPT_TIMEOUT_MS, killSignal: 'SIGKILL' } : {}) });
    const timer = windows
      ? null
      : setTimeout(() => {
          logger.error(`${hook} did not finish within ${SCRIPT_TIMEOUT_MS / 1000} s; killing it`);
          try {
            process.kill(-child.pid!, 'SIGKILL');
          } catch {
            // Gone already.
          }
        }, SCRIPT_TIMEOUT_MS);
    let output = '';
    const collect = (chunk: Buffer) => {
      if (output.length < 8192) output += chunk.toString('utf8');
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('error', (err) => {
      if (timer) clearTimeout(timer);
      reject(new Error(`${hook} could not start: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      for (const text of output.split('\n')) if (text.trim()) logger.info(`${hook}: ${text}`);
      if (code === 0) resolve();
      else reject(new Error(`${hook} command failed (${code !== null ? `exit status ${code}` : `signal ${signal}`}): ${line}`));
    });
  });
}
