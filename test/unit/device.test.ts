import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeEndpoint } from '../../engine/conn/memory-bind.js';
import { formatCidr } from '../../engine/routing/cidr.js';
import { UAPI_EINVAL } from '../../engine/uapi/types.js';
import {
  bytesEqual,
  cidr,
  createNode,
  createPair,
  crypto,
  eventually,
  ipv4Packet,
  ipv6Packet,
  peerChange,
  setRequest,
  FakeClock,
} from '../support/device-harness.js';
import { REKEY_TIMEOUT } from '../../engine/noise/constants.js';
import { MemoryNetwork } from '../../engine/conn/memory-bind.js';

test('two devices exchange IPv4 and IPv6 packets both ways after a handshake', async () => {
  const { a, b } = createPair();
  try {
    const request = ipv4Packet('10.0.0.1', '10.0.0.2', 'ping over the tunnel');
    a.tun.inject([request]);
    await eventually('B to receive the first packet', () => b.tun.written.length >= 1);
    assert.ok(bytesEqual(b.tun.written[0], request), 'B received exactly what A sent');

    const reply = ipv4Packet('10.0.0.2', '10.0.0.1', 'pong');
    b.tun.inject([reply]);
    await eventually('A to receive the reply', () => a.tun.written.length >= 1);
    assert.ok(bytesEqual(a.tun.written[0], reply));

    const v6 = ipv6Packet('fd00::2', 'fd00::1', 'hello over IPv6');
    b.tun.inject([v6]);
    await eventually('A to receive the IPv6 packet', () => a.tun.written.length >= 2);
    assert.ok(bytesEqual(a.tun.written[1], v6));

    const snapshotA = a.device.snapshot().peers[0]!;
    assert.ok(snapshotA.lastHandshakeTimeSec > 0, 'A reports a handshake');
    assert.ok(Math.abs(snapshotA.lastHandshakeTimeSec - Date.now() / 1000) < 30, 'last handshake is wall-clock seconds');
    assert.ok(snapshotA.txBytes > 0 && snapshotA.rxBytes > 0, 'A counts bytes both ways');
    assert.equal(b.device.snapshot().peers[0]!.endpoint, '192.0.2.1:51820', 'B learned A from the handshake');
  } finally {
    a.device.close();
    b.device.close();
  }
});

test('tx_bytes counts only datagrams the OS took: sends refused by the socket add nothing', async () => {
  const { network, a, b } = createPair();
  try {
    a.tun.inject([ipv4Packet('10.0.0.1', '10.0.0.2', 'first')]);
    await eventually('the tunnel to come up', () => b.tun.written.length >= 1);
    await network.settle(5000);
    const before = a.device.snapshot().peers[0]!.txBytes;
    assert.ok(before > 0);
    // The socket refuses everything (full buffer, no route): nothing counts.
    const send = a.bind.send.bind(a.bind);
    a.bind.send = () => 0;
    a.tun.inject([ipv4Packet('10.0.0.1', '10.0.0.2', 'refused one'), ipv4Packet('10.0.0.1', '10.0.0.2', 'refused two')]);
    assert.equal(a.device.snapshot().peers[0]!.txBytes, before, 'refused datagrams are not counted');
    assert.ok(a.device.dropCounts().sendFailed >= 2);
    // Sends work again: exactly the bytes of what went on the wire count.
    a.bind.send = send;
    network.record = true;
    a.tun.inject([ipv4Packet('10.0.0.1', '10.0.0.2', 'sent')]);
    await network.settle(5000);
    const sentBytes = network.recorded.filter((d) => d.from.key === '192.0.2.1:51820').reduce((sum, d) => sum + d.data.length, 0);
    assert.ok(sentBytes > 0);
    assert.equal(a.device.snapshot().peers[0]!.txBytes, before + sentBytes);
  } finally {
    a.device.close();
    b.device.close();
  }
});

test('a batch of packets crosses in order, trimmed of padding', async () => {
  const { a, b } = createPair();
  try {
    a.tun.inject([ipv4Packet('10.0.0.1', '10.0.0.2', 'warm up')]);
    await eventually('handshake', () => b.tun.written.length === 1);
    // Sizes that are not multiples of 16 exercise padding removal.
    const batch = Array.from({ length: 100 }, (_, i) => ipv4Packet('10.0.0.1', '10.0.0.2', 'x'.repeat(i * 7)));
    a.tun.inject(batch);
    await eventually('the whole batch', () => b.tun.written.length === 101);
    batch.forEach((packet, i) => assert.ok(bytesEqual(b.tun.written[i + 1], packet), `packet ${i}`));
  } finally {
    a.device.close();
    b.device.close();
  }
});

test('preshared keys: equal keys connect, different keys do not', async () => {
  const psk = crypto.generatePrivateKey();
  const good = createPair({ presharedKey: psk });
  try {
    good.a.tun.inject([ipv4Packet('10.0.0.1', '10.0.0.2', 'with psk')]);
    await eventually('delivery with matching psk', () => good.b.tun.written.length === 1);
  } finally {
    good.a.device.close();
    good.b.device.close();
  }
  const bad = createPair({ presharedKey: psk });
  try {
    bad.b.device.applySet(setRequest({ peers: [peerChange(bad.a.publicKey, { presharedKey: crypto.generatePrivateKey() })] }));
    bad.a.tun.inject([ipv4Packet('10.0.0.1', '10.0.0.2', 'psk mismatch')]);
    // The event: B answered, and A refused the response (the preshared key goes into its keys).
    await eventually('A to refuse B\'s response', () => bad.a.device.dropCounts().badResponse >= 1);
    await bad.network.settle();
    assert.equal(bad.b.tun.written.length, 0, 'nothing delivered when the preshared keys differ');
    assert.equal(bad.a.device.snapshot().peers[0]!.lastHandshakeTimeSec, 0);
  } finally {
    bad.a.device.close();
    bad.b.device.close();
  }
});

test('roaming: when the peer moves, replies follow its new address', async () => {
  const { a, b } = createPair();
  try {
    a.tun.inject([ipv4Packet('10.0.0.1', '10.0.0.2', 'before moving')]);
    await eventually('first delivery', () => b.tun.written.length === 1);
    a.bind.moveTo('192.0.2.77');
    a.tun.inject([ipv4Packet('10.0.0.1', '10.0.0.2', 'after moving')]);
    await eventually('delivery from the new address', () => b.tun.written.length === 2);
    assert.equal(b.device.snapshot().peers[0]!.endpoint, '192.0.2.77:51820', 'B follows A to its new address');
    const reply = ipv4Packet('10.0.0.2', '10.0.0.1', 'reply to the new address');
    b.tun.inject([reply]);
    await eventually('the reply at the new address', () => a.tun.written.length === 1);
    assert.ok(bytesEqual(a.tun.written[0], reply));
  } finally {
    a.device.close();
    b.device.close();
  }
});

test('cryptokey routing: a packet whose inner source is not the peer\'s allowed IP is dropped', async () => {
  const { a, b } = createPair();
  try {
    a.tun.inject([ipv4Packet('10.0.0.1', '10.0.0.2', 'legit')]);
    await eventually('legit delivery', () => b.tun.written.length === 1);
    a.tun.inject([ipv4Packet('10.0.0.99', '10.0.0.2', 'spoofed source'), ipv6Packet('fd00::99', 'fd00::2', 'spoofed v6')]);
    await eventually('the spoofed packets to be dropped', () => b.device.dropCounts().sourceNotAllowed === 2);
    assert.equal(b.tun.written.length, 1, 'nothing spoofed reached the TUN');
  } finally {
    a.device.close();
    b.device.close();
  }
});

test('cryptokey routing with two peers: A sending with C\'s allowed IP is dropped at B; C itself is delivered', async () => {
  // B has two peers, A (10.0.0.1, fd00::1) and C (10.0.0.3, fd00::3). An address that belongs to
  // *a* peer is not enough: the decrypted packet's source must route back to the peer whose key
  // decrypted it, or A could impersonate C to everything behind B.
  const { network, a, b } = createPair();
  const c = createNode(network, '192.0.2.3', { name: 'memC' });
  try {
    const failB = b.device.applySet(setRequest({ peers: [peerChange(c.publicKey, { allowedIps: [cidr('10.0.0.3/32'), cidr('fd00::3/128')] })] }));
    const failC = c.device.applySet(
      setRequest({
        privateKey: c.privateKey,
        listenPort: 51822,
        peers: [peerChange(b.publicKey, { endpoint: '192.0.2.2:51821', allowedIps: [cidr('10.0.0.0/24'), cidr('fd00::/64')] })],
      }),
    );
    assert.equal(failB ?? failC, null);
    // A packet A may send makes the session; then A claims C's addresses.
    a.tun.inject([ipv4Packet('10.0.0.1', '10.0.0.2', 'from A as A')]);
    await eventually('A to reach B', () => b.tun.written.length === 1);
    a.tun.inject([ipv4Packet('10.0.0.3', '10.0.0.2', 'from A posing as C'), ipv6Packet('fd00::3', 'fd00::2', 'from A posing as C, v6')]);
    await eventually('both impersonations to be dropped', () => b.device.dropCounts().sourceNotAllowed === 2);
    // C sends with its own address: delivered, so the drop above was about the sender, not the address.
    const fromC = ipv4Packet('10.0.0.3', '10.0.0.2', 'from C as C');
    c.tun.inject([fromC]);
    await eventually('C to reach B', () => b.tun.written.length === 2);
    assert.ok(bytesEqual(b.tun.written[1], fromC), 'what reached B is C\'s own packet');
    assert.ok(
      b.tun.written.every((packet) => !new TextDecoder().decode(packet).includes('posing')),
      'no packet A sent with C\'s source reached the TUN',
    );
    assert.equal(b.device.dropCounts().sourceNotAllowed, 2);
  } finally {
    a.device.close();
    b.device.close();
    c.device.close();
  }
});

test('packets no peer routes are dropped quietly and counted; nothing goes on the wire', async () => {
  const { network, a, b } = createPair();
  try {
    a.tun.inject([
      ipv4Packet('10.0.0.1', '10.9.9.9', 'nowhere'),
      ipv6Packet('fe80::1', 'ff02::2', 'router solicitation'),
      new Uint8Array([0x45, 0, 0]), // truncated
    ]);
    await network.settle();
    assert.equal(network.sent, 0);
    assert.equal(a.device.dropCounts().noRoute, 2);
    assert.equal(a.device.dropCounts().badTunPacket, 1);
  } finally {
    a.device.close();
    b.device.close();
  }
});

test('replayed and forged transport datagrams are rejected', async () => {
  const { network, a, b } = createPair();
  try {
    network.record = true;
    a.tun.inject([ipv4Packet('10.0.0.1', '10.0.0.2', 'once only')]);
    await eventually('delivery', () => b.tun.written.length === 1);
    const transport = network.recorded.find((d) => d.data[0] === 4 && d.data.length > 32)!;
    assert.ok(transport, 'a transport datagram was recorded');
    network.inject(transport.from, transport.to, transport.data);
    const forged = transport.data.slice();
    forged[forged.length - 1]! ^= 1;
    network.inject(transport.from, transport.to, forged);
    await eventually('both rejected', () => b.device.dropCounts().decryptFailed === 2);
    assert.equal(b.tun.written.length, 1, 'the replay was not delivered again');
  } finally {
    a.device.close();
    b.device.close();
  }
});

test('UAPI set/get: keys, port, fwmark, endpoints, allowed IPs, update_only, remove, replace_peers', () => {
  const network = new MemoryNetwork();
  const node = createNode(network, '192.0.2.1');
  const other = createNode(network, '192.0.2.1'); // same address: its port is taken for `node`
  other.bind.open(51999);
  try {
    const peer1 = crypto.publicKey(crypto.generatePrivateKey());
    const peer2 = crypto.publicKey(crypto.generatePrivateKey());
    const psk = crypto.generatePrivateKey();
    assert.equal(
      node.device.applySet(
        setRequest({
          privateKey: node.privateKey,
          listenPort: 51820,
          fwmark: 0x1234,
          peers: [
            peerChange(peer1, { presharedKey: psk, endpoint: '[fd00:2::2]:51821', persistentKeepaliveInterval: 25, allowedIps: [cidr('10.0.0.0/24'), cidr('fd00::/64')] }),
            peerChange(peer2, { allowedIps: [cidr('10.0.1.0/24')] }),
          ],
        }),
      ),
      null,
    );
    let snap = node.device.snapshot();
    assert.deepEqual(snap.privateKey, node.privateKey);
    assert.equal(snap.listenPort, 51820);
    assert.equal(node.bind.port(), 51820);
    assert.equal(snap.fwmark, 0x1234);
    assert.equal(node.bind.currentMark(), 0x1234, 'fwmark reaches the socket');
    assert.equal(snap.peers.length, 2);
    const p1 = snap.peers.find((p) => bytesEqual(p.publicKey, peer1))!;
    assert.deepEqual(p1.presharedKey, psk);
    assert.equal(p1.endpoint, '[fd00:2::2]:51821');
    assert.equal(p1.persistentKeepaliveInterval, 25);
    assert.deepEqual(p1.allowedIps.map(formatCidr), ['10.0.0.0/24', 'fd00::/64']);
    assert.equal(p1.lastHandshakeTimeSec, 0);

    // Moving a prefix to another peer takes it from the first; replace_allowed_ips replaces.
    node.device.applySet(setRequest({ peers: [peerChange(peer2, { allowedIps: [cidr('10.0.0.0/24')] })] }));
    snap = node.device.snapshot();
    assert.deepEqual(snap.peers.find((p) => bytesEqual(p.publicKey, peer1))!.allowedIps.map(formatCidr), ['fd00::/64']);
    node.device.applySet(setRequest({ peers: [peerChange(peer2, { replaceAllowedIps: true, allowedIps: [cidr('192.168.0.0/16')] })] }));
    assert.deepEqual(node.device.snapshot().peers.find((p) => bytesEqual(p.publicKey, peer2))!.allowedIps.map(formatCidr), ['192.168.0.0/16']);

    // An all-zero preshared key removes it.
    node.device.applySet(setRequest({ peers: [peerChange(peer1, { presharedKey: new Uint8Array(32) })] }));
    assert.equal(node.device.snapshot().peers.find((p) => bytesEqual(p.publicKey, peer1))!.presharedKey, null);

    // update_only does not create.
    const stranger = crypto.publicKey(crypto.generatePrivateKey());
    node.device.applySet(setRequest({ peers: [peerChange(stranger, { updateOnly: true, allowedIps: [cidr('10.7.0.0/16')] })] }));
    assert.equal(node.device.snapshot().peers.length, 2);

    // A peer with our own public key is ignored.
    node.device.applySet(setRequest({ peers: [peerChange(node.publicKey)] }));
    assert.equal(node.device.snapshot().peers.length, 2);

    // Atomic: a bad endpoint in the last peer means the first is not added either.
    const error = node.device.applySet(setRequest({ peers: [peerChange(stranger), peerChange(peer1, { endpoint: 'not-an-endpoint' })] }));
    assert.equal(error?.errno, UAPI_EINVAL);
    assert.match(error.message, /endpoint/);
    assert.equal(node.device.snapshot().peers.length, 2);

    // A taken port fails and changes nothing else in the request.
    const portError = node.device.applySet(setRequest({ listenPort: 51999, fwmark: 7 }));
    assert.equal(portError?.errno, 98, 'EADDRINUSE');
    assert.equal(node.device.snapshot().listenPort, 51820);
    assert.equal(node.device.snapshot().fwmark, 0x1234);

    // remove, then replace_peers.
    node.device.applySet(setRequest({ peers: [peerChange(peer2, { remove: true })] }));
    assert.deepEqual(node.device.snapshot().peers.map((p) => Buffer.from(p.publicKey).toString('hex')), [Buffer.from(peer1).toString('hex')]);
    node.device.applySet(setRequest({ replacePeers: true, peers: [peerChange(stranger)] }));
    assert.deepEqual(node.device.snapshot().peers.map((p) => Buffer.from(p.publicKey).toString('hex')), [Buffer.from(stranger).toString('hex')]);

    // Changing the private key to the stranger's own key removes that peer (it would be us).
    const strangerPrivate = crypto.generatePrivateKey();
    const strangerPublic = crypto.publicKey(strangerPrivate);
    node.device.applySet(setRequest({ replacePeers: true, peers: [peerChange(strangerPublic)] }));
    node.device.applySet(setRequest({ privateKey: strangerPrivate }));
    assert.equal(node.device.snapshot().peers.length, 0);

    // listen_port changes reopen the socket live.
    node.device.applySet(setRequest({ listenPort: 52000 }));
    assert.equal(node.bind.port(), 52000);
    assert.equal(network.isInUse(makeEndpoint('192.0.2.1', 51820).key), false, 'the old port is closed');
  } finally {
    node.device.close();
    other.device.close();
  }
});

test('UAPI allowed_ip=-PREFIX removes that one prefix from its peer, and never another peer\'s', () => {
  const network = new MemoryNetwork();
  const node = createNode(network, '192.0.2.1');
  try {
    const peer1 = crypto.publicKey(crypto.generatePrivateKey());
    const peer2 = crypto.publicKey(crypto.generatePrivateKey());
    node.device.applySet(setRequest({
      peers: [
        peerChange(peer1, { allowedIps: [cidr('10.0.0.0/24'), cidr('10.0.9.0/24'), cidr('fd00::/64')] }),
        peerChange(peer2, { allowedIps: [cidr('10.0.1.0/24')] }),
      ],
    }));
    const removal = (text: string) => ({ ...cidr(text), remove: true as const });
    assert.equal(node.device.applySet(setRequest({
      peers: [
        peerChange(peer1, { allowedIps: [removal('10.0.9.0/24'), removal('10.0.1.0/24'), removal('10.0.0.0/25'), cidr('10.0.2.0/24')] }),
      ],
    })), null);
    const snap = node.device.snapshot();
    const of = (key: Uint8Array) => snap.peers.find((p) => bytesEqual(p.publicKey, key))!.allowedIps.map(formatCidr).sort();
    assert.deepEqual(of(peer1), ['10.0.0.0/24', '10.0.2.0/24', 'fd00::/64'], 'its own prefix removed; a prefix it does not hold exactly is left');
    assert.deepEqual(of(peer2), ['10.0.1.0/24'], "another peer's prefix is not touched");
  } finally {
    node.device.close();
  }
});

test('listen_port=0 moves a bound device to a new port, as in wireguard-go; the same port or no port keeps the socket', async () => {
  const { network, a, b } = createPair();
  try {
    a.tun.inject([ipv4Packet('10.0.0.1', '10.0.0.2', 'before the move')]);
    await eventually('delivery from the first port', () => b.tun.written.length === 1);

    let opens = 0;
    const open = a.bind.open.bind(a.bind);
    a.bind.open = (port: number) => {
      opens++;
      return open(port);
    };
    assert.equal(a.device.applySet(setRequest({ listenPort: 51820 })), null);
    assert.equal(a.device.applySet(setRequest({ fwmark: 1 })), null);
    assert.equal(opens, 0, 'neither the current port nor a request without listen_port reopens the socket');

    assert.equal(a.device.applySet(setRequest({ listenPort: 0 })), null);
    assert.equal(opens, 1);
    const moved = a.device.snapshot().listenPort;
    assert.notEqual(moved, 0, 'the device is listening');
    assert.notEqual(moved, 51820, 'on a new port');
    assert.equal(network.isInUse(makeEndpoint('192.0.2.1', 51820).key), false, 'the old port is closed');

    // The tunnel carries on from the new port: B learns it from the next authenticated packet.
    a.tun.inject([ipv4Packet('10.0.0.1', '10.0.0.2', 'after the move')]);
    await eventually('delivery from the new port', () => b.tun.written.length === 2);
    assert.equal(b.device.snapshot().peers[0]!.endpoint, `192.0.2.1:${moved}`);
    b.tun.inject([ipv4Packet('10.0.0.2', '10.0.0.1', 'reply to the new port')]);
    await eventually('the reply reaches A', () => a.tun.written.length === 1);
  } finally {
    a.device.close();
    b.device.close();
  }
});

test('rehandshakeAll starts a fresh handshake with every peer (once REKEY_TIMEOUT has passed)', async () => {
  const clock = new FakeClock();
  const { network, a, b } = createPair({ clock });
  try {
    a.tun.inject([ipv4Packet('10.0.0.1', '10.0.0.2', 'first')]);
    await eventually('delivery', () => b.tun.written.length === 1);
    network.record = true;
    clock.advance(REKEY_TIMEOUT + 1);
    a.device.rehandshakeAll();
    await eventually('a new initiation on the wire', () => network.recorded.some((d) => d.data[0] === 1));
  } finally {
    a.device.close();
    b.device.close();
  }
});

test('timers: persistent keepalive goes out when its interval passes, driven by the one scheduler', async () => {
  const clock = new FakeClock();
  const { network, a, b } = createPair({ clock, keepalive: 25 });
  try {
    a.tun.inject([ipv4Packet('10.0.0.1', '10.0.0.2', 'first')]);
    await eventually('delivery', () => b.tun.written.length === 1);
    await network.settle();
    network.record = true;
    clock.advance(10_000);
    a.device.runTimers();
    await network.settle();
    const keepalivesEarly = network.recorded.filter((d) => d.data[0] === 4 && d.data.length === 32 && d.from.port === 51820).length;
    clock.advance(16_000);
    a.device.runTimers();
    await eventually('a keepalive from A', () => network.recorded.filter((d) => d.data[0] === 4 && d.data.length === 32 && d.from.port === 51820).length > keepalivesEarly);
    assert.ok(b.device.snapshot().peers[0]!.rxBytes > 0);
  } finally {
    a.device.close();
    b.device.close();
  }
});

test('the device closes itself and tells its listener when the interface disappears', () => {
  const { a, b } = createPair();
  let closed = 0;
  a.device.onClosed(() => closed++);
  a.tun.remove();
  assert.equal(closed, 1);
  assert.equal(a.bind.port(), 0, 'the socket is closed');
  a.device.close();
  assert.equal(closed, 1, 'close after removal is a no-op');
  b.device.close();
});

test('a private key is kept clamped, as wireguard-go and the kernel report it; the public key is the same', () => {
  const network = new MemoryNetwork();
  const node = createNode(network, '192.0.2.1');
  try {
    const unclamped = crypto.generatePrivateKey();
    unclamped[0]! |= 7;
    unclamped[31] = (unclamped[31]! | 128) & ~64;
    const clamped = Uint8Array.from(unclamped);
    clamped[0]! &= 248;
    clamped[31] = (clamped[31]! & 127) | 64;
    assert.equal(node.device.applySet(setRequest({ privateKey: unclamped })), null);
    assert.deepEqual(node.device.snapshot().privateKey, clamped);
    assert.deepEqual(crypto.publicKey(unclamped), crypto.publicKey(clamped), 'X25519 clamps: the same key');
  } finally {
    node.device.close();
  }
});
