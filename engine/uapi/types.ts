/**
 * The cross-platform userspace API (wireguard.com/xplatform) as typed values.
 *
 * A `set=1` request is parsed whole into a UapiSetRequest before anything is applied, so a bad
 * line changes nothing. A `get=1` reply is formatted from a UapiDeviceSnapshot.
 */
import type { Cidr } from '../routing/cidr.js';
import type { PrefixChanges } from '../routing/prefix-changes.js';

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
  /** Applied in order: a prefix is added (moved to this peer), or with `remove` taken from it. */
  allowedIps: PrefixChanges;
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
  /**
   * Not part of the UAPI text: Unix ms since which the peer has left our data and handshake
   * initiations unanswered while an initiation waits (PeerSession.unansweredSince); null or
   * absent when none waits.
   */
  unansweredSinceMs?: number | null;
}

/**
 * A peer as get=1 reads it: a snapshot whose prefixes are visited rather than listed, so the
 * reply can be written straight from the routing table (see UapiTarget.view).
 */
export interface UapiPeerView extends Omit<UapiPeerSnapshot, 'allowedIps'> {
  /** Visits the prefixes in the snapshot's order; `address` is reused, valid only during the call. */
  forEachAllowedIp(visit: (family: 4 | 6, address: Uint8Array, bits: number) => void): void;
}

export interface UapiDeviceView extends Omit<UapiDeviceSnapshot, 'peers'> {
  peers: UapiPeerView[];
}

export interface UapiDeviceSnapshot {
  privateKey: Uint8Array | null;
  listenPort: number;
  fwmark: number;
  peers: UapiPeerSnapshot[];
}

/**
 * errno values the UAPI answers with (as wireguard-go does: EINVAL for bad input, EPROTO for a
 * line that is not key=value, EADDRINUSE for a taken port, EIO...). wireguard-go takes them from
 * the host's errno.h (golang.org/x/sys/unix) on Linux and macOS, where EPROTO and EADDRINUSE
 * differ, and uses Linux's numbers on Windows (ipc/uapi_windows.go); `wg` prints the host's
 * strerror of what it reads, so a Linux number on macOS would name the wrong error.
 */
const UAPI_ERRNO_LINUX = { ENOENT: 2, EIO: 5, EINVAL: 22, EPROTO: 71, EADDRINUSE: 98 } as const;
const UAPI_ERRNO_DARWIN = { ENOENT: 2, EIO: 5, EINVAL: 22, EPROTO: 100, EADDRINUSE: 48 } as const;
export type UapiErrnoName = keyof typeof UAPI_ERRNO_LINUX;

/** The errno number `name` has on `platform` (Linux's on Windows, as wireguard-go). */
export function uapiErrno(name: UapiErrnoName, platform: NodeJS.Platform = process.platform): number {
  return (platform === 'darwin' ? UAPI_ERRNO_DARWIN : UAPI_ERRNO_LINUX)[name];
}

export const UAPI_EINVAL = uapiErrno('EINVAL');
export const UAPI_EIO = uapiErrno('EIO');
export const UAPI_EPROTO = uapiErrno('EPROTO');
export const UAPI_ENOENT = uapiErrno('ENOENT');
export const UAPI_EADDRINUSE = uapiErrno('EADDRINUSE');

/** A failed UAPI request: the errno to answer with and a message naming the key. */
export interface UapiError {
  errno: number;
  message: string;
}

/** What the UAPI server drives: the device. */
export interface UapiTarget {
  snapshot(): UapiDeviceSnapshot;
  /**
   * What get=1 answers from, if the target has it (else snapshot()): the same state, but no
   * Cidr object per prefix, which with 131,000 prefixes cost more than the reply itself.
   */
  view?(): UapiDeviceView;
  /** Applies a parsed request; returns null on success or the error to answer with. */
  applySet(request: UapiSetRequest): UapiError | null;
}
