/**
 * Writes a TunnelConfig back as wg-quick .conf text, in wg-quick's key spelling and order, such
 * that parseConf(serialiseConf(c)) gives c again. Also the "setconf" view: only the keys
 * `wg setconf` understands (what `wg-quick strip` prints), for handing to wg or a UAPI device.
 */
import { keyToBase64 } from '../keys.js';
import { formatCidr } from '../routing/cidr.js';
import type { TunnelConfig, TunnelEndpoint, TunnelPeer } from './types.js';

/** "192.0.2.1:51820", "[fd00::1]:51820", "vpn.example.com:51820" */
export function formatEndpoint(endpoint: TunnelEndpoint): string {
  return endpoint.host.includes(':') ? `[${endpoint.host}]:${endpoint.port}` : `${endpoint.host}:${endpoint.port}`;
}

function assertOneLine(what: string, value: string): void {
  // A newline or '#' would change the meaning of the file when read back; configs come from
  // parseConf, so this is a programming error, not bad input.
  if (/[\n\r#]/.test(value)) throw new RangeError(`${what} cannot be written to a .conf file: it contains a newline or '#'`);
}

/** The full wg-quick file. */
export function serialiseConf(config: TunnelConfig): string {
  const i = config.interface;
  const lines: string[] = ['[Interface]', `PrivateKey = ${keyToBase64(i.privateKey)}`];
  if (i.listenPort !== undefined) lines.push(`ListenPort = ${i.listenPort}`);
  if (i.fwMark !== undefined) lines.push(`FwMark = 0x${i.fwMark.toString(16)}`);
  if (i.addresses.length > 0) lines.push(`Address = ${i.addresses.map(formatCidr).join(', ')}`);
  const dns = [...i.dns.servers, ...i.dns.searchDomains];
  dns.forEach((entry) => assertOneLine('a DNS entry', entry));
  if (dns.length > 0) lines.push(`DNS = ${dns.join(', ')}`);
  if (i.mtu !== undefined) lines.push(`MTU = ${i.mtu}`);
  if (i.table !== undefined) lines.push(`Table = ${i.table}`);
  const hooks: [string, string[]][] = [
    ['PreUp', i.preUp],
    ['PostUp', i.postUp],
    ['PreDown', i.preDown],
    ['PostDown', i.postDown],
  ];
  for (const [key, commands] of hooks) {
    for (const command of commands) {
      assertOneLine(key, command);
      lines.push(`${key} = ${command}`);
    }
  }
  if (i.saveConfig) lines.push('SaveConfig = true');
  for (const peer of config.peers) lines.push('', ...peerLines(peer));
  return lines.join('\n') + '\n';
}

function peerLines(peer: TunnelPeer): string[] {
  const lines = ['[Peer]', `PublicKey = ${keyToBase64(peer.publicKey)}`];
  if (peer.presharedKey) lines.push(`PresharedKey = ${keyToBase64(peer.presharedKey)}`);
  if (peer.allowedIps.length > 0) lines.push(`AllowedIPs = ${peer.allowedIps.map(formatCidr).join(', ')}`);
  if (peer.endpoint) {
    assertOneLine('an endpoint', peer.endpoint.host);
    lines.push(`Endpoint = ${formatEndpoint(peer.endpoint)}`);
  }
  if (peer.persistentKeepalive !== undefined) lines.push(`PersistentKeepalive = ${peer.persistentKeepalive}`);
  return lines;
}

/**
 * The keys `wg setconf` / `wg syncconf` accept: PrivateKey, ListenPort, FwMark and the peers.
 * Address, DNS, MTU, Table, the hooks and SaveConfig are wg-quick's alone and are left out.
 */
export function serialiseSetconf(config: TunnelConfig): string {
  const i = config.interface;
  const lines: string[] = ['[Interface]', `PrivateKey = ${keyToBase64(i.privateKey)}`];
  if (i.listenPort !== undefined) lines.push(`ListenPort = ${i.listenPort}`);
  if (i.fwMark !== undefined) lines.push(`FwMark = 0x${i.fwMark.toString(16)}`);
  for (const peer of config.peers) lines.push('', ...peerLines(peer));
  return lines.join('\n') + '\n';
}
