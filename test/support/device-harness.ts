/**
 * Two engine Devices joined by the in-memory network, and IP packet builders, for the device
 * unit, flood and fuzz tests.
 */
import { MemoryBind, MemoryNetwork } from '../../engine/conn/memory-bind.js';
import type { CookieGenerator } from '../../engine/noise/cookie.js';
import { MESSAGE_INITIATION, MESSAGE_INITIATION_SIZE } from '../../engine/noise/constants.js';
import { loadCryptoBackend } from '../../engine/crypto/index.js';
import type { CryptoBackend } from '../../engine/crypto/backend.js';
import { Device, type DeviceClock } from '../../engine/device/device.js';
import { silentLogger, type Logger } from '../../engine/logger.js';
import { parseCidr, parseAddress, type Cidr } from '../../engine/routing/cidr.js';
import { PrefixChanges, type PrefixChange } from '../../engine/routing/prefix-changes.js';
import { MemoryTun } from '../../engine/tun/memory-tun.js';
import type { UapiPeerChange, UapiSetRequest } from '../../engine/uapi/types.js';

export const crypto: CryptoBackend = loadCryptoBackend();

export function cidr(text: string): Cidr {
  const parsed = parseCidr(text);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.cidr;
}

export function ip(text: string): Uint8Array {
  const bytes = parseAddress(text);
  if (bytes === null) throw new Error(`bad address ${text}`);
  return bytes;
}

/** An IPv4 UDP-ish packet (protocol 17) from `src` to `dst` carrying `payload`; checksums are not checked by anyone here. */
export function ipv4Packet(src: string, dst: string, payload: Uint8Array | string): Uint8Array {
  const body = typeof payload === 'string' ? new TextEncoder().encode(payload) : payload;
  const packet = new Uint8Array(20 + body.length);
  packet[0] = 0x45;
  packet[2] = packet.length >> 8;
  packet[3] = packet.length & 0xff;
  packet[8] = 64;
  packet[9] = 17;
  packet.set(ip(src), 12);
  packet.set(ip(dst), 16);
  packet.set(body, 20);
  return packet;
}

export function ipv6Packet(src: string, dst: string, payload: Uint8Array | string): Uint8Array {
  const body = typeof payload === 'string' ? new TextEncoder().encode(payload) : payload;
  const packet = new Uint8Array(40 + body.length);
  packet[0] = 0x60;
  packet[4] = body.length >> 8;
  packet[5] = body.length & 0xff;
  packet[6] = 17;
  packet[7] = 64;
  packet.set(ip(src), 8);
  packet.set(ip(dst), 24);
  packet.set(body, 40);
  return packet;
}

/** A hand-stepped clock (monotonic and wall advance together). */
export class FakeClock implements DeviceClock {
  private monotonic = 1_000_000;
  private wall = Date.UTC(2024, 0, 1);
  now(): number {
    return this.monotonic;
  }
  wallNow(): number {
    return this.wall;
  }
  advance(ms: number): void {
    this.monotonic += ms;
    this.wall += ms;
  }
}

export interface Node {
  device: Device;
  tun: MemoryTun;
  bind: MemoryBind;
  privateKey: Uint8Array;
  publicKey: Uint8Array;
}

export function createNode(
  network: MemoryNetwork,
  address: string,
  options: { clock?: DeviceClock; logger?: Logger; name?: string; crypto?: CryptoBackend; handshakeFilter?: 'native' | 'js' } = {},
): Node {
  const tun = new MemoryTun(options.name ?? `mem-${address}`);
  const bind = new MemoryBind(network, address);
  const device = new Device({
    tun, bind, crypto: options.crypto ?? crypto, logger: options.logger ?? silentLogger,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.handshakeFilter ? { handshakeFilter: options.handshakeFilter } : {}),
  });
  const privateKey = crypto.generatePrivateKey();
  return { device, tun, bind, privateKey, publicKey: crypto.publicKey(privateKey) };
}

/** A peer change; its allowed IPs may be given as a list of prefixes. */
export function peerChange(
  publicKey: Uint8Array,
  fields: Partial<Omit<UapiPeerChange, 'allowedIps'>> & { allowedIps?: readonly PrefixChange[] } = {},
): UapiPeerChange {
  const { allowedIps = [], ...rest } = fields;
  return { publicKey, remove: false, updateOnly: false, replaceAllowedIps: false, ...rest, allowedIps: PrefixChanges.from(allowedIps) };
}

export function setRequest(fields: Partial<UapiSetRequest>): UapiSetRequest {
  return { replacePeers: false, peers: [], ...fields };
}

/**
 * A (192.0.2.1, tunnel 10.0.0.1 / fd00::1, port 51820) and B (192.0.2.2, tunnel 10.0.0.2 /
 * fd00::2, port 51821). A knows B's endpoint; B learns A's from the handshake.
 */
export function createPair(options: { clock?: DeviceClock; presharedKey?: Uint8Array; keepalive?: number; cryptoB?: CryptoBackend; handshakeFilter?: 'native' | 'js' } = {}): { network: MemoryNetwork; a: Node; b: Node } {
  const network = new MemoryNetwork();
  const a = createNode(network, '192.0.2.1', { ...options, name: 'memA' });
  const b = createNode(network, '192.0.2.2', { ...options, name: 'memB', ...(options.cryptoB ? { crypto: options.cryptoB } : {}) });
  const psk = options.presharedKey ? { presharedKey: options.presharedKey } : {};
  // B first: A may send an initiation at once (persistent keepalive), and B must be listening.
  const failB = b.device.applySet(
    setRequest({
      privateKey: b.privateKey,
      listenPort: 51821,
      peers: [peerChange(a.publicKey, { ...psk, allowedIps: [cidr('10.0.0.1/32'), cidr('fd00::1/128')] })],
    }),
  );
  const failA = a.device.applySet(
    setRequest({
      privateKey: a.privateKey,
      listenPort: 51820,
      peers: [peerChange(b.publicKey, { ...psk, endpoint: '192.0.2.2:51821', allowedIps: [cidr('10.0.0.2/32'), cidr('fd00::2/128')], ...(options.keepalive ? { persistentKeepaliveInterval: options.keepalive } : {}) })],
    }),
  );
  if (failA || failB) throw new Error(`setup failed: ${JSON.stringify(failA ?? failB)}`);
  return { network, a, b };
}

/** Waits (bounded, real time) until `check` holds, letting I/O callbacks and timers run. */
export async function eventually(what: string, check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

export function bytesEqual(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
}

/** Wraps a backend to count Diffie-Hellman operations (what a handshake flood costs). */
export function countingCrypto(inner: CryptoBackend): CryptoBackend & { dhCount: number } {
  const counting = Object.create(inner) as CryptoBackend & { dhCount: number };
  counting.dhCount = 0;
  counting.sharedSecret = (privateKey: Uint8Array, publicKey: Uint8Array) => {
    counting.dhCount++;
    return inner.sharedSecret(privateKey, publicKey);
  };
  return counting;
}

/**
 * A junk initiation (random body) carrying a valid mac1 for the generator's peer, and mac2 if the
 * generator holds a cookie: it passes the device's cheap checks and fails only at the first DH.
 */
export function junkInitiation(generator: CookieGenerator, now: number): Uint8Array {
  const message = new Uint8Array(MESSAGE_INITIATION_SIZE);
  crypto.randomFill(message);
  message[0] = MESSAGE_INITIATION;
  message[1] = message[2] = message[3] = 0;
  generator.addMacs(message, now);
  return message;
}
