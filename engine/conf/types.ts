/**
 * A tunnel as a wg-quick .conf file describes it. Keys are raw 32-byte values (see engine/keys.ts
 * for their text forms); prefixes are engine/routing/cidr.ts values.
 */
import type { Cidr } from '../routing/cidr.js';

export interface TunnelInterface {
  privateKey: Uint8Array;
  listenPort?: number;
  fwMark?: number;
  /** The interface's own addresses, host bits kept ("10.0.0.1/24" stays as written). */
  addresses: Cidr[];
  /** DNS entries split as wg-quick splits them: IP literals are servers, the rest search domains. */
  dns: { servers: string[]; searchDomains: string[] };
  mtu?: number;
  /** wg-quick's routing table: off (no routes), auto (the default) or a table number. */
  table?: 'off' | 'auto' | number;
  /** Shell commands, in file order. Kept, never run unless an administrator allowed scripts. */
  preUp: string[];
  postUp: string[];
  preDown: string[];
  postDown: string[];
  saveConfig: boolean;
}

export interface TunnelEndpoint {
  /** An IP literal (IPv6 without brackets) or a hostname still to be resolved. */
  host: string;
  port: number;
}

export interface TunnelPeer {
  publicKey: Uint8Array;
  presharedKey?: Uint8Array;
  /** Routes to this peer, host bits cleared as wg clears them. */
  allowedIps: Cidr[];
  endpoint?: TunnelEndpoint;
  /** Seconds; 0 is off. */
  persistentKeepalive?: number;
}

export interface TunnelConfig {
  interface: TunnelInterface;
  peers: TunnelPeer[];
}

/** One problem in a .conf file: the 1-based line, the key it concerns (as wg-quick spells it,
 *  or as written for unknown keys; '' for section lines) and what is wrong. */
export interface ConfError {
  line: number;
  key: string;
  message: string;
}

export type ConfParseResult = { ok: true; config: TunnelConfig } | { ok: false; errors: ConfError[] };
