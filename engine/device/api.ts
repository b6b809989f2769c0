/**
 * What the helper and the wirelane-engine command drive: one WireGuard interface.
 *
 * Configuration goes through the same typed request the UAPI parses (engine/uapi/types.ts), so
 * `wg set`, the helper and the tests all change a device the same way.
 */
import type { UapiTarget } from '../uapi/types.js';
import type { TunDevice } from '../tun/tun.js';
import type { Bind } from '../conn/bind.js';
import type { CryptoBackend } from '../crypto/backend.js';
import type { Logger } from '../logger.js';

export interface DeviceOptions {
  tun: TunDevice;
  bind: Bind;
  crypto: CryptoBackend;
  logger: Logger;
}

export interface EngineDevice extends UapiTarget {
  readonly name: string;
  /** Re-handshakes every peer now (wake from sleep, network change). */
  rehandshakeAll(): void;
  /** Called once when the TUN interface disappears; the device has closed itself then. */
  onClosed(listener: () => void): void;
  /** Closes TUN and sockets, zeroes keys; idempotent. */
  close(): void;
}
