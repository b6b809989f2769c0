import { test } from 'node:test';
import assert from 'node:assert/strict';
import { paddingFor } from '../../engine/noise/peer-session.js';
import { bytesEqual, createPair, eventually, ipv4Packet } from '../support/device-harness.js';

test('padding rounds up to 16 bytes but never past the MTU (wireguard-go calculatePaddingSize)', () => {
  const cases: Array<[length: number, mtu: number, padding: number]> = [
    [0, 1420, 0], // a keepalive stays empty
    [1, 1420, 15],
    [100, 1420, 12],
    [1408, 1420, 0],
    [1409, 1420, 11], // 1420 is the cap, not 1424
    [1419, 1420, 1],
    [1420, 1420, 0], // a full-size packet is not padded past the MTU
    [2000, 1420, 12], // over the MTU: the last 580-byte unit pads to 592
    [1419, 0, 5], // MTU unknown: plain rounding
  ];
  for (const [length, mtu, padding] of cases) {
    assert.equal(paddingFor(length, mtu), padding, `length ${length}, mtu ${mtu}`);
  }
});

test('a full-size packet leaves the device as one datagram of MTU + 32 bytes, and arrives intact', async () => {
  const { network, a, b } = createPair(); // the memory TUNs have MTU 1420
  try {
    a.tun.inject([ipv4Packet('10.0.0.1', '10.0.0.2', 'warm up')]);
    await eventually('the handshake', () => b.tun.written.length === 1);
    network.record = true;
    const full = ipv4Packet('10.0.0.1', '10.0.0.2', 'f'.repeat(1420 - 20));
    const almost = ipv4Packet('10.0.0.1', '10.0.0.2', 'a'.repeat(1419 - 20));
    assert.equal(full.length, 1420);
    a.tun.inject([full, almost]);
    await eventually('both packets', () => b.tun.written.length === 3);
    assert.ok(bytesEqual(b.tun.written[1], full) && bytesEqual(b.tun.written[2], almost));
    const transport = network.recorded.filter((d) => d.data[0] === 4).map((d) => d.data.length);
    // 16-byte header + at most 1420 bytes of padded plaintext + 16-byte tag.
    assert.deepEqual(transport, [1452, 1452]);
  } finally {
    a.device.close();
    b.device.close();
  }
});
