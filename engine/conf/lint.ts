/**
 * The configuration linter: warnings about a .conf file that parses but will likely not do what
 * its author wants. Each warning has the line it concerns and a plain sentence that says why it
 * matters and what to do. Warnings never stop an import: errors (parse.ts) do.
 *
 * What it looks for:
 *   - all IPv4 routed into the tunnel but not IPv6 (or the reverse): the other family leaks;
 *   - a set of prefixes that routes a whole family without saying 0.0.0.0/0 or ::/0 (/1 halves):
 *     a full tunnel in disguise (routed as one here, but not by every WireGuard app);
 *   - the same or nested prefixes on two peers of the tunnel, or overlapping another stored
 *     tunnel's prefixes;
 *   - an Endpoint inside the tunnel's own AllowedIPs without the full-tunnel routing that keeps
 *     it outside: a routing loop;
 *   - DNS servers outside every peer's AllowedIPs: lookups travel outside the tunnel;
 *   - a peer whose PublicKey is the tunnel's own;
 *   - no PersistentKeepalive where this side dials out from a random port with a private tunnel
 *     address, so others reaching it through a NAT would be cut off after an idle spell.
 *
 * The linter reads the text for line numbers (the parsed config keeps none) and takes the parsed
 * config for values; it is only called on text that parsed without errors, so both describe the
 * same sections in the same order.
 */
import { formatAddress, formatCidr, maskCidr, parseAddress, parseCidr, type Cidr } from '../routing/cidr.js';
import { coversWholeFamily, prefixContains, prefixContainsAddress, prefixesOverlap } from '../routing/prefix-sets.js';
import type { TunnelConfig } from './types.js';

/** One warning: the 1-based line, the key it concerns (as wg-quick spells it) and why it matters. */
export interface ConfWarning {
  line: number;
  key: string;
  message: string;
}

export interface LintContext {
  /** The public key of the tunnel's own PrivateKey (the linter does no cryptography). */
  ownPublicKey: Uint8Array;
  /** The other stored tunnels, for overlapping prefixes; the helper knows them, a file alone does not. */
  otherTunnels?: readonly { name: string; config: TunnelConfig }[];
}

/** Where things are in the text: the lines of sections, keys and list items. */
interface LocatedPeer {
  line: number;
  keyLines: Map<string, number>;
  /** Each AllowedIPs item (masked, as the parser stores it) with its line, in file order. */
  allowedIps: { cidr: Cidr; line: number }[];
}

interface LocatedConf {
  interfaceLine: number;
  keyLines: Map<string, number>;
  /** DNS servers as the parser formats them, with their line. */
  dnsLines: Map<string, number>;
  peers: LocatedPeer[];
}

/** Mirrors parse.ts's reading of lines: '#' comments, [Section] headers, "Key = value". */
function locate(text: string): LocatedConf {
  const located: LocatedConf = { interfaceLine: 1, keyLines: new Map(), dnsLines: new Map(), peers: [] };
  let section: 'none' | 'interface' | 'peer' = 'none';
  const lines = text.replace(/^\ufeff/, '').split('\n');
  lines.forEach((raw, index) => {
    const line = index + 1;
    const hash = raw.indexOf('#');
    const content = (hash >= 0 ? raw.slice(0, hash) : raw).trim();
    if (content === '') return;
    const header = content.toLowerCase();
    if (header === '[interface]') {
      section = 'interface';
      located.interfaceLine = line;
      return;
    }
    if (header === '[peer]') {
      section = 'peer';
      located.peers.push({ line, keyLines: new Map(), allowedIps: [] });
      return;
    }
    const equals = content.indexOf('=');
    if (equals < 0 || section === 'none') return;
    const key = content.slice(0, equals).trim().toLowerCase();
    const value = content.slice(equals + 1).trim();
    const items = value
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== '');
    if (section === 'interface') {
      if (!located.keyLines.has(key)) located.keyLines.set(key, line);
      if (key === 'dns') {
        for (const item of items) {
          const address = parseAddress(item);
          if (address) {
            const server = formatAddress(address);
            if (!located.dnsLines.has(server)) located.dnsLines.set(server, line);
          }
        }
      }
      return;
    }
    const peer = located.peers[located.peers.length - 1]!;
    if (!peer.keyLines.has(key)) peer.keyLines.set(key, line);
    if (key === 'allowedips') {
      for (const item of items) {
        const parsed = parseCidr(item);
        if (parsed.ok) peer.allowedIps.push({ cidr: maskCidr(parsed.cidr), line });
      }
    }
  });
  return located;
}

const FAMILY_DEFAULT = { 4: '0.0.0.0/0', 6: '::/0' } as const;
const FAMILY_NAME = { 4: 'IPv4', 6: 'IPv6' } as const;

/**
 * Whether the helper gives `family` full-tunnel routing, which keeps the WireGuard packets to the
 * endpoint outside the tunnel (Linux: a table of its own chosen by fwmark; macOS: /1 halves plus a
 * host route to the endpoint). As engine/os/plan.ts decides it: Table auto and AllowedIPs that
 * cover the family whole (fullTunnelFamilies in engine/helper/conf-info.ts, the same cover test).
 */
function getsFullTunnelRouting(config: TunnelConfig, family: 4 | 6, covered: Record<4 | 6, boolean>): boolean {
  return (config.interface.table ?? 'auto') === 'auto' && covered[family];
}

function listed(prefixes: readonly Cidr[], max = 4): string {
  const shown = prefixes.slice(0, max).map(formatCidr).join(', ');
  return prefixes.length > max ? `${shown} and ${prefixes.length - max} more` : shown;
}

/** Private, shared and unique-local ranges: addresses a NAT router hands out or a tunnel uses inside. */
const PRIVATE_RANGES = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', 'fc00::/7'].map((text) => {
  const parsed = parseCidr(text);
  if (!parsed.ok) throw new Error(`bad built-in range ${text}`);
  return parsed.cidr;
});

function isPrivateAddress(address: Uint8Array): boolean {
  return PRIVATE_RANGES.some((range) => prefixContainsAddress(range, address));
}

function keysEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/** Every warning for a configuration that parsed, in line order. */
export function lintConf(text: string, config: TunnelConfig, context: LintContext): ConfWarning[] {
  const located = locate(text);
  const warnings: ConfWarning[] = [];
  const warn = (line: number, key: string, message: string) => warnings.push({ line, key, message });
  const peerAt = (index: number): LocatedPeer => located.peers[index] ?? { line: located.interfaceLine, keyLines: new Map(), allowedIps: [] };
  const tableOff = config.interface.table === 'off';

  // Every AllowedIPs prefix of the tunnel with the peer it belongs to and its line.
  const routed = config.peers.flatMap((peer, peerIndex) =>
    peer.allowedIps.map((cidr) => ({
      cidr,
      peerIndex,
      line: peerAt(peerIndex).allowedIps.find((item) => formatCidr(item.cidr) === formatCidr(cidr))?.line ?? peerAt(peerIndex).line,
    })),
  );
  const allPrefixes = routed.map((r) => r.cidr);
  const covered = { 4: coversWholeFamily(allPrefixes, 4), 6: coversWholeFamily(allPrefixes, 6) };
  const firstLineOf = (family: 4 | 6, preferDefault: boolean) =>
    (preferDefault ? routed.find((r) => r.cidr.family === family && r.cidr.bits === 0) : undefined)?.line ??
    routed.find((r) => r.cidr.family === family)?.line ??
    located.interfaceLine;

  // --- a whole family routed, the other not --------------------------------------------------
  if (!tableOff) {
    for (const [full, other] of [
      [4, 6],
      [6, 4],
    ] as const) {
      if (!covered[full] || covered[other]) continue;
      warn(
        firstLineOf(full, true),
        'AllowedIPs',
        `all ${FAMILY_NAME[full]} traffic goes through the tunnel but ${FAMILY_NAME[other]} does not, so ${FAMILY_NAME[other]} connections leave outside it, ` +
          `unprotected, unless the kill switch blocks them; add ${FAMILY_DEFAULT[other]} to AllowedIPs (the tunnel then carries or drops that traffic) or keep the kill switch on`,
      );
    }
  }

  // --- a full tunnel in disguise -----------------------------------------------------------------
  for (const family of [4, 6] as const) {
    if (!covered[family] || allPrefixes.some((c) => c.family === family && c.bits === 0)) continue;
    const prefixes = allPrefixes.filter((c) => c.family === family);
    warn(
      firstLineOf(family, false),
      'AllowedIPs',
      `${listed(prefixes)} together cover every ${FAMILY_NAME[family]} address: this is a full tunnel written another way; Wirelane routes it as one, ` +
        `but people reading the file may not see it, and other WireGuard apps may not either (wg-quick then routes the tunnel's own packets into it, a loop); ` +
        `write ${FAMILY_DEFAULT[family]} so the file says what it does`,
    );
  }

  // --- overlapping prefixes between peers of this tunnel ---------------------------------------
  for (let i = 0; i < routed.length; i++) {
    const a = routed[i]!;
    for (let j = i + 1; j < routed.length; j++) {
      const b = routed[j]!;
      if (a.peerIndex === b.peerIndex || !prefixesOverlap(a.cidr, b.cidr)) continue;
      if (a.cidr.bits === b.cidr.bits) {
        // WireGuard gives a prefix to one peer: setting it on a later peer takes it from the earlier.
        warn(
          a.line,
          'AllowedIPs',
          `${formatCidr(a.cidr)} is also in the AllowedIPs of the peer on line ${peerAt(b.peerIndex).line}; WireGuard routes a prefix to one peer only, ` +
            `the last one listed, so this peer gets no traffic for it; remove it from one of the two peers`,
        );
        continue;
      }
      const [outer, inner] = prefixContains(a.cidr, b.cidr) ? [a, b] : [b, a];
      // A specific route beside a default route is the usual hub layout, not a mistake.
      if (outer.cidr.bits === 0) continue;
      warn(
        inner.line,
        'AllowedIPs',
        `${formatCidr(inner.cidr)} lies inside ${formatCidr(outer.cidr)} of the peer on line ${peerAt(outer.peerIndex).line}: traffic to ${formatCidr(inner.cidr)} ` +
          `goes to this peer and the rest to that one; if a subnet behind this peer is what you mean, keep it, otherwise remove the overlap`,
      );
    }
  }

  // --- overlapping prefixes with other stored tunnels ------------------------------------------
  for (const other of context.otherTunnels ?? []) {
    const theirs = other.config.peers.flatMap((p) => p.allowedIps);
    // A full tunnel overlaps everything by design and has its own routing table; a split tunnel
    // beside it (the office beside a VPN service) is the normal case, not a collision.
    const theirFull = { 4: coversWholeFamily(theirs, 4), 6: coversWholeFamily(theirs, 6) };
    const reported = new Set<string>();
    for (const mine of routed) {
      const family = mine.cidr.family;
      if (covered[family] || theirFull[family]) continue;
      const clash = theirs.find((t) => prefixesOverlap(mine.cidr, t));
      if (!clash || reported.has(formatCidr(mine.cidr))) continue;
      reported.add(formatCidr(mine.cidr));
      const same = clash.bits === mine.cidr.bits;
      warn(
        mine.line,
        'AllowedIPs',
        same
          ? `${formatCidr(mine.cidr)} is also routed by the tunnel '${other.name}': the two cannot be connected at the same time (the second one's route collides); ` +
              `use different prefixes if you need both`
          : `${formatCidr(mine.cidr)} overlaps ${formatCidr(clash)} of the tunnel '${other.name}': while both are connected, the narrower prefix takes that part ` +
              `of the other's traffic; use prefixes that do not overlap if you need both at once`,
      );
    }
  }

  // --- an endpoint inside the tunnel's own AllowedIPs: a routing loop --------------------------
  if (!tableOff) {
    config.peers.forEach((peer, peerIndex) => {
      const host = peer.endpoint?.host;
      const address = host !== undefined ? parseAddress(host) : null;
      if (!address) return; // a hostname is resolved at connect time; nothing to compare yet
      const family = address.length === 4 ? 4 : 6;
      if (getsFullTunnelRouting(config, family, covered)) return;
      const inside = routed.find((r) => prefixContainsAddress(r.cidr, address));
      if (!inside) return;
      warn(
        peerAt(peerIndex).keyLines.get('endpoint') ?? peerAt(peerIndex).line,
        'Endpoint',
        `${host} is inside this tunnel's AllowedIPs (${formatCidr(inside.cidr)} on line ${inside.line}), so the encrypted packets to it would be routed ` +
          `into the tunnel itself, a loop in which the tunnel never comes up; take the endpoint's address out of AllowedIPs` +
          (covered[family] ? `, or set Table = auto, whose full-tunnel routing keeps the endpoint outside` : ''),
      );
    });
  }

  // --- DNS servers the tunnel does not reach -----------------------------------------------------
  for (const server of config.interface.dns.servers) {
    const address = parseAddress(server);
    if (!address || allPrefixes.some((c) => prefixContainsAddress(c, address))) continue;
    warn(
      located.dnsLines.get(server) ?? located.keyLines.get('dns') ?? located.interfaceLine,
      'DNS',
      `the DNS server ${server} is not inside any peer's AllowedIPs, so name lookups go to it outside the tunnel, where the network you are on can read ` +
        `and answer them; add ${server}/${address.length === 4 ? 32 : 128} to the AllowedIPs of the peer that serves it, or use a DNS server inside the tunnel`,
    );
  }

  // --- a peer with the tunnel's own key ----------------------------------------------------------
  config.peers.forEach((peer, peerIndex) => {
    if (!keysEqual(peer.publicKey, context.ownPublicKey)) return;
    warn(
      peerAt(peerIndex).keyLines.get('publickey') ?? peerAt(peerIndex).line,
      'PublicKey',
      `this is the tunnel's own public key (the one of its PrivateKey): a tunnel cannot talk to itself and WireGuard ignores such a peer; ` +
        `put the public key of the other side here`,
    );
  });

  // --- no keepalive where NAT would cut incoming traffic -----------------------------------------
  // What a file can tell: this side dials out (the peer has an Endpoint) from a port the system
  // picks (no ListenPort), so the peer can never start a conversation itself; and its tunnel
  // address is private, the layout of a network whose members reach each other. A full tunnel is
  // a client of a VPN service: its own outgoing traffic keeps a NAT mapping open.
  const privateAddress = config.interface.addresses.find((a) => isPrivateAddress(a.address));
  if (config.interface.listenPort === undefined && privateAddress && !covered[4] && !covered[6]) {
    config.peers.forEach((peer, peerIndex) => {
      if (!peer.endpoint || (peer.persistentKeepalive ?? 0) > 0) return;
      warn(
        peerAt(peerIndex).keyLines.get('endpoint') ?? peerAt(peerIndex).line,
        'PersistentKeepalive',
        `this side connects out from a random port (no ListenPort) and sends no keepalives: if it is behind a NAT router (most homes and mobile networks), ` +
          `the router forgets the tunnel after a short idle time and the peer can no longer reach ${formatAddress(privateAddress.address)} until this side sends something; ` +
          `add PersistentKeepalive = 25 to this peer if anything must reach this machine through the tunnel`,
      );
    });
  }

  return warnings.sort((a, b) => a.line - b.line);
}
