/**
 * Stand-ins for a helper started in-process or as a process of its own by tests that look at
 * its control API, store or socket, not at tunnels: an OS layer that is never asked to change
 * anything, and a launcher whose tunnels come up at once with a completed handshake.
 */
import type { OsConfigurator } from '../../engine/os/types.js';
import type { RunningTunnel, TunnelLauncher } from '../../engine/helper/tunnel-manager.js';

/** An OS layer for helpers that never configure the system: recovery finds nothing to undo. */
export const noOs: OsConfigurator = {
  platform: 'linux',
  probe: () => Promise.reject(new Error('not used')),
  plan: () => {
    throw new Error('not used');
  },
  steps: () => [],
  apply: () => Promise.reject(new Error('not used')),
  revert: () => Promise.resolve({ journals: [], undone: [], failures: [] }),
  recover: () => Promise.resolve({ journals: [], undone: [], failures: [] }),
};

/** A launcher whose tunnels come up at once, their server having answered (handshake at 1000). */
export const fakeLauncher: TunnelLauncher = {
  async up(name): Promise<RunningTunnel> {
    return {
      stats: () => ({ latestHandshake: 1000, rxBytes: 0, txBytes: 0, endpoint: null }),
      details: () => ({ interfaceName: name, publicKey: '', listenPort: 1, fwmark: 0, peers: [] }),
      rehandshakeAll() {},
      onClosed() {},
      down: () => Promise.resolve(),
    };
  },
};
