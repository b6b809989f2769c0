/**
 * plan(): from a tunnel's configuration and what probe() read, what wg-quick would apply.
 * Pure: no I/O, no clock; the unit tests compare its output and the commands made from it.
 *
 * wg-quick's rules kept here (wg-quick(8) and the wg-quick script of wireguard-tools):
 * - MTU: MTU= when set, else the largest MTU of the routes toward the endpoints, else the default
 *   route's, else 1500; minus 80 (the most a WireGuard packet adds: IPv6 40 + UDP 8 + WireGuard 32).
 * - Routes: every AllowedIPs prefix of every peer, longest prefix first, into the interface; into
 *   table N for Table=N; none for Table=off.
 * - A /0 (or any set of prefixes covering a family, see fullTunnelFamilies) with Table unset or
 *   auto is a full tunnel. On Linux: the default route goes into table F
 *   (F = FwMark, else the first free table from 51820), with `ip rule not fwmark F table F` and
 *   `ip rule table main suppress_prefixlength 0`, and the device marks its own packets with F.
 *   On macOS (and here on Windows): two /1 routes per family instead of the /0, plus a host route
 *   to each endpoint through the gateway in use before, so the tunnel's own packets stay outside.
 * - DNS: only when DNS= names a server.
 */
import type { Cidr } from '../routing/cidr.js';
import {
  checkCidr,
  checkIpAddress,
  checkMtu,
  checkSearchDomain,
  formatCidr,
  networkOf,
  OsValueError,
  parseCidrText,
} from './address.js';
import { fullTunnelFamilies } from '../helper/conf-info.js';
import type { EndpointRoute, OsPlatform, OsTunnelInput, OsTunnelPlan, PlannedRoute, PlannedRule, SystemFacts } from './types.js';

/** wg-quick's first full-tunnel table and firewall mark. */
export const DEFAULT_FULL_TUNNEL_TABLE = 51820;
/** What WireGuard adds to a packet at most: IPv6 header 40 + UDP 8 + WireGuard data header and tag 32. */
export const WIREGUARD_OVERHEAD = 80;
/** The Linux main routing table ("Table = main" in a .conf). */
export const MAIN_TABLE = 254;

/** Interface names each platform's tools accept from us. Anything else is refused before planning. */
const INTERFACE_NAME: Record<OsPlatform, RegExp> = {
  // wg-quick's own rule for interface names (IFNAMSIZ is 16 with the NUL).
  linux: /^[a-zA-Z0-9_=+.-]{1,15}$/,
  darwin: /^utun[0-9]{1,3}$/,
  // A Wintun adapter name; no spaces, quotes or "=" so netsh's name=VALUE form stays unambiguous.
  win32: /^[A-Za-z0-9_+.-]{1,32}$/,
};

export function checkInterfaceName(platform: OsPlatform, name: string): string {
  if (typeof name !== 'string' || !INTERFACE_NAME[platform].test(name) || name.startsWith('-')) {
    throw new OsValueError(`not a valid ${platform} interface name: ${JSON.stringify(name)}`);
  }
  return name;
}

/**
 * Why a Table = value cannot be planned for these AllowedIPs on this platform, or null. Pure and
 * cheap: the helper asks before anything of the tunnel exists (a refusal then leaves nothing, not
 * even a kill switch), and planTunnel() asks again.
 */
export function tableRefusal(platform: OsPlatform, table: 'off' | 'auto' | number, allowedIps: readonly Cidr[]): string | null {
  if (typeof table !== 'number') return null;
  if (!Number.isInteger(table) || table < 1 || table > 0xffffffff) return `Table = ${table} is not a routing table number`;
  // wg-quick on macOS: "Darwin only supports TABLE=auto|main|off".
  if (platform !== 'linux') return `Table = ${table} is supported on Linux only; use auto or off`;
  if (table === MAIN_TABLE && fullTunnelFamilies(allowedIps.map(networkOf)).size > 0) {
    // wg-quick would add the /0 to the main table, where the machine's default route already is
    // ("File exists"), or, without one, send the tunnel's own UDP into the tunnel. Neither routes
    // anything through it, so refuse rather than report a tunnel that carries nothing.
    return 'Table = main cannot carry a full tunnel (AllowedIPs covering 0.0.0.0/0 or ::/0): the main table already has the default route. Remove the Table line (Table = auto routes everything through the tunnel with policy rules, as wg-quick does) or use Table = off and route by hand';
  }
  return null;
}

export function planTunnel(platform: OsPlatform, input: OsTunnelInput, facts: SystemFacts): OsTunnelPlan {
  const interfaceName = checkInterfaceName(platform, input.interfaceName);
  input.addresses.forEach(checkCidr);
  input.allowedIps.forEach(checkCidr);
  const servers = input.dns.servers.map((server) => checkIpAddress(server, 'DNS server'));
  const searchDomains = input.dns.searchDomains.map(checkSearchDomain);
  const endpoints = input.endpoints.map((endpoint) => checkIpAddress(endpoint, 'endpoint'));
  const table = input.table ?? 'auto';
  const tableProblem = tableRefusal(platform, table, input.allowedIps);
  if (tableProblem !== null) throw new OsValueError(tableProblem);
  if (input.fwMark !== undefined && (!Number.isInteger(input.fwMark) || input.fwMark < 0 || input.fwMark > 0xffffffff)) {
    throw new OsValueError(`FwMark = ${input.fwMark} is out of range`);
  }

  const mtu = checkMtu(input.mtu ?? (facts.underlayMtu ?? 1500) - WIREGUARD_OVERHEAD);
  if (mtu < 1280 && input.addresses.some((address) => address.family === 6)) {
    // Linux disables IPv6 on a link below 1280 and the address could not be added; the .conf
    // parser refuses the same MTU at import (engine/conf/parse.ts MIN_MTU_IPV6).
    throw new OsValueError(`MTU ${mtu} is below 1280, the least IPv6 needs, and the tunnel has an IPv6 address`);
  }

  const prefixes = uniquePrefixes(input.allowedIps.map(networkOf));
  // A family whose prefixes cover it whole (a /0, or 0.0.0.0/1 + 128.0.0.0/1, ...) is a full
  // tunnel, whatever the spelling. Its own prefixes are not routed one by one: the default route
  // (table F on Linux, the /1 pair elsewhere) already carries them, and /1 routes in the main table
  // would also catch the engine's own marked packets and loop them into the tunnel.
  const fullFamilies = table === 'auto' ? fullTunnelFamilies(prefixes) : new Set<4 | 6>();
  const routes: PlannedRoute[] = [];
  const rules: PlannedRule[] = [];
  let fwmark: number | null = null;
  if (table !== 'off') {
    for (const prefix of prefixes) {
      if (typeof table === 'number') routes.push({ destination: prefix, table });
      else if (!fullFamilies.has(prefix.family)) routes.push({ destination: prefix });
    }
  }
  const endpointRoutes: EndpointRoute[] = [];
  if (fullFamilies.size > 0) {
    if (platform === 'linux') {
      // wg-quick keeps a mark the device already has; only a markless device gets a free table.
      fwmark = input.fwMark && input.fwMark > 0 ? input.fwMark : (facts.freeTable ?? DEFAULT_FULL_TUNNEL_TABLE);
      for (const family of [4, 6] as const) {
        if (!fullFamilies.has(family)) continue;
        routes.push({ destination: defaultPrefix(family), table: fwmark });
        rules.push({ kind: 'not-fwmark', family, fwmark, table: fwmark });
        rules.push({ kind: 'main-suppress-default', family });
      }
    } else {
      for (const family of [4, 6] as const) {
        if (!fullFamilies.has(family)) continue;
        for (const half of family === 4 ? ['0.0.0.0/1', '128.0.0.0/1'] : ['::/1', '8000::/1']) {
          routes.push({ destination: parseCidrText(half) });
        }
        const gateway = family === 4 ? facts.gateway4 : facts.gateway6;
        for (const endpoint of new Set(endpoints)) {
          if ((endpoint.includes(':') ? 6 : 4) !== family) continue;
          endpointRoutes.push(gateway ? { destination: endpoint, family, gateway } : { destination: endpoint, family });
        }
      }
    }
  }

  return {
    platform,
    interfaceName,
    ownsInterface: input.ownsInterface === true,
    addresses: input.addresses,
    mtu,
    routes,
    rules,
    endpointRoutes,
    dns: servers.length > 0 ? { servers, searchDomains, defaultRoute: fullFamilies.size > 0 } : null,
    fwmark,
    srcValidMark: platform === 'linux' && fullFamilies.has(4),
    facts,
  };
}

function defaultPrefix(family: 4 | 6): Cidr {
  return { family, address: new Uint8Array(family === 4 ? 4 : 16), bits: 0 };
}

/** Distinct prefixes, longest first (wg-quick: `sort -nr -k 2 -t /`), IPv4 before IPv6 on ties. */
function uniquePrefixes(prefixes: readonly Cidr[]): Cidr[] {
  const seen = new Map<string, Cidr>();
  for (const prefix of prefixes) seen.set(formatCidr(prefix), prefix);
  return [...seen.values()].sort((a, b) => b.bits - a.bits || a.family - b.family);
}
