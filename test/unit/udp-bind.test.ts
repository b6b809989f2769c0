/**
 * The UDP bind over the addon, on loopback with OS-chosen ports: batches both ways over IPv4
 * and IPv6, senders reported as the endpoints `wg` would print, endpoint objects reused per
 * sender, SO_MARK set in the kernel, a clear error for a port in use, oversized datagrams
 * dropped. Also the endpoint text parser and formatter.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DatagramBatch, Endpoint } from '../../engine/conn/bind.js';
import { EndpointCache, parseEndpoint } from '../../engine/conn/endpoint.js';
import { UdpBind } from '../../engine/conn/udp-bind.js';

interface Received { payload: string; endpoint: Endpoint; offset: number }

/** Collects what a bind receives; `until` waits (bounded) for a number of datagrams. */
function collector(bind: UdpBind) {
  const received: Received[] = [];
  const batchSizes: number[] = [];
  bind.start((batch: DatagramBatch) => {
    batchSizes.push(batch.count);
    for (let i = 0; i < batch.count; i++) {
      const offset = batch.offsets[i]!;
      received.push({
        payload: batch.buffer.toString('latin1', offset, offset + batch.lengths[i]!),
        endpoint: batch.endpoints[i]!,
        offset,
      });
    }
  });
  return {
    received,
    batchSizes,
    async until(count: number, timeoutMs = 3000): Promise<Received[]> {
      const deadline = Date.now() + timeoutMs;
      while (received.length < count) {
        if (Date.now() > deadline) throw new Error(`received ${received.length} of ${count} datagrams within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 5));
      }
      return received;
    },
  };
}

/** `count` datagrams "<prefix>-<i>" packed in one buffer, as the device would hand them over. */
function datagrams(prefix: string, count: number, padTo = 0) {
  const parts = Array.from({ length: count }, (_, i) => Buffer.from(`${prefix}-${i}`.padEnd(padTo, '.'), 'latin1'));
  const offsets = new Int32Array(count);
  const lengths = new Int32Array(count);
  let at = 0;
  parts.forEach((part, i) => {
    offsets[i] = at;
    lengths[i] = part.length;
    at += part.length + 7; // gaps: offsets, not adjacency, locate each datagram
  });
  const buffer = Buffer.alloc(at);
  parts.forEach((part, i) => part.copy(buffer, offsets[i]));
  return { buffer, offsets, lengths, count, texts: parts.map((p) => p.toString('latin1')) };
}

test('two binds exchange batches over IPv4 and IPv6, with the senders as endpoints', async () => {
  const a = new UdpBind();
  const b = new UdpBind();
  try {
    const portA = a.open(0);
    const portB = b.open(0);
    assert.ok(portA > 0 && portB > 0 && portA !== portB);
    assert.equal(a.port(), portA);
    const inA = collector(a);
    const inB = collector(b);

    const toA4 = b.parseEndpoint(`127.0.0.1:${portA}`);
    const batch4 = datagrams('v4', 64);
    assert.equal(b.send(batch4.buffer, batch4.offsets, batch4.lengths, batch4.count, toA4), 64);
    const got4 = await inA.until(64);
    assert.deepEqual(got4.map((r) => r.payload), batch4.texts);
    assert.ok(got4.every((r) => r.endpoint.key === `127.0.0.1:${portB}` && r.endpoint.family === 4 && r.endpoint.port === portB));
    assert.deepEqual([...got4[0]!.endpoint.addressBytes], [127, 0, 0, 1]);
    assert.ok(got4.every((r) => r.endpoint === got4[0]!.endpoint), 'one Endpoint object per sender');

    const toA6 = b.parseEndpoint(`[::1]:${portA}`);
    const batch6 = datagrams('v6', 40);
    assert.equal(b.send(batch6.buffer, batch6.offsets, batch6.lengths, batch6.count, toA6), 40);
    const got6 = (await inA.until(104)).slice(64);
    assert.deepEqual(got6.map((r) => r.payload), batch6.texts);
    assert.ok(got6.every((r) => r.endpoint.key === `[::1]:${portB}` && r.endpoint.family === 6));
    assert.equal(got6[0]!.endpoint.addressBytes.length, 16);

    // Replies go back to the endpoint objects the receiver was handed.
    const reply = datagrams('reply', 3);
    assert.equal(a.send(reply.buffer, reply.offsets, reply.lengths, 3, got4[0]!.endpoint), 3);
    assert.equal(a.send(reply.buffer, reply.offsets, reply.lengths, 3, got6[0]!.endpoint), 3);
    const back = await inB.until(6);
    assert.deepEqual(back.map((r) => `${r.payload}@${r.endpoint.key}`), [
      ...reply.texts.map((t) => `${t}@127.0.0.1:${portA}`),
      ...reply.texts.map((t) => `${t}@[::1]:${portA}`),
    ]);
    assert.ok(inA.batchSizes.some((n) => n > 1), `datagrams arrive in batches (sizes ${inA.batchSizes.join(',')})`);
  } finally {
    a.close();
    b.close();
  }
});

test('a large burst is received in batches and nothing is lost on loopback', async () => {
  const a = new UdpBind();
  const b = new UdpBind();
  try {
    const portA = a.open(0);
    b.open(0);
    const inA = collector(a);
    const burst = datagrams('burst', 1000, 1200);
    const to = b.parseEndpoint(`127.0.0.1:${portA}`);
    const started = process.hrtime.bigint();
    assert.equal(b.send(burst.buffer, burst.offsets, burst.lengths, burst.count, to), 1000);
    const got = await inA.until(1000);
    const micros = Number(process.hrtime.bigint() - started) / 1000;
    assert.equal(got.length, 1000);
    assert.deepEqual(got.map((r) => r.payload), burst.texts);
    const stats = a.stats()!;
    assert.equal(stats.packets, 1000);
    assert.ok(stats.largestBatch > 1);
    console.log(`UDP burst: 1000 x 1200 B in ${stats.batches} batches (largest ${stats.largestBatch}), ${Math.round(micros)} us send to last receive`);
  } finally {
    a.close();
    b.close();
  }
});

test('runs of equal-size datagrams (sent as UDP GSO on Linux) arrive as the same datagrams, in order', async () => {
  const a = new UdpBind();
  const b = new UdpBind();
  try {
    const portA = a.open(0);
    b.open(0);
    const inA = collector(a);
    // Runs of one size, shorter and longer ones between them, a run longer than one GSO
    // message (64 segments), and a lone tiny datagram: each must keep its own boundaries.
    const sizes = [...Array<number>(5).fill(1200), 800, ...Array<number>(3).fill(1200), 1300, 1300, 100, ...Array<number>(150).fill(1452), 1451, 1452, 60];
    const parts = sizes.map((size, i) => Buffer.from(`gso-${i}-`.padEnd(size, String.fromCharCode(97 + (i % 26))), 'latin1'));
    const offsets = new Int32Array(parts.length);
    const lengths = new Int32Array(parts.length);
    const buffer = Buffer.alloc(parts.reduce((sum, part) => sum + part.length + 48, 0));
    let at = 16;
    parts.forEach((part, i) => {
      offsets[i] = at;
      lengths[i] = part.length;
      part.copy(buffer, at);
      at += part.length + 48;
    });
    const to = b.parseEndpoint(`127.0.0.1:${portA}`);
    assert.equal(b.send(buffer, offsets, lengths, parts.length, to), parts.length);
    const got = await inA.until(parts.length);
    assert.deepEqual(got.map((r) => r.payload.length), sizes);
    assert.deepEqual(got.map((r) => r.payload), parts.map((p) => p.toString('latin1')));
  } finally {
    a.close();
    b.close();
  }
});

test('UDP GRO (Linux): a GSO run arrives as one message and is cut back into the same datagrams, in order; off, the same datagrams come one by one', { skip: process.platform !== 'linux' ? 'UDP GRO is Linux only' : false }, async () => {
  // Loopback hands a GSO message whole to a socket with UDP_GRO: the addon must split it at the
  // size the kernel reports, keep a shorter last datagram as its own, and keep separate runs
  // (sizes, senders) apart.
  const sizes = [...Array<number>(44).fill(1452), 1000, ...Array<number>(70).fill(1452), 96, ...Array<number>(3).fill(148)];
  const parts = sizes.map((size, i) => Buffer.from(`gro-${i}-`.padEnd(size, String.fromCharCode(65 + (i % 26))), 'latin1'));
  const offsets = new Int32Array(parts.length);
  const lengths = new Int32Array(parts.length);
  const buffer = Buffer.alloc(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  parts.forEach((part, i) => {
    offsets[i] = at;
    lengths[i] = part.length;
    part.copy(buffer, at);
    at += part.length;
  });
  const previous = process.env['WIRELANE_UDP_GRO'];
  for (const gro of [true, false]) {
    if (gro) delete process.env['WIRELANE_UDP_GRO'];
    else process.env['WIRELANE_UDP_GRO'] = '0';
    const a = new UdpBind();
    const b = new UdpBind();
    try {
      const portA = a.open(0);
      const portB = b.open(0);
      const inA = collector(a);
      for (const address of ['127.0.0.1', '[::1]']) {
        assert.equal(b.send(buffer, offsets, lengths, parts.length, b.parseEndpoint(`${address}:${portA}`)), parts.length);
      }
      const got = await inA.until(2 * parts.length);
      assert.equal(got.length, 2 * parts.length, `every datagram arrived (GRO ${gro ? 'on' : 'off'})`);
      const expected = parts.map((p) => p.toString('latin1'));
      assert.deepEqual(got.slice(0, parts.length).map((r) => r.payload), expected, 'IPv4: same datagrams, same order');
      assert.deepEqual(got.slice(parts.length).map((r) => r.payload), expected, 'IPv6: same datagrams, same order');
      assert.ok(got.slice(0, parts.length).every((r) => r.endpoint.key === `127.0.0.1:${portB}`));
      assert.ok(got.slice(parts.length).every((r) => r.endpoint.key === `[::1]:${portB}`));
      const coalesced = a.stats()!.coalesced;
      if (gro) assert.ok(coalesced >= parts.length, `datagrams came inside GRO messages (${coalesced})`);
      else assert.equal(coalesced, 0, 'WIRELANE_UDP_GRO=0 turns GRO off');
    } finally {
      a.close();
      b.close();
    }
  }
  if (previous === undefined) delete process.env['WIRELANE_UDP_GRO'];
  else process.env['WIRELANE_UDP_GRO'] = previous;
});

test('a port in use is refused with a clear error; reopening moves the bind', () => {
  const a = new UdpBind();
  const b = new UdpBind();
  try {
    const port = a.open(0);
    assert.throws(() => b.open(port), (error: NodeJS.ErrnoException) => {
      assert.equal(error.code, 'EADDRINUSE');
      assert.match(error.message, new RegExp(`UDP port ${port} is already in use`));
      return true;
    });
    assert.equal(b.port(), 0);
    const moved = a.open(0);
    assert.notEqual(moved, 0);
    assert.equal(a.port(), moved);
    // The old port was released (unless the OS happened to hand the same one out again).
    if (moved !== port) assert.equal(b.open(port), port);
  } finally {
    a.close();
    b.close();
  }
  assert.equal(a.port(), 0);
});

test('datagrams larger than a slot are dropped and counted', async () => {
  const small = new UdpBind({ maxDatagramSize: 1024 });
  const sender = new UdpBind();
  try {
    const port = small.open(0);
    sender.open(0);
    const inSmall = collector(small);
    const to = sender.parseEndpoint(`127.0.0.1:${port}`);
    const big = datagrams('big', 1, 2000);
    const fits = datagrams('fits', 1, 1024);
    sender.send(big.buffer, big.offsets, big.lengths, 1, to);
    sender.send(fits.buffer, fits.offsets, fits.lengths, 1, to);
    const got = await inSmall.until(1);
    // The big one was sent first: by the time the small one is in, the big one was counted.
    assert.deepEqual(got.map((r) => r.payload), fits.texts);
    assert.equal(small.stats()!.oversized, 1);
  } finally {
    small.close();
    sender.close();
  }
});

test('setMark puts SO_MARK on both sockets, before and after open', { skip: process.platform !== 'linux' || process.getuid?.() !== 0 ? 'needs root on Linux' : false }, () => {
  const bind = new UdpBind();
  try {
    bind.setMark(0x51820);
    bind.open(0);
    assert.equal(bind.markInKernel(4), 0x51820);
    assert.equal(bind.markInKernel(6), 0x51820);
    bind.setMark(0xca6c);
    assert.equal(bind.markInKernel(4), 0xca6c);
    assert.equal(bind.markInKernel(6), 0xca6c);
    bind.setMark(0);
    assert.equal(bind.markInKernel(4), 0);
    assert.throws(() => bind.setMark(-1), RangeError);
  } finally {
    bind.close();
  }
});

test('sender records with a local address: one endpoint per sender and local address, each with its sticky source and a sourceless twin', () => {
  const cache = new EndpointCache();
  const record = (remote: number[], port: number, local: number[] | null, ifindex = 0) => {
    const r = new Uint8Array(40);
    r[0] = remote.length === 4 ? 4 : 6;
    r[2] = port >> 8;
    r[3] = port & 0xff;
    r.set(remote, 4);
    if (local !== null) {
      r[1] = 1;
      r.set(local, 20);
      r[39] = ifindex;
    }
    return r;
  };
  const a = cache.fromRecord(record([192, 0, 2, 2], 51820, [192, 0, 2, 11], 3), 0);
  const again = cache.fromRecord(record([192, 0, 2, 2], 51820, [192, 0, 2, 11], 3), 0);
  const otherLocal = cache.fromRecord(record([192, 0, 2, 2], 51820, [192, 0, 2, 1], 3), 0);
  const none = cache.fromRecord(record([192, 0, 2, 2], 51820, null), 0);
  assert.equal(a, again, 'the same sender to the same local address is one object');
  assert.equal(cache.fromRecord(record([192, 0, 2, 2], 51820, [192, 0, 2, 11], 3), 0), a, 'also after others');
  assert.notEqual(a, otherLocal);
  assert.equal(a.key, '192.0.2.2:51820');
  assert.equal(otherLocal.key, a.key, 'wg shows the same endpoint');
  assert.equal(a.sourceAddress, '192.0.2.11');
  assert.equal(a.sourceIfindex, 3);
  assert.equal(otherLocal.sourceAddress, '192.0.2.1');
  assert.equal(none.sourceAddress, null);
  const twin = a.withoutSource();
  assert.equal(twin.sourceAddress, null);
  assert.equal(twin.key, a.key);
  assert.equal(a.withoutSource(), twin, 'made once');
  assert.equal(twin.withoutSource(), twin);
  const v6 = cache.fromRecord(record([0xfd, 0, 0, 3, ...Array<number>(11).fill(0), 2], 51820, [0xfd, 0, 0, 3, ...Array<number>(11).fill(0), 0x11]), 0);
  assert.equal(v6.key, '[fd00:3::2]:51820');
  assert.equal(v6.sourceAddress, 'fd00:3::11');
});

test('endpoints parse from wg text and print as wg prints them', () => {
  const v4 = parseEndpoint('192.0.2.1:51820');
  assert.deepEqual({ family: v4.family, address: v4.address, port: v4.port, key: v4.key }, { family: 4, address: '192.0.2.1', port: 51820, key: '192.0.2.1:51820' });
  assert.deepEqual([...v4.addressBytes], [192, 0, 2, 1]);
  const v6 = parseEndpoint('[2001:DB8:0:0::1]:443');
  assert.equal(v6.key, '[2001:db8::1]:443');
  assert.equal(v6.family, 6);
  assert.deepEqual([...v6.addressBytes], [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  for (const bad of ['example.com:51820', '192.0.2.1', '192.0.2.1:0', '192.0.2.1:70000', '[::1]', '::1:51820',
    '[::1%eth0]:1', '192.0.2.01:1', '[1:2:3:4:5:6:7:8:9]:1', '[1::2::3]:1', '256.0.0.1:1', ' 192.0.2.1:1']) {
    assert.throws(() => parseEndpoint(bad), Error, bad);
  }
  // inet_ntop's forms (RFC 5952): longest zero run compressed, single zero groups kept.
  const cases: Array<[string, string]> = [
    ['::', '::'], ['::1', '::1'], ['1::', '1::'], ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'], ['1:0:0:2:0:0:3:4', '1::2:0:0:3:4'], ['::ffff:192.0.2.1', '::ffff:192.0.2.1'],
    ['fd00::abcd:0:0:1', 'fd00::abcd:0:0:1'], ['FE80::1', 'fe80::1'],
  ];
  for (const [text, printed] of cases) assert.equal(parseEndpoint(`[${text}]:51820`).address, printed, text);
});
