/**
 * The cross-platform userspace API (wireguard.com/xplatform) as typed values.
 *
 * A `set=1` request is parsed whole into a UapiSetRequest before anything is applied, so a bad
 * line changes nothing. A `get=1` reply is formatted from a UapiDeviceSnapshot.
 */
import type { Cidr } from '../routing/cidr.js';

export interface UapiPeerChange {
  publicKey: Uint8Array;
  /** remove=true: delete this peer; nothing else in the change applies. */
  remove: boolean;
  /** update_only=true: only change the peer if it already exists. */
  updateOnly: boolean;
  /** An all-zero key removes the preshared key. */
  presharedKey?: Uint8Array;
  /** "host:port" or "[v6]:port" with an IP literal, as sent by wg. */
  endpoint?: string;
  /** Seconds; 0 disables. */
  persistentKeepaliveInterval?: number;
  replaceAllowedIps: boolean;
  allowedIps: Cidr[];
}

export interface UapiSetRequest {
  /** An all-zero key removes the private key. */
  privateKey?: Uint8Array;
  listenPort?: number;
  /** 0 removes the mark. */
  fwmark?: number;
  replacePeers: boolean;
  peers: UapiPeerChange[];
}

export interface UapiPeerSnapshot {
  publicKey: Uint8Array;
  presharedKey: Uint8Array | null;
  endpoint: string | null;
  persistentKeepaliveInterval: number;
  /** Wall clock of the last completed handshake, 0/0 when none. */
  lastHandshakeTimeSec: number;
  lastHandshakeTimeNsec: number;
  rxBytes: number;
  txBytes: number;
  allowedIps: Cidr[];
}

export interface UapiDeviceSnapshot {
  privateKey: Uint8Array | null;
  listenPort: number;
  fwmark: number;
  peers: UapiPeerSnapshot[];
}

/** errno values the UAPI answers with (as wireguard-go does: EINVAL for bad input, EIO...). */
export const UAPI_EINVAL = 22;
export const UAPI_EIO = 5;
export const UAPI_EPROTO = 71;
export const UAPI_ENOENT = 2;

/** A failed UAPI request: the errno to answer with and a message naming the key. */
export interface UapiError {
  errno: number;
  message: string;
}

/** What the UAPI server drives: the device. */
export interface UapiTarget {
  snapshot(): UapiDeviceSnapshot;
  /** Applies a parsed request; returns null on success or the error to answer with. */
  applySet(request: UapiSetRequest): UapiError | null;
}
