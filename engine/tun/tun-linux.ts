/**
 * Linux TUN: /dev/net/tun (IFF_TUN | IFF_NO_PI). The engine creates the interface and sets
 * its MTU; addresses, routes and bringing it up belong to wg-quick / ip / the helper.
 * Deletion (`ip link del`, as `wg-quick down` does) is seen by the addon as a read error or
 * POLLERR, and by the once-a-second MTU check as ENODEV.
 */
import { ioAddon } from '../native/addon.js';
import { NativeTun, type NativeTunOptions } from './native-tun.js';

/** Opens (creating if needed) the TUN interface `name` and sets its MTU (0 keeps the current one). */
export function openLinuxTun(name: string, mtu: number, options: NativeTunOptions = {}): NativeTun {
  const addon = ioAddon();
  const handle = addon.tunOpen(name, mtu);
  return new NativeTun(handle, mtu, { watchInterface: true, ...options }, addon);
}
