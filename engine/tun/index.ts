/** Opens the TUN device for the platform we run on. */
import type { NativeTunOptions } from './native-tun.js';
import { openDarwinTun } from './tun-darwin.js';
import { openLinuxTun } from './tun-linux.js';
import { openWin32Tun } from './tun-win32.js';
import type { TunDevice } from './tun.js';

export type { TunDevice, OpenTun } from './tun.js';
export type { PacketBatch } from '../packet-buffer.js';
export { HEADROOM, TAILROOM } from '../packet-buffer.js';

/** Opens or creates the TUN interface `name` with MTU `mtu` ("utun" on macOS lets the kernel choose). */
export function openTun(name: string, mtu: number, options: NativeTunOptions = {}): TunDevice {
  switch (process.platform) {
    case 'linux':
      return openLinuxTun(name, mtu, options);
    case 'darwin':
      return openDarwinTun(name, mtu, options);
    case 'win32':
      return openWin32Tun(name, mtu, options);
    default:
      throw new Error(`TUN devices are not supported on ${process.platform}`);
  }
}
