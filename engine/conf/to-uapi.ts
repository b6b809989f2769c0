/**
 * Turns a parsed tunnel into the UAPI request that configures a device with it, as
 * `wg setconf` would: replace every peer, and each peer's allowed IPs.
 *
 * One difference: `wg setconf` sends listen_port=0 for a file without ListenPort (and for
 * `ListenPort = 0`), which makes a device drop its port and bind a new random one. The request
 * is for a device just created, already listening on a port the system chose, so no ListenPort
 * and `ListenPort = 0` both leave listen_port out and the device keeps its socket.
 *
 * The UAPI takes endpoints as IP literals only. Hostnames are resolved by the caller (which
 * owns the resolver, its timeouts and the choice between A and AAAA) and passed in `resolved`:
 * hostname -> IP literal. A hostname missing from it is an error, not a silent omission.
 */
import { parseAddress, formatAddress } from '../routing/cidr.js';
import { PrefixChanges } from '../routing/prefix-changes.js';
import type { UapiPeerChange, UapiSetRequest } from '../uapi/types.js';
import type { TunnelConfig } from './types.js';

export type ToUapiResult = { ok: true; request: UapiSetRequest } | { ok: false; message: string };

/** The hostnames among the peers' endpoints, which the caller must resolve first. */
export function endpointHostnames(config: TunnelConfig): string[] {
  const names = new Set<string>();
  for (const peer of config.peers) if (peer.endpoint && !parseAddress(peer.endpoint.host)) names.add(peer.endpoint.host);
  return [...names];
}

export function toUapiSetRequest(config: TunnelConfig, resolved: ReadonlyMap<string, string> = new Map()): ToUapiResult {
  const peers: UapiPeerChange[] = [];
  for (const peer of config.peers) {
    const change: UapiPeerChange = {
      publicKey: peer.publicKey,
      remove: false,
      updateOnly: false,
      replaceAllowedIps: true,
      allowedIps: PrefixChanges.from(peer.allowedIps),
    };
    if (peer.presharedKey) change.presharedKey = peer.presharedKey;
    if (peer.persistentKeepalive !== undefined) change.persistentKeepaliveInterval = peer.persistentKeepalive;
    if (peer.endpoint) {
      const { host, port } = peer.endpoint;
      const literal = parseAddress(host) ? host : resolved.get(host);
      const address = literal === undefined ? null : parseAddress(literal);
      if (!address) {
        return {
          ok: false,
          message:
            literal === undefined
              ? `the endpoint host '${host}' must be resolved to an IP address first`
              : `'${literal}', given as the address of '${host}', is not an IP address`,
        };
      }
      const text = formatAddress(address);
      change.endpoint = address.length === 16 ? `[${text}]:${port}` : `${text}:${port}`;
    }
    peers.push(change);
  }
  const request: UapiSetRequest = { privateKey: config.interface.privateKey, replacePeers: true, peers };
  const listenPort = config.interface.listenPort;
  if (listenPort !== undefined && listenPort !== 0) request.listenPort = listenPort;
  if (config.interface.fwMark !== undefined) request.fwmark = config.interface.fwMark;
  return { ok: true, request };
}
