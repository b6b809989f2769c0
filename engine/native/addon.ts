/**
 * The wirelane_io addon (engine/native), loaded on first use and typed here.
 *
 * Handles are opaque External values; every function checks the handle's type tag, so a TUN
 * handle passed where a UDP one is expected throws instead of crashing. Errors thrown by the
 * addon carry `code` (the errno name, e.g. "EADDRINUSE") and a message saying what failed.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

declare const handleBrand: unique symbol;
/** An open TUN device inside the addon. */
export type TunHandle = { readonly [handleBrand]: 'tun' };
/** An open IPv4+IPv6 UDP socket pair inside the addon. */
export type UdpHandle = { readonly [handleBrand]: 'udp' };
/** A device's handshake filter (src/handshake_filter.c): keys, cookie secret, under-load state. */
export type HandshakeFilterHandle = { readonly [handleBrand]: 'handshake-filter' };

/** Counters each reader keeps (for diagnostics and benchmarks). */
export interface IoStats {
  batches: number;
  packets: number;
  largestBatch: number;
  /** Received packets dropped because they did not fit a slot. */
  oversized: number;
  /** Packets the OS refused on write/send (dropped). */
  writeDropped: number;
  /**
   * Linux offloads. UDP: datagrams that arrived inside UDP GRO messages (and were cut apart
   * again). TUN: received packets written to the TUN merged into TCP super-packets.
   */
  coalesced: number;
}

/** Called on the event loop with `count` packets in the slots, or with count 0 and an errno when the device failed. */
export type BatchCallback = (count: number, errno: number) => void;

/**
 * Bytes of the `sources` record the UDP reader writes per datagram: [family][1 if a local
 * address follows][port BE][16 address bytes][16 bytes: the local address it was sent to]
 * [interface index, u32 BE]. See src/udp_posix.c (sticky source). The C side's name for it is
 * SOURCE_RECORD_BYTES in src/io.h, which the addon exports as `sourceRecordBytes`; loading an
 * addon whose records differ fails (rather than reading every sender wrong).
 */
export const SOURCE_RECORD_BYTES = 40;

/**
 * The addon's exports. Function properties rather than methods: the C functions never use `this`,
 * so callers may take one off the object (`const { serviceStart } = ioAddon()`).
 */
export interface IoAddon {
  /** The addon's SOURCE_RECORD_BYTES (src/io.h). */
  readonly sourceRecordBytes: number;
  tunOpen: (name: string, mtu: number) => TunHandle;
  tunName: (tun: TunHandle) => string;
  /** The MTU, or -errno (e.g. -19, ENODEV, once the interface is deleted). */
  tunMtu: (tun: TunHandle) => number;
  tunSetMtu: (tun: TunHandle, mtu: number) => void;
  tunStart: (
    tun: TunHandle, buffer: Buffer, offsets: Int32Array, lengths: Int32Array,
    slotSize: number, headroom: number, packetCapacity: number, onEvent: BatchCallback,
  ) => void;
  tunWrite: (tun: TunHandle, buffer: Buffer, offsets: Int32Array, lengths: Int32Array, count: number) => number;
  tunClose: (tun: TunHandle) => void;
  tunStats: (tun: TunHandle) => IoStats;

  udpOpen: (port: number, mark: number) => UdpHandle;
  udpPort: (udp: UdpHandle) => number;
  /** Bit 1: the IPv4 socket is open; bit 2: the IPv6 socket is open. */
  udpFamilies: (udp: UdpHandle) => number;
  udpSetMark: (udp: UdpHandle, mark: number) => void;
  udpGetMark: (udp: UdpHandle, family: 4 | 6) => number;
  udpStart: (
    udp: UdpHandle, buffer: Buffer, offsets: Int32Array, lengths: Int32Array,
    slotSize: number, headroom: number, packetCapacity: number, sources: Uint8Array, onEvent: BatchCallback,
  ) => void;
  /**
   * Sends to one endpoint, from `source` (the local address, 4 or 16 bytes; empty: routing
   * chooses) where the OS has sticky sources. Returns the datagrams sent, or -(sent + 1) when
   * the OS refused the source and they went without it.
   */
  udpSend: (
    udp: UdpHandle, buffer: Buffer, offsets: Int32Array, lengths: Int32Array, count: number,
    family: 4 | 6, address: Uint8Array, port: number, source?: Uint8Array, sourceIfindex?: number,
  ) => number;
  /** Datagram i to the record i (SOURCE_RECORD_BYTES each) of `destinations` (the `sources` layout); returns how many were sent. */
  udpSendEach: (udp: UdpHandle, buffer: Buffer, offsets: Int32Array, lengths: Int32Array, count: number, destinations: Uint8Array) => number;
  udpClose: (udp: UdpHandle) => void;
  udpStats: (udp: UdpHandle) => IoStats;

  /** The cheap path of the handshake: see src/handshake_filter.c and engine/device/handshake-filter.ts. */
  handshakeFilterCreate: (underLoadThreshold: number, underLoadMs: number, cookieRefreshMs: number) => HandshakeFilterHandle;
  /** 32-byte mac1 and cookie keys of our public key, or two empty arrays while there is no private key. */
  handshakeFilterSetKeys: (filter: HandshakeFilterHandle, mac1Key: Uint8Array, cookieKey: Uint8Array) => void;
  /** Verdicts for datagrams indices[0..count) and cookie replies at replies[64 j]; returns how many replies. */
  handshakeFilterRun: (
    filter: HandshakeFilterHandle, buffer: Uint8Array, offsets: Int32Array, lengths: Int32Array, indices: Int32Array,
    count: number, sources: Uint8Array, verdicts: Uint8Array, replies: Uint8Array, now: number, queued: number,
  ) => number;
  /** BLAKE2s (RFC 7693) with `outLength` bytes of output, keyed when `key` is not empty (known-answer tests). */
  blake2s: (outLength: number, key: Uint8Array, data: Uint8Array) => Buffer;

  /**
   * Windows only (absent elsewhere): replaces the security descriptor of the named pipe
   * `pipeName`, which this process already serves, with the DACL (and mandatory label) of
   * `sddl`; returns the descriptor in effect afterwards, as SDDL. See src/pipe_win32.c.
   */
  pipeSetSecurity?: (pipeName: string, sddl: string) => string;
  /** Windows only: the SID ("S-1-5-...") of the group `name` ("COMPUTER\\group"), or null if there is no such group. */
  lookupGroupSid?: (name: string) => string | null;
  /** Windows only: the Service Control Manager protocol (src/service_win32.c, engine/helper/windows-service.ts). */
  serviceStart?: (name: string, onStop: (error: number) => void) => void;
  serviceSetRunning?: () => void;
  serviceStopped?: (exitCode: number) => void;

  /**
   * Linux and macOS only (absent on Windows): who is at the other end of the connected Unix
   * socket `fd`, as the kernel recorded it at connect(2) (effective uid and gid; SO_PEERCRED,
   * LOCAL_PEERCRED + LOCAL_PEERPID). Throws ENOTSOCK, EBADF, EAFNOSUPPORT (not a Unix socket)
   * or ENOTCONN (no peer). See src/peercred_posix.c.
   */
  peerCredentials?: (fd: number) => PeerCredentials;
}

/** The peer of a Unix socket: effective uid and gid at connect time, and its process id. */
export interface PeerCredentials {
  uid: number;
  gid: number;
  pid: number;
}

const ADDON_FILE = 'wirelane_io.node';

/** Where the built addon may be: beside this file's source, or from dist/engine/native back to the source tree. */
function candidatePaths(): string[] {
  const here = dirname(fileURLToPath(import.meta.url));
  const paths: string[] = [];
  const override = process.env['WIRELANE_IO_ADDON'];
  if (override) paths.push(override);
  paths.push(join(here, 'build', 'Release', ADDON_FILE));
  paths.push(join(here, '..', '..', '..', 'engine', 'native', 'build', 'Release', ADDON_FILE));
  return paths;
}

let loaded: IoAddon | undefined;

/** The addon, loaded on first call. Throws with the places looked in if it was not built. */
export function ioAddon(): IoAddon {
  if (loaded) return loaded;
  const paths = candidatePaths();
  const found = paths.find((path) => existsSync(path));
  if (!found) {
    throw new Error(
      `the wirelane_io addon is not built (looked in ${paths.join(', ')}); run npm ci or ` +
        '`npx node-gyp rebuild --directory engine/native`',
    );
  }
  const require = createRequire(import.meta.url);
  const addon = require(found) as IoAddon;
  if (addon.sourceRecordBytes !== SOURCE_RECORD_BYTES) {
    throw new Error(
      `the wirelane_io addon at ${found} writes ${String(addon.sourceRecordBytes)}-byte sender records, this build ` +
        `expects ${SOURCE_RECORD_BYTES}; rebuild it (npx node-gyp rebuild --directory engine/native)`,
    );
  }
  loaded = addon;
  return loaded;
}
