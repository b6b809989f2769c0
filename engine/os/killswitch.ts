/**
 * The kill switch: while a tunnel is on, nothing leaves the machine outside the tunnel towards the
 * tunnel's AllowedIPs (a full tunnel: towards anything), whatever happens to the engine, the
 * interface or the helper itself.
 *
 * The firewall is a pure function of the set of engaged policies (one per tunnel), never edited
 * rule by rule: every change (engage, release, recovery) computes the whole ruleset of our own and
 * hands it to the platform in one transaction (`nft -f -`, `pfctl -a ANCHOR -f -`, one WFP
 * transaction). A policy is therefore either wholly in force or not at all, and a change never
 * opens a gap for the tunnels it does not concern.
 *
 * The record: each engaged policy is a file `<tunnel>.json` in the kill switch's directory (inside
 * the OS journal directory), written and fsync'd before the firewall changes and removed (fsync'd)
 * before the firewall forgets it, so the files always hold at least what is in force. Unlike the
 * tunnel's other OS changes (journal.ts), the kill switch must outlive the tunnel's running
 * configuration: when the interface vanishes, the engine dies or the helper is killed, the rules
 * stay. A new helper's recover() keeps the policies of tunnels that are still on (their reconnect
 * follows) and drops those of tunnels that are off; only the user's "off" releases a policy.
 */
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Logger } from '../logger.js';
import { checkIpAddress, formatCidr, networkOf, OsValueError, parseCidrText } from './address.js';
import { checkInterfaceName } from './plan.js';
import type { OsPlatform } from './types.js';
import { syncDirectory } from './sync-directory.js';

/** What a tunnel's kill switch lets out besides the tunnel itself. All values checked (see checkKillSwitchPolicy). */
export interface KillSwitchPolicy {
  /** The tunnel's name (the record file and the firewall's comments are named after it). */
  readonly tunnel: string;
  /** The tunnel's OS interface: traffic into it is what the tunnel carries. */
  readonly interfaceName: string;
  /**
   * A full tunnel (its AllowedIPs cover IPv4 or IPv6 whole): everything outside the tunnel is
   * blocked, both families, so a 0.0.0.0/0 tunnel without ::/0 does not leak IPv6.
   */
  readonly blockAll: boolean;
  /** Otherwise: the AllowedIPs networks ("10.0.0.0/24") that may be reached through the tunnel only. */
  readonly prefixes: readonly string[];
  /** The peers' endpoints: WireGuard UDP to them may leave outside the tunnel. */
  readonly endpoints: readonly { readonly address: string; readonly port: number }[];
  /** [Interface] DNS servers: outside the tunnel, DNS (port 53) may go to these only. Empty: DNS is left alone. */
  readonly dnsServers: readonly string[];
  /**
   * Linux: the firewall mark the device puts on its own UDP packets (wg-quick's policy routing):
   * they may leave, so the tunnel survives a peer that roams. Null when the device has none.
   */
  readonly fwmark: number | null;
  /** Windows: the tunnel adapter's LUID (decimal), which WFP filters name an interface by. */
  readonly interfaceLuid?: string;
}

const recordSchema = z.strictObject({
  tunnel: z.string(),
  interfaceName: z.string(),
  blockAll: z.boolean(),
  prefixes: z.array(z.string()),
  endpoints: z.array(z.strictObject({ address: z.string(), port: z.number() })),
  dnsServers: z.array(z.string()),
  fwmark: z.number().nullable(),
  interfaceLuid: z.string().optional(),
});

/** The tunnel-name rule of wg-quick (also the store's): the record's file name is built from it. */
const TUNNEL_NAME = /^[a-zA-Z0-9_=+.-]{1,15}$/;

/**
 * Checks every value a firewall ruleset is made of (they come from an imported .conf): interface
 * and tunnel names by the platform's rule, addresses as IP literals, prefixes as CIDRs (returned
 * as networks), ports and marks in range. Throws OsValueError; returns the normalised policy.
 */
export function checkKillSwitchPolicy(platform: OsPlatform, policy: KillSwitchPolicy): KillSwitchPolicy {
  if (!TUNNEL_NAME.test(policy.tunnel) || policy.tunnel === '.' || policy.tunnel === '..') {
    throw new OsValueError(`not a tunnel name: ${JSON.stringify(policy.tunnel)}`);
  }
  const prefixes = [...new Set(policy.prefixes.map((text) => formatCidr(networkOf(parseCidrText(text)))))];
  const endpoints = policy.endpoints.map((endpoint) => {
    if (!Number.isInteger(endpoint.port) || endpoint.port < 1 || endpoint.port > 65535) {
      throw new OsValueError(`endpoint port ${String(endpoint.port)} is out of range`);
    }
    return { address: checkIpAddress(endpoint.address, 'endpoint'), port: endpoint.port };
  });
  if (policy.fwmark !== null && (!Number.isInteger(policy.fwmark) || policy.fwmark < 1 || policy.fwmark > 0xffffffff)) {
    throw new OsValueError(`firewall mark ${String(policy.fwmark)} is out of range`);
  }
  if (policy.interfaceLuid !== undefined && !/^[0-9]{1,20}$/.test(policy.interfaceLuid)) {
    throw new OsValueError(`not an interface LUID: ${JSON.stringify(policy.interfaceLuid)}`);
  }
  return {
    tunnel: policy.tunnel,
    interfaceName: checkInterfaceName(platform, policy.interfaceName),
    blockAll: policy.blockAll === true,
    prefixes,
    endpoints,
    dnsServers: policy.dnsServers.map((server) => checkIpAddress(server, 'DNS server')),
    fwmark: policy.fwmark,
    ...(policy.interfaceLuid !== undefined ? { interfaceLuid: policy.interfaceLuid } : {}),
  };
}

/** "4" or "6" for an IP literal already checked. */
export function familyOf(address: string): 4 | 6 {
  return address.includes(':') ? 6 : 4;
}

/** The platform's firewall, as the kill switch drives it. */
export interface KillSwitchFirewall {
  /**
   * Makes the firewall enforce exactly these policies, in one transaction; with none, removes
   * everything of ours (and gives back what enabling the firewall took). Rejects when the
   * platform refused; what was in force before then stays in force.
   */
  enforce(policies: readonly KillSwitchPolicy[]): Promise<void>;
}

export interface KillSwitchOptions {
  /** Where the records live (created 0700): the OS journal directory's `kill-switch`. */
  readonly dir: string;
  readonly platform: OsPlatform;
  readonly firewall: KillSwitchFirewall;
  readonly logger: Logger;
}

/** The kill switch directory inside the OS journal directory. */
export function killSwitchDirOf(journalDir: string): string {
  return join(journalDir, 'kill-switch');
}

const RECORD_SUFFIX = '.json';

export class KillSwitch {
  /** Every change waits for the one before it: each computes the whole ruleset from the records. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: KillSwitchOptions) {}

  /**
   * Puts (or replaces) a tunnel's policy in force. The record is durable before the firewall
   * changes. If the firewall refuses, the previous record of the tunnel (if any) is put back.
   */
  engage(policy: KillSwitchPolicy): Promise<void> {
    const checked = checkKillSwitchPolicy(this.options.platform, policy);
    return this.serialise(async () => {
      const before = await this.readRecord(checked.tunnel);
      await this.writeRecord(checked);
      try {
        await this.options.firewall.enforce(await this.policies());
      } catch (error) {
        if (before) await this.writeRecord(before);
        else await this.removeRecord(checked.tunnel);
        throw error;
      }
      this.options.logger.info(`kill switch of ${checked.tunnel} in force (${describe(checked)})`);
    });
  }

  /**
   * The tunnel's endpoints changed (a host name re-resolved, a peer added): its WireGuard UDP may
   * go to these from now on, and no longer to the old ones, in one firewall transaction. Call it
   * before the device sends to a new address. Resolves false, changing nothing, when the tunnel
   * has no policy in force.
   */
  updateEndpoints(tunnel: string, endpoints: KillSwitchPolicy['endpoints']): Promise<boolean> {
    return this.serialise(async () => {
      const before = await this.readRecord(tunnel);
      if (!before) return false;
      const next = checkKillSwitchPolicy(this.options.platform, { ...before, endpoints });
      await this.writeRecord(next);
      try {
        await this.options.firewall.enforce(await this.policies());
      } catch (error) {
        await this.writeRecord(before);
        throw error;
      }
      this.options.logger.info(`kill switch of ${tunnel}: WireGuard may now reach ${endpoints.map((e) => `${e.address}:${e.port}`).join(', ') || 'no endpoint'}`);
      return true;
    });
  }

  /** Takes a tunnel's policy out of force (the user turned the tunnel or its kill switch off). */
  release(tunnel: string): Promise<void> {
    return this.serialise(async () => {
      if (!(await this.readRecord(tunnel))) return;
      await this.removeRecord(tunnel);
      await this.options.firewall.enforce(await this.policies());
      this.options.logger.info(`kill switch of ${tunnel} released`);
    });
  }

  /**
   * At helper start: keeps the policies of tunnels for which `stillOn` says yes (their reconnect
   * follows) and releases the others, then enforces what is left (which also puts back a ruleset
   * someone flushed while the helper was gone). Returns the tunnels kept and released.
   */
  recover(stillOn: (tunnel: string) => boolean): Promise<{ kept: string[]; released: string[] }> {
    return this.serialise(async () => {
      const kept: string[] = [];
      const released: string[] = [];
      for (const policy of await this.policies()) {
        if (stillOn(policy.tunnel)) kept.push(policy.tunnel);
        else {
          await this.removeRecord(policy.tunnel);
          released.push(policy.tunnel);
        }
      }
      await this.options.firewall.enforce(await this.policies());
      if (kept.length > 0) this.options.logger.info(`kill switch kept for ${kept.join(', ')} (still on)`);
      if (released.length > 0) this.options.logger.info(`kill switch released for ${released.join(', ')} (turned off)`);
      return { kept, released };
    });
  }

  /** The policy in force for a tunnel, or null. */
  async policyOf(tunnel: string): Promise<KillSwitchPolicy | null> {
    await this.queue;
    return this.readRecord(tunnel);
  }

  /** Every policy on record, by tunnel name; unreadable records are reported and skipped. */
  async policies(): Promise<KillSwitchPolicy[]> {
    let names: string[];
    try {
      names = await readdir(this.options.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const policies: KillSwitchPolicy[] = [];
    for (const name of names.sort()) {
      if (!name.endsWith(RECORD_SUFFIX) || name.startsWith('.')) continue;
      const policy = await this.readRecord(name.slice(0, -RECORD_SUFFIX.length));
      if (policy) policies.push(policy);
    }
    return policies;
  }

  private serialise<T>(step: () => Promise<T>): Promise<T> {
    const next = this.queue.then(step, step);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private pathOf(tunnel: string): string {
    if (!TUNNEL_NAME.test(tunnel) || tunnel === '.' || tunnel === '..') throw new OsValueError(`not a tunnel name: ${JSON.stringify(tunnel)}`);
    return join(this.options.dir, tunnel + RECORD_SUFFIX);
  }

  private async readRecord(tunnel: string): Promise<KillSwitchPolicy | null> {
    let text: string;
    try {
      text = await readFile(this.pathOf(tunnel), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    try {
      const policy = checkKillSwitchPolicy(this.options.platform, recordSchema.parse(JSON.parse(text)));
      if (policy.tunnel !== tunnel) throw new Error(`it names tunnel ${policy.tunnel}`);
      return policy;
    } catch (error) {
      // Not ours any more (edited or torn): it cannot be enforced; say so rather than guess.
      this.options.logger.error(`kill switch record ${this.pathOf(tunnel)} is unreadable and ignored: ${(error as Error).message.split('\n')[0]}`);
      return null;
    }
  }

  /** temp file, fsync, rename, fsync directory: the record is either the old or the new one. */
  private async writeRecord(policy: KillSwitchPolicy): Promise<void> {
    await mkdir(this.options.dir, { recursive: true, mode: 0o700 });
    const path = this.pathOf(policy.tunnel);
    const temp = join(this.options.dir, `.${policy.tunnel}.tmp-${randomBytes(6).toString('hex')}`);
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(`${JSON.stringify(policy)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
    await syncDirectory(this.options.dir);
  }

  private async removeRecord(tunnel: string): Promise<void> {
    await rm(this.pathOf(tunnel), { force: true });
    await syncDirectory(this.options.dir);
  }
}

function describe(policy: KillSwitchPolicy): string {
  const towards = policy.blockAll ? 'everything outside the tunnel blocked' : `outside traffic to ${policy.prefixes.join(', ')} blocked`;
  const dns = policy.dnsServers.length > 0 ? `; DNS outside only to ${policy.dnsServers.join(', ')}` : '';
  return `${towards}${dns}`;
}

