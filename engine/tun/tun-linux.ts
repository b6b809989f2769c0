/**
 * Linux TUN: /dev/net/tun (IFF_TUN | IFF_NO_PI). The engine creates the interface and sets
 * its MTU; addresses, routes and bringing it up belong to wg-quick / ip / the helper.
 * Deletion (`ip link del`, as `wg-quick down` does) is seen by the addon as a read error or
 * POLLERR, and by the once-a-second MTU check as ENODEV.
 */
import { ioAddon } from '../native/addon.js';
import { NativeTun, type NativeTunOptions } from './native-tun.js';

/**
 * Creates the TUN interface `name` and sets its MTU (0 keeps the current one). Never attaches to
 * an interface that exists already (IFF_TUN_EXCL): a persistent TUN someone else made, or any
 * other device of that name, would otherwise be taken over and deleted at disconnect.
 */
export function openLinuxTun(name: string, mtu: number, options: NativeTunOptions = {}): NativeTun {
  const addon = ioAddon();
  let handle;
  try {
    handle = addon.tunOpen(name, mtu);
  } catch (error) {
    if ((error as { code?: unknown }).code === 'EBUSY') {
      throw Object.assign(new Error(`an interface named ${name} exists already; Wirelane only uses interfaces it creates: rename the tunnel, or remove that interface (ip link del ${name})`), { code: 'EEXIST' });
    }
    throw error;
  }
  return new NativeTun(handle, mtu, { watchInterface: true, ...options }, addon);
}
