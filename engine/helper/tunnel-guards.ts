/**
 * What keeps several tunnels from hurting each other and a tunnel's traffic from leaking: route
 * claims (two connected tunnels never route the identical prefix) and the kill switch's lifecycle.
 *
 * Route claims: `wg-quick`-style routing cannot give one prefix to two interfaces (the second
 * `ip route add` finds the first and fails with "File exists"; counting that as done would send
 * that traffic in clear once the first tunnel goes down). So a tunnel claims its routed prefixes
 * before anything of it exists, and a collision refuses the connect naming the other tunnel.
 *
 * Kill switch lifecycle (the rules themselves: engine/os/killswitch.ts):
 *   connect  -> protect(): the policy is put in force as soon as the interface name is known,
 *               before any route points into the tunnel, and refreshed once the plan is known
 *   interface gone, engine closed, connect failed, helper killed -> nothing: the rules stay
 *   off      -> turnedOff(): released (the user turned the tunnel off)
 *   helper start -> recover(isOn): kept for tunnels still on, released for the others
 * The kill switch is on by default for full tunnels; the per-tunnel setting (store metadata)
 * overrides the default, and changing it applies at once to a tunnel that is on.
 */
import type { TunnelConfig } from '../conf/types.js';
import type { Logger } from '../logger.js';
import { formatCidr, maskCidr } from '../routing/cidr.js';
import type { KillSwitch, KillSwitchPolicy } from '../os/killswitch.js';
import { fullTunnelFamilies } from './conf-info.js';

/** The prefixes a tunnel routes (what two tunnels may not share): none for Table = off. */
export function routedPrefixes(config: TunnelConfig): string[] {
  if (config.interface.table === 'off') return [];
  return [...new Set(config.peers.flatMap((peer) => peer.allowedIps.map((prefix) => formatCidr(maskCidr(prefix)))))];
}

/** A connect refused because another connected tunnel routes the same prefix. */
export class RouteCollisionError extends Error {
  constructor(
    readonly prefix: string,
    readonly otherTunnel: string,
  ) {
    super(`${prefix} is already routed through tunnel '${otherTunnel}'; disconnect '${otherTunnel}' or remove ${prefix} from this tunnel's AllowedIPs`);
    this.name = 'RouteCollisionError';
  }
}

export interface TunnelGuardsOptions {
  /** Null where the platform has no kill switch implementation wired (the guards then only claim routes). */
  killSwitch: KillSwitch | null;
  /** The user's per-tunnel setting; undefined = the default (on for full tunnels). */
  killSwitchSetting(name: string): boolean | undefined;
  logger: Logger;
}

export class TunnelGuards {
  /** Connected (or connecting) tunnel -> the prefixes it routes. */
  private readonly claims = new Map<string, readonly string[]>();
  /** Tunnels that are on -> the policy their kill switch has (or would have when enabled). */
  private readonly policies = new Map<string, KillSwitchPolicy>();

  constructor(private readonly options: TunnelGuardsOptions) {}

  /** Whether the tunnel's kill switch is enabled: the user's setting, else on for a full tunnel. */
  killSwitchEnabled(name: string, config: TunnelConfig): boolean {
    return this.options.killSwitchSetting(name) ?? fullTunnelFamilies(config.peers.flatMap((peer) => peer.allowedIps)).size > 0;
  }

  /**
   * Claims the tunnel's routes, or throws RouteCollisionError naming the connected tunnel that
   * routes one of them. Synchronous: check and claim happen in one step of the event loop.
   */
  claimRoutes(name: string, config: TunnelConfig): void {
    const mine = routedPrefixes(config);
    for (const [other, theirs] of this.claims) {
      if (other === name) continue;
      const shared = mine.find((prefix) => theirs.includes(prefix));
      if (shared !== undefined) throw new RouteCollisionError(shared, other);
    }
    this.claims.set(name, mine);
  }

  /** The tunnel's routes are gone (it went down or its connect failed). */
  releaseRoutes(name: string): void {
    this.claims.delete(name);
  }

  /**
   * Records the tunnel's kill switch policy and puts it in force when the kill switch is enabled.
   * Rejects when the firewall refused: the connect must fail then, never go on unprotected.
   */
  async protect(name: string, config: TunnelConfig, policy: Omit<KillSwitchPolicy, 'tunnel' | 'blockAll' | 'prefixes' | 'dnsServers'>): Promise<void> {
    const full: KillSwitchPolicy = {
      tunnel: name,
      blockAll: fullTunnelFamilies(config.peers.flatMap((peer) => peer.allowedIps)).size > 0,
      prefixes: [...new Set(config.peers.flatMap((peer) => peer.allowedIps.map((prefix) => formatCidr(maskCidr(prefix)))))],
      dnsServers: config.interface.dns.servers,
      ...policy,
    };
    this.policies.set(name, full);
    if (!this.options.killSwitch || !this.killSwitchEnabled(name, config)) return;
    try {
      await this.options.killSwitch.engage(full);
    } catch (error) {
      throw new Error(`cannot put the kill switch in force: ${(error as Error).message}`, { cause: error });
    }
  }

  /**
   * The tunnel's endpoints changed (re-resolved host name, roaming by configuration): the kill
   * switch's allowance follows in one firewall transaction. Await it before the device is told the
   * new address, or its first packets there are dropped. Rejects when the firewall refused.
   */
  async endpointsChanged(name: string, endpoints: KillSwitchPolicy['endpoints']): Promise<void> {
    const policy = this.policies.get(name);
    if (policy) this.policies.set(name, { ...policy, endpoints });
    if (!this.options.killSwitch) return;
    await this.options.killSwitch.updateEndpoints(name, endpoints);
  }

  /** The user turned the tunnel off: its kill switch goes. Never rejects (logged instead). */
  async turnedOff(name: string): Promise<void> {
    this.policies.delete(name);
    if (!this.options.killSwitch) return;
    try {
      await this.options.killSwitch.release(name);
    } catch (error) {
      this.options.logger.error(`${name}: could not release the kill switch: ${(error as Error).message}`);
    }
  }

  /**
   * The user changed the tunnel's kill switch setting (already stored). For a tunnel that is on,
   * the rules follow at once; otherwise the setting applies at the next connect.
   */
  async settingChanged(name: string, enabled: boolean): Promise<void> {
    const killSwitch = this.options.killSwitch;
    if (!killSwitch) {
      if (enabled) throw new Error('this platform has no kill switch implementation yet');
      return;
    }
    const policy = this.policies.get(name) ?? (await killSwitch.policyOf(name));
    if (!policy) return;
    if (enabled) await killSwitch.engage(policy);
    else await killSwitch.release(name);
  }

  /** At helper start: keeps the kill switch of tunnels that are still on, releases the others. */
  async recover(isOn: (name: string) => boolean): Promise<void> {
    if (!this.options.killSwitch) return;
    const { kept } = await this.options.killSwitch.recover(isOn);
    for (const name of kept) {
      const policy = await this.options.killSwitch.policyOf(name);
      if (policy) this.policies.set(name, policy);
    }
  }
}
