/**
 * Windows kill switch: Windows Filtering Platform filters, as data. Every change is one WFP
 * transaction that deletes everything under Wirelane's provider and adds the whole set again, so
 * a policy is either wholly in force or not at all.
 *
 * Layout (the layers, conditions and weights WireGuard for Windows uses for its /0 kill switch,
 * one sublayer per tunnel instead of one in all):
 *   provider  Wirelane (persistent: the filters outlive the helper, fail closed, until released)
 *   sublayer  per kill-switched tunnel, weight 0xffff. WFP lets a packet through only if no
 *             sublayer blocks it, so several tunnels together allow what every one allows.
 *   filters   in the ALE connect (outbound) and receive-accept (inbound) layers, IPv4 and IPv6;
 *             within a sublayer the matching filter of highest weight decides:
 *     15 permit  loopback; every kill-switched tunnel's interface (by LUID)
 *     14 permit  DHCPv4, DHCPv6, neighbour discovery
 *     13 permit  UDP to the tunnel's endpoints
 *     12 permit  DNS (port 53) to the tunnel's servers outside what it covers
 *     11 block   DNS to anything else (only when the tunnel has DNS servers)
 *      0 block   everything (full tunnel), else the tunnel's AllowedIPs
 *
 * Conditions of the same field are ORed by WFP, different fields ANDed. The addon carries these
 * calls out (FwpmEngineOpen0 without FWPM_SESSION_FLAG_DYNAMIC, FwpmTransactionBegin0, ...,
 * FwpmTransactionCommit0); here they are produced and unit-tested (no Windows machine here).
 */
import { createHash } from 'node:crypto';
import { formatCidr, networkOf, OsValueError, parseCidrText } from './address.js';
import { familyOf, type KillSwitchFirewall, type KillSwitchPolicy } from './killswitch.js';

/** Wirelane's WFP provider key (fixed, so a new helper finds what a killed one left). */
export const WFP_PROVIDER_KEY = '{5c7d0a9e-2f41-4b8e-9a36-77e1c0b4d2a1}';

export type WfpLayer = 'FWPM_LAYER_ALE_AUTH_CONNECT_V4' | 'FWPM_LAYER_ALE_AUTH_CONNECT_V6' | 'FWPM_LAYER_ALE_AUTH_RECV_ACCEPT_V4' | 'FWPM_LAYER_ALE_AUTH_RECV_ACCEPT_V6';

export type WfpCondition =
  | { readonly field: 'FWPM_CONDITION_FLAGS'; readonly match: 'FWP_MATCH_FLAGS_ALL_SET'; readonly uint32: 'FWP_CONDITION_FLAG_IS_LOOPBACK' }
  | { readonly field: 'FWPM_CONDITION_IP_LOCAL_INTERFACE'; readonly match: 'FWP_MATCH_EQUAL'; readonly uint64: string }
  | { readonly field: 'FWPM_CONDITION_IP_PROTOCOL'; readonly match: 'FWP_MATCH_EQUAL'; readonly uint8: number }
  | { readonly field: 'FWPM_CONDITION_IP_LOCAL_PORT' | 'FWPM_CONDITION_IP_REMOTE_PORT'; readonly match: 'FWP_MATCH_EQUAL'; readonly uint16: number }
  /** An address or prefix: FWP_V4_ADDR_MASK / FWP_V6_ADDR_MASK (a host is a /32 or /128). */
  | { readonly field: 'FWPM_CONDITION_IP_REMOTE_ADDRESS' | 'FWPM_CONDITION_IP_LOCAL_ADDRESS'; readonly match: 'FWP_MATCH_EQUAL'; readonly prefix: string };

export interface WfpFilter {
  readonly name: string;
  readonly layer: WfpLayer;
  readonly subLayer: string;
  /** FWP_UINT8 weight, 0..15, within the sublayer. */
  readonly weight: number;
  readonly action: 'FWP_ACTION_PERMIT' | 'FWP_ACTION_BLOCK';
  readonly conditions: readonly WfpCondition[];
}

/** One call inside the transaction, in order. */
export type WfpCall =
  /** Enumerate and delete every filter, then sublayer, of the provider, then the provider (absent: nothing). */
  | { readonly call: 'DeleteProviderObjects'; readonly provider: string }
  | { readonly call: 'FwpmProviderAdd0'; readonly key: string; readonly name: string; readonly flags: 'FWPM_PROVIDER_FLAG_PERSISTENT' }
  | { readonly call: 'FwpmSubLayerAdd0'; readonly key: string; readonly provider: string; readonly name: string; readonly weight: number; readonly flags: 'FWPM_SUBLAYER_FLAG_PERSISTENT' }
  | { readonly call: 'FwpmFilterAdd0'; readonly provider: string; readonly flags: 'FWPM_FILTER_FLAG_PERSISTENT'; readonly filter: WfpFilter };

/** What the addon offers: runs the calls in one transaction of a non-dynamic session, all or nothing. */
export interface WfpApi {
  transaction(calls: readonly WfpCall[]): Promise<void>;
}

const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const IPPROTO_ICMPV6 = 58;

/** A sublayer key derived from the tunnel name (stable, so the listing of a killed helper's filters names it). */
export function wfpSubLayerKey(tunnel: string): string {
  const hash = createHash('sha256').update(`wirelane kill switch sublayer\0${tunnel}`).digest('hex');
  // RFC 4122 layout, version 8 (custom), variant 10.
  const v = `8${hash.slice(13, 16)}`;
  const variant = ((parseInt(hash.slice(16, 17), 16) & 0x3) | 0x8).toString(16) + hash.slice(17, 20);
  return `{${hash.slice(0, 8)}-${hash.slice(8, 12)}-${v}-${variant}-${hash.slice(20, 32)}}`;
}

const LUID = /^[0-9]{1,20}$/;

function layersFor(family: 4 | 6): WfpLayer[] {
  return family === 4
    ? ['FWPM_LAYER_ALE_AUTH_CONNECT_V4', 'FWPM_LAYER_ALE_AUTH_RECV_ACCEPT_V4']
    : ['FWPM_LAYER_ALE_AUTH_CONNECT_V6', 'FWPM_LAYER_ALE_AUTH_RECV_ACCEPT_V6'];
}

function host(address: string): string {
  return `${address}/${familyOf(address) === 4 ? 32 : 128}`;
}

function inside(address: string, prefixes: readonly string[]): boolean {
  const text = host(address);
  return prefixes.some((prefix) => {
    const net = parseCidrText(prefix);
    const one = parseCidrText(text);
    return net.family === one.family && formatCidr(networkOf({ ...one, bits: net.bits })) === formatCidr(net);
  });
}

/** One tunnel's filters. `luids`: every kill-switched tunnel's interface LUID (decimal). */
export function wfpTunnelFilters(policy: KillSwitchPolicy, luids: readonly string[]): WfpFilter[] {
  const subLayer = wfpSubLayerKey(policy.tunnel);
  const filters: WfpFilter[] = [];
  const add = (name: string, families: readonly (4 | 6)[], weight: number, action: WfpFilter['action'], conditions: readonly WfpCondition[], only?: 'out' | 'in') => {
    for (const family of families) {
      for (const layer of layersFor(family)) {
        if (only === 'out' && layer.includes('RECV_ACCEPT')) continue;
        if (only === 'in' && layer.includes('CONNECT')) continue;
        filters.push({ name: `${policy.tunnel}: ${name}`, layer, subLayer, weight, action, conditions });
      }
    }
  };
  const both = [4, 6] as const;
  add('permit loopback', both, 15, 'FWP_ACTION_PERMIT', [{ field: 'FWPM_CONDITION_FLAGS', match: 'FWP_MATCH_FLAGS_ALL_SET', uint32: 'FWP_CONDITION_FLAG_IS_LOOPBACK' }]);
  add('permit the tunnels\' interfaces', both, 15, 'FWP_ACTION_PERMIT', luids.map((luid) => ({ field: 'FWPM_CONDITION_IP_LOCAL_INTERFACE', match: 'FWP_MATCH_EQUAL', uint64: luid }) as const));
  const udp = { field: 'FWPM_CONDITION_IP_PROTOCOL', match: 'FWP_MATCH_EQUAL', uint8: IPPROTO_UDP } as const;
  const port = (field: 'FWPM_CONDITION_IP_LOCAL_PORT' | 'FWPM_CONDITION_IP_REMOTE_PORT', value: number) => ({ field, match: 'FWP_MATCH_EQUAL', uint16: value }) as const;
  add('permit DHCPv4', [4], 14, 'FWP_ACTION_PERMIT', [udp, port('FWPM_CONDITION_IP_LOCAL_PORT', 68), port('FWPM_CONDITION_IP_REMOTE_PORT', 67)]);
  add('permit DHCPv6', [6], 14, 'FWP_ACTION_PERMIT', [udp, port('FWPM_CONDITION_IP_LOCAL_PORT', 546), port('FWPM_CONDITION_IP_REMOTE_PORT', 547)]);
  // In the ALE layers an ICMP message's type is in the local port field.
  const icmp6 = { field: 'FWPM_CONDITION_IP_PROTOCOL', match: 'FWP_MATCH_EQUAL', uint8: IPPROTO_ICMPV6 } as const;
  add('permit neighbour discovery out', [6], 14, 'FWP_ACTION_PERMIT', [icmp6, ...[133, 135, 136].map((type) => port('FWPM_CONDITION_IP_LOCAL_PORT', type))], 'out');
  add('permit neighbour discovery in', [6], 14, 'FWP_ACTION_PERMIT', [icmp6, ...[134, 135, 136, 137].map((type) => port('FWPM_CONDITION_IP_LOCAL_PORT', type))], 'in');
  for (const endpoint of policy.endpoints) {
    add(`permit WireGuard to ${endpoint.address}:${endpoint.port}`, [familyOf(endpoint.address)], 13, 'FWP_ACTION_PERMIT', [
      udp,
      { field: 'FWPM_CONDITION_IP_REMOTE_ADDRESS', match: 'FWP_MATCH_EQUAL', prefix: host(endpoint.address) },
      port('FWPM_CONDITION_IP_REMOTE_PORT', endpoint.port),
    ]);
  }
  if (policy.dnsServers.length > 0) {
    const dnsProtocols = [
      { field: 'FWPM_CONDITION_IP_PROTOCOL', match: 'FWP_MATCH_EQUAL', uint8: IPPROTO_UDP },
      { field: 'FWPM_CONDITION_IP_PROTOCOL', match: 'FWP_MATCH_EQUAL', uint8: IPPROTO_TCP },
    ] as const;
    // A server the kill switch covers is reached through the tunnel (its interface permit) or not at all.
    const outside = policy.blockAll ? [] : policy.dnsServers.filter((server) => !inside(server, policy.prefixes));
    for (const family of [4, 6] as const) {
      const servers = outside.filter((server) => familyOf(server) === family);
      if (servers.length === 0) continue;
      add('permit DNS to the tunnel\'s servers', [family], 12, 'FWP_ACTION_PERMIT', [
        ...dnsProtocols,
        port('FWPM_CONDITION_IP_REMOTE_PORT', 53),
        ...servers.map((server) => ({ field: 'FWPM_CONDITION_IP_REMOTE_ADDRESS', match: 'FWP_MATCH_EQUAL', prefix: host(server) }) as const),
      ], 'out');
    }
    add('block other DNS', both, 11, 'FWP_ACTION_BLOCK', [...dnsProtocols, port('FWPM_CONDITION_IP_REMOTE_PORT', 53)], 'out');
  }
  if (policy.blockAll) {
    add('block everything else', both, 0, 'FWP_ACTION_BLOCK', []);
  } else {
    for (const family of [4, 6] as const) {
      const prefixes = policy.prefixes.filter((prefix) => familyOf(prefix) === family);
      if (prefixes.length === 0) continue;
      add('block its AllowedIPs outside the tunnel', [family], 0, 'FWP_ACTION_BLOCK', prefixes.map((prefix) => ({ field: 'FWPM_CONDITION_IP_REMOTE_ADDRESS', match: 'FWP_MATCH_EQUAL', prefix }) as const));
    }
  }
  return filters;
}

/** The transaction that makes WFP hold exactly these policies (none: only the deletion). */
export function wfpKillSwitchCalls(policies: readonly KillSwitchPolicy[]): WfpCall[] {
  const sorted = [...policies].sort((a, b) => (a.tunnel < b.tunnel ? -1 : a.tunnel > b.tunnel ? 1 : 0));
  const luids = [...new Set(sorted.map((policy) => {
    if (policy.interfaceLuid === undefined || !LUID.test(policy.interfaceLuid)) {
      throw new OsValueError(`the kill switch of ${policy.tunnel} needs its interface's LUID on Windows`);
    }
    return policy.interfaceLuid;
  }))].sort();
  const calls: WfpCall[] = [{ call: 'DeleteProviderObjects', provider: WFP_PROVIDER_KEY }];
  if (sorted.length === 0) return calls;
  calls.push({ call: 'FwpmProviderAdd0', key: WFP_PROVIDER_KEY, name: 'Wirelane', flags: 'FWPM_PROVIDER_FLAG_PERSISTENT' });
  for (const policy of sorted) {
    calls.push({
      call: 'FwpmSubLayerAdd0',
      key: wfpSubLayerKey(policy.tunnel),
      provider: WFP_PROVIDER_KEY,
      name: `Wirelane kill switch of ${policy.tunnel}`,
      weight: 0xffff,
      flags: 'FWPM_SUBLAYER_FLAG_PERSISTENT',
    });
  }
  for (const policy of sorted) {
    for (const filter of wfpTunnelFilters(policy, luids)) {
      calls.push({ call: 'FwpmFilterAdd0', provider: WFP_PROVIDER_KEY, flags: 'FWPM_FILTER_FLAG_PERSISTENT', filter });
    }
  }
  return calls;
}

/** The calls as text, one a line (the golden form the unit tests compare, and the helper's debug log). */
export function describeWfpCalls(calls: readonly WfpCall[]): string {
  const condition = (c: WfpCondition): string => {
    const value = 'uint32' in c ? c.uint32 : 'uint64' in c ? c.uint64 : 'uint8' in c ? String(c.uint8) : 'uint16' in c ? String(c.uint16) : c.prefix;
    return `${c.field.replace('FWPM_CONDITION_', '')}=${value}`;
  };
  return calls
    .map((c) => {
      if (c.call === 'DeleteProviderObjects') return `delete all of provider ${c.provider}`;
      if (c.call === 'FwpmProviderAdd0') return `FwpmProviderAdd0 ${c.key} "${c.name}" ${c.flags}`;
      if (c.call === 'FwpmSubLayerAdd0') return `FwpmSubLayerAdd0 ${c.key} "${c.name}" weight=${c.weight} ${c.flags}`;
      const f = c.filter;
      const action = f.action === 'FWP_ACTION_PERMIT' ? 'permit' : 'block';
      return `FwpmFilterAdd0 ${f.layer.replace('FWPM_LAYER_', '')} w=${f.weight} ${action} [${f.conditions.map(condition).join(' ')}] "${f.name}"`;
    })
    .join('\n')
    .concat('\n');
}

/** The Windows firewall: one transaction through the addon's WFP binding. */
export function wfpFirewall(api: WfpApi): KillSwitchFirewall {
  return {
    enforce: (policies) => api.transaction(wfpKillSwitchCalls(policies)),
  };
}
