/**
 * macOS utun. The kernel names utun interfaces itself: pass "utun" to get the next free one,
 * or "utunN" for a specific unit; `device.name` is the name it got. The addon strips the
 * 4-byte address-family header on read and adds it on write.
 *
 * For the engine command: wg-quick on macOS runs the userspace implementation with the name
 * "utun" and WG_TUN_NAME_FILE=/var/run/wireguard/<config>.name; wireguard-go then writes the
 * real utunN name into that file (and removes it on exit), and its UAPI socket is
 * /var/run/wireguard/utunN.sock. See writeTunNameFile.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { ioAddon } from '../native/addon.js';
import { NativeTun, type NativeTunOptions } from './native-tun.js';
import type { TunDevice } from './tun.js';

/** Opens a utun interface ("utun" or "utunN") and sets its MTU (0 keeps the current one). */
export function openDarwinTun(name: string, mtu: number, options: NativeTunOptions = {}): NativeTun {
  if (!/^utun\d*$/.test(name)) {
    throw new Error(`macOS TUN interfaces are named utun or utunN, not "${name}"`);
  }
  const addon = ioAddon();
  const handle = addon.tunOpen(name, mtu);
  // A utun interface lives as long as its socket; the check still notices an MTU change.
  return new NativeTun(handle, mtu, { watchInterface: true, ...options }, addon);
}

/**
 * Writes the interface name to the file named by WG_TUN_NAME_FILE, as wireguard-go does for
 * wg-quick on macOS. Returns a function that removes the file again (call it on exit).
 */
export function writeTunNameFile(device: TunDevice, env: NodeJS.ProcessEnv = process.env): () => void {
  const path = env['WG_TUN_NAME_FILE'];
  if (!path) return () => {};
  writeFileSync(path, `${device.name}\n`, { mode: 0o644 });
  return () => rmSync(path, { force: true });
}
