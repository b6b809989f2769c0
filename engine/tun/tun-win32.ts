/**
 * Windows: a Wintun adapter (wintun.dll, loaded from beside the executable). The adapter is
 * created with the given name; the session's ring buffers are drained on the event loop
 * whenever Wintun's read-wait event fires. Wintun reports a removed adapter as the end of
 * the ring (ERROR_HANDLE_EOF), which the addon turns into onClosed.
 */
import { ioAddon } from '../native/addon.js';
import { NativeTun, type NativeTunOptions } from './native-tun.js';

/** Creates the Wintun adapter `name`; `mtu` is recorded (Windows sets the MTU per IP interface, in engine/os). */
export function openWin32Tun(name: string, mtu: number, options: NativeTunOptions = {}): NativeTun {
  const addon = ioAddon();
  const handle = addon.tunOpen(name, mtu);
  return new NativeTun(handle, mtu, { watchInterface: false, ...options }, addon);
}
