import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TunnelManager, WAKE_JUMP_MS, type Clock, type RunningTunnel } from '../../engine/helper/tunnel-manager.js';
import { concernsOwnInterface } from '../../engine/helper/network-watch.js';
import { LOG_RING_LINES, type TunnelStatus } from '../../engine/helper/protocol.js';
import { silentLogger } from '../../engine/logger.js';

/** A running tunnel whose server answered at once (a handshake completed at Unix ms 1000). */
function fakeTunnel() {
  let closed: ((reason: string) => void) | null = null;
  const tunnel = {
    rehandshakes: 0,
    downs: 0,
    stats: () => ({ latestHandshake: 1000, rxBytes: 0, txBytes: 0, endpoint: null }),
    details: () => ({ interfaceName: 'x', publicKey: '', listenPort: 0, fwmark: 0, peers: [] }),
    rehandshakeAll() {
      tunnel.rehandshakes++;
    },
    onClosed(listener: (reason: string) => void) {
      closed = listener;
    },
    async down() {
      tunnel.downs++;
    },
    vanish(reason: string) {
      closed?.(reason);
    },
  };
  return tunnel satisfies RunningTunnel;
}

function clock(): Clock & { wall: number; mono: number } {
  const c = { wall: 1_000_000, mono: 0, wallMs: () => c.wall, monotonicMs: () => c.mono };
  return c;
}

test('a wall clock jump ahead of the monotonic clock (sleep) re-handshakes connected tunnels', async () => {
  const c = clock();
  const tunnel = fakeTunnel();
  const manager = new TunnelManager({ launcher: { up: async () => tunnel }, readConf: () => '', logger: silentLogger, clock: c });
  await manager.connect('office');
  assert.equal(tunnel.rehandshakes, 1, 'connect starts a handshake');
  manager.tick();
  c.wall += 1000;
  c.mono += 1000;
  manager.tick();
  assert.equal(tunnel.rehandshakes, 1, 'a normal second is not a wake');
  c.wall += 1000 + WAKE_JUMP_MS + 60_000; // slept a minute: the monotonic clock stood still
  c.mono += 1000;
  manager.tick();
  assert.equal(tunnel.rehandshakes, 2);
  assert.ok(manager.logs('office').some((e) => e.message.includes('woke from sleep') || e.message.includes('re-handshaking')));
});

test('connects are serialised per tunnel and a second connect does not bring it up twice', async () => {
  let ups = 0;
  const manager = new TunnelManager({
    launcher: {
      up: async () => {
        ups++;
        await new Promise((r) => setTimeout(r, 20));
        return fakeTunnel();
      },
    },
    readConf: () => '',
    logger: silentLogger,
  });
  const [a, b] = await Promise.all([manager.connect('office'), manager.connect('office')]);
  assert.equal(ups, 1);
  assert.equal(a.status.state, 'connected');
  assert.equal(b.status.state, 'connected');
});

test('an interface that vanishes turns the tunnel to failed with a reason, and it is taken down', async () => {
  const tunnel = fakeTunnel();
  const seen: TunnelStatus[][] = [];
  const manager = new TunnelManager({ launcher: { up: async () => tunnel }, readConf: () => '', logger: silentLogger, onStatus: (s) => seen.push(s) });
  await manager.connect('office');
  tunnel.vanish('the interface office was removed');
  assert.deepEqual(manager.status('office').status, { state: 'failed', reason: 'the interface office was removed' });
  assert.equal(tunnel.downs, 1);
  assert.equal(manager.isActive('office'), false);
  assert.deepEqual(
    seen.map((s) => s[0]?.status.state),
    ['connecting', 'connected', 'failed'],
  );
});

test('a launcher failure becomes failed {reason} on one line; the log ring stays bounded', async () => {
  const manager = new TunnelManager({
    launcher: { up: async () => Promise.reject(new Error('cannot resolve the endpoint host\nvpn.example')) },
    readConf: () => '',
    logger: silentLogger,
  });
  const status = await manager.connect('office');
  assert.deepEqual(status.status, { state: 'failed', reason: 'cannot resolve the endpoint host vpn.example' });
  for (let i = 0; i < LOG_RING_LINES; i++) await manager.connect('office');
  assert.equal(manager.logs('office').length, LOG_RING_LINES);
});

test('network monitor lines about our own tunnels are not network changes', () => {
  assert.equal(concernsOwnInterface('5: office: <POINTOPOINT,UP> mtu 1420', ['office']), true);
  assert.equal(concernsOwnInterface('10.0.0.2 dev office scope link', ['office']), true);
  assert.equal(concernsOwnInterface('default via 192.0.2.1 dev eth0', ['office']), false);
  assert.equal(concernsOwnInterface('2: office2: <UP>', ['office']), false);
});

test('a helper shutdown takes every tunnel down but keeps its kill switch; turning a tunnel off releases it', async () => {
  const offs: string[] = [];
  const tunnels = { office: fakeTunnel(), home: fakeTunnel() };
  const manager = new TunnelManager({
    launcher: {
      up: async (name) => tunnels[name as keyof typeof tunnels],
      off: async (name) => {
        offs.push(name);
      },
    },
    readConf: () => '',
    logger: silentLogger,
  });
  await manager.connect('office');
  await manager.connect('home');
  await manager.disconnect('home');
  assert.deepEqual(offs, ['home'], 'the user turning a tunnel off releases its kill switch');
  await manager.stop();
  assert.equal(tunnels.office.downs, 1, 'shutdown takes the tunnel down');
  assert.deepEqual(offs, ['home'], 'shutdown leaves the kill switch of a tunnel still on in force');
  assert.equal(manager.status('office').status.state, 'disconnected');
});
