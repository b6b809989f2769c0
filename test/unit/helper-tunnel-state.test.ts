/**
 * The tunnel state tells the truth: never connected without a completed handshake, reconnecting
 * once handshakes go unanswered for about 15 s, connected again when the server answers. Checked
 * three ways with hand-stepped clocks: the pure rule (tunnel-state.ts), the engine's measurement
 * of "unanswered" on two PeerSessions joined in memory, and the TunnelManager that applies it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nextTunnelState, UNANSWERED_FOR_RECONNECTING_MS, type PeerMeasurement } from '../../engine/helper/tunnel-state.js';
import { TunnelManager, type Clock, type RunningTunnel } from '../../engine/helper/tunnel-manager.js';
import type { TunnelState, TunnelStatus } from '../../engine/helper/protocol.js';
import { silentLogger } from '../../engine/logger.js';
import { backends, Pair } from './noise-support.js';

const T0 = 1_700_000_000_000;
const peer = (latestHandshake: number | null, unansweredSince: number | null = null): PeerMeasurement => ({ latestHandshake, unansweredSince });

test('connecting stays connecting without a completed handshake, however long', () => {
  const connecting: TunnelState = { state: 'connecting', since: T0 };
  for (const after of [0, 5_000, 60_000, 3_600_000]) {
    assert.deepEqual(nextTunnelState(connecting, [peer(null, T0)], T0 + after), connecting);
  }
  assert.deepEqual(nextTunnelState(connecting, [], T0 + 60_000), connecting, 'no peer at all: never connected');
});

test('the first completed handshake makes it connected since that handshake', () => {
  const next = nextTunnelState({ state: 'connecting', since: T0 }, [peer(null, T0), peer(T0 + 1200), peer(T0 + 900)], T0 + 2000);
  assert.deepEqual(next, { state: 'connected', since: T0 + 900 });
});

test('connected becomes reconnecting once a peer has left us unanswered for 15 s, and back when it answers', () => {
  const connected: TunnelState = { state: 'connected', since: T0 };
  const silentFrom = T0 + 60_000;
  assert.deepEqual(nextTunnelState(connected, [peer(T0, silentFrom)], silentFrom + UNANSWERED_FOR_RECONNECTING_MS - 1), connected, 'not yet');
  const reconnecting = nextTunnelState(connected, [peer(T0, silentFrom)], silentFrom + UNANSWERED_FOR_RECONNECTING_MS);
  assert.deepEqual(reconnecting, { state: 'reconnecting', since: T0, unansweredSince: silentFrom });
  assert.equal(nextTunnelState(reconnecting, [peer(T0, silentFrom)], silentFrom + 60_000), reconnecting, 'unchanged while still unanswered');
  assert.deepEqual(nextTunnelState(reconnecting, [peer(silentFrom + 61_000, null)], silentFrom + 61_000), { state: 'connected', since: T0 });
});

test('states the engine does not own are left alone', () => {
  for (const state of [{ state: 'disconnected' }, { state: 'failed', reason: 'x' }] as TunnelState[]) {
    assert.equal(nextTunnelState(state, [peer(T0, T0)], T0 + 60_000), state);
  }
});

for (const { name, crypto, skip } of backends()) {
  test(`the engine's unansweredSince: set by a waiting initiation, from the first unanswered data; keepalives and answered rekeys never set it (${name})`, { skip }, () => {
    const p = new Pair(crypto!, { persistentKeepalive: [25, 0] });
    p.connect();
    assert.equal(p.a.session.unansweredSince, null, 'a completed handshake leaves nothing unanswered');
    // An idle tunnel with persistent keepalives only: they expect no answer.
    p.advance(110_000);
    assert.equal(p.a.session.unansweredSince, null);
    // A rekey (REKEY_AFTER_TIME) answered at once.
    p.advance(15_000);
    p.send(p.a, Uint8Array.of(0x45, 1, 1, 1));
    p.advance(1);
    assert.equal(p.a.session.unansweredSince, null, 'answered rekey');

    // The server goes silent: our data goes unanswered; after 15 s the engine starts handshaking.
    p.cut.add('b');
    const silentFrom = p.now;
    for (let i = 0; i < 30; i++) {
      p.send(p.a, Uint8Array.of(0x45, 2, 2, 2));
      p.advance(1000);
    }
    assert.equal(p.a.session.unansweredSince, silentFrom, 'unanswered since the first data it left unanswered');
    p.cut.delete('b');
    p.advance(6000);
    assert.equal(p.a.session.unansweredSince, null, 'the retry was answered');
  });
}

/** A running tunnel whose engine measurements the test sets. */
function scriptedTunnel() {
  const tunnel = {
    measured: [peer(null)] as PeerMeasurement[],
    rehandshakes: 0,
    stats: () => ({ latestHandshake: null, rxBytes: 0, txBytes: 0, endpoint: null }),
    peers: () => tunnel.measured,
    details: () => ({ interfaceName: 'office', publicKey: '', listenPort: 0, fwmark: 0, peers: [] }),
    rehandshakeAll() {
      tunnel.rehandshakes++;
    },
    onClosed() {},
    async down() {},
  };
  return tunnel satisfies RunningTunnel;
}

test('TunnelManager: connect returns connecting with a handshake started; the tick moves it, and each change is published once', async () => {
  const clock: Clock & { wall: number } = { wall: T0, wallMs: () => clock.wall, monotonicMs: () => clock.wall - T0 };
  const tunnel = scriptedTunnel();
  const published: TunnelState[] = [];
  const manager = new TunnelManager({
    launcher: { up: async () => tunnel },
    readConf: () => '',
    logger: silentLogger,
    clock,
    onStatus: (all: TunnelStatus[]) => {
      const now = all[0]?.status;
      if (now && JSON.stringify(now) !== JSON.stringify(published.at(-1))) published.push(now);
    },
  });
  const connected = await manager.connect('office');
  assert.deepEqual(connected.status, { state: 'connecting', since: T0 });
  assert.equal(tunnel.rehandshakes, 1, 'the first handshake starts at connect, no traffic needed');
  assert.notEqual(manager.details('office'), null, 'wirelane show sees the device while connecting');

  clock.wall += 30_000;
  manager.tick();
  assert.equal(manager.status('office').status.state, 'connecting', 'no handshake: still connecting');

  tunnel.measured = [peer(clock.wall - 200)];
  manager.tick();
  assert.deepEqual(manager.status('office').status, { state: 'connected', since: clock.wall - 200 });

  const silentFrom = clock.wall + 1000;
  tunnel.measured = [peer(clock.wall - 200, silentFrom)];
  for (let i = 0; i < 20; i++) {
    clock.wall += 1000;
    manager.tick();
  }
  assert.equal(manager.status('office').status.state, 'reconnecting');
  tunnel.measured = [peer(clock.wall)];
  manager.tick();
  manager.tick();
  assert.equal(manager.status('office').status.state, 'connected');
  assert.deepEqual(
    published.map((s) => s.state),
    ['connecting', 'connected', 'reconnecting', 'connected'],
  );
  assert.ok(manager.logs('office').some((e) => /reconnecting: the server has not answered for \d+ s/.test(e.message)));
});

test('wirelane show/list state line: only a handshake makes it start with connected', async () => {
  const { formatState } = await import('../../engine/helper/show-format.js');
  const line = (status: TunnelState) => formatState({ name: 'office', status, latestHandshake: null, rxBytes: 0, txBytes: 0, endpoint: null }, T0 + 65_000);
  assert.equal(line({ state: 'connecting', since: T0 }), 'connecting for 1 minute, 5 seconds, no handshake completed yet');
  assert.equal(line({ state: 'connected', since: T0 }), 'connected for 1 minute, 5 seconds');
  assert.equal(line({ state: 'reconnecting', since: T0, unansweredSince: T0 + 45_000 }), 'reconnecting: not answering for 20 seconds');
});
