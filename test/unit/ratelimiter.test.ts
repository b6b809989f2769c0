/** The per-source handshake rate limiter, driven by a hand-stepped clock. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RateLimiter } from '../../engine/device/ratelimiter.js';

const v4 = (a: number, b: number, c: number, d: number): Uint8Array => Uint8Array.of(a, b, c, d);
function v6(text: string): Uint8Array {
  // Full form only ("2001:0db8:..."), enough for tests.
  const groups = text.split(':');
  assert.equal(groups.length, 8);
  const bytes = new Uint8Array(16);
  groups.forEach((group, i) => {
    const value = parseInt(group, 16);
    bytes[2 * i] = value >> 8;
    bytes[2 * i + 1] = value & 0xff;
  });
  return bytes;
}

/** How many of `count` packets sent at `now` from `address` are allowed. */
function burst(limiter: RateLimiter, address: Uint8Array, now: number, count: number): number {
  let allowed = 0;
  for (let i = 0; i < count; i++) if (limiter.allow(address, now)) allowed++;
  return allowed;
}

test('a new source gets a burst of 5, then nothing until tokens refill', () => {
  const limiter = new RateLimiter();
  const source = v4(192, 0, 2, 1);
  assert.equal(burst(limiter, source, 1_000, 10), 5);
  assert.equal(limiter.allow(source, 1_049), false, '49 ms refill less than one packet (50 ms)');
  assert.equal(limiter.allow(source, 1_050), true, 'one packet per 50 ms');
  assert.equal(limiter.allow(source, 1_050), false);
});

test('a steady sender is held to 20 packets per second', () => {
  const limiter = new RateLimiter();
  const source = v4(192, 0, 2, 2);
  let allowed = 0;
  // 10 seconds of 200 packets per second, every 5 ms.
  for (let now = 0; now < 10_000; now += 5) if (limiter.allow(source, now)) allowed++;
  assert.ok(allowed >= 200 && allowed <= 205, `allowed ${allowed} over 10 s`);
});

test('the bucket holds at most the burst, however long the source was quiet', () => {
  const limiter = new RateLimiter();
  const source = v4(192, 0, 2, 3);
  assert.equal(burst(limiter, source, 0, 5), 5);
  assert.equal(burst(limiter, source, 600_000, 10), 5);
});

test('sources are limited independently', () => {
  const limiter = new RateLimiter();
  assert.equal(burst(limiter, v4(192, 0, 2, 4), 0, 10), 5);
  assert.equal(burst(limiter, v4(192, 0, 2, 5), 0, 10), 5);
  assert.equal(burst(limiter, v6('2001:0db8:0000:0001:0000:0000:0000:0001'), 0, 10), 5);
});

test('IPv6 sources share a bucket per /64', () => {
  const limiter = new RateLimiter();
  assert.equal(burst(limiter, v6('2001:0db8:0000:0001:0000:0000:0000:0001'), 0, 3), 3);
  assert.equal(burst(limiter, v6('2001:0db8:0000:0001:ffff:1234:5678:9abc'), 0, 10), 2, 'same /64');
  assert.equal(burst(limiter, v6('2001:0db8:0000:0002:0000:0000:0000:0001'), 0, 10), 5, 'next /64');
});

test('an IPv4-mapped IPv6 source is the IPv4 source', () => {
  const limiter = new RateLimiter();
  assert.equal(burst(limiter, v4(198, 51, 100, 7), 0, 3), 3);
  assert.equal(burst(limiter, v6('0000:0000:0000:0000:0000:ffff:c633:6407'), 0, 10), 2);
});

test('an address that is neither 4 nor 16 bytes is refused', () => {
  const limiter = new RateLimiter();
  assert.equal(limiter.allow(new Uint8Array(0), 0), false);
  assert.equal(limiter.allow(new Uint8Array(5), 0), false);
  assert.equal(limiter.size, 0);
});

test('idle sources are forgotten after a second, without any timer', () => {
  const limiter = new RateLimiter();
  for (let i = 0; i < 100; i++) limiter.allow(v4(10, 0, 0, i), 0);
  assert.equal(limiter.size, 100);
  limiter.allow(v4(10, 0, 1, 0), 500); // too early: nothing is idle yet
  assert.equal(limiter.size, 101);
  limiter.allow(v4(10, 0, 1, 1), 1_001); // sweeps the first 100, keeps the one from 500 ms
  assert.equal(limiter.size, 2);
  limiter.collectGarbage(10_000);
  assert.equal(limiter.size, 0);
});

test('the table is capped: a flood of new sources cannot grow memory without bound', () => {
  const limiter = new RateLimiter(1_000);
  let allowed = 0;
  for (let i = 0; i < 5_000; i++) if (limiter.allow(v4(10, 1, i >> 8, i & 0xff), 0)) allowed++;
  assert.equal(limiter.size, 1_000);
  assert.equal(allowed, 1_000, 'new sources past the cap are refused');
  assert.equal(burst(limiter, v4(10, 1, 0, 0), 0, 1), 1, 'known sources keep their buckets');
  // Once the flood's entries are idle, new sources get in again.
  assert.equal(limiter.allow(v4(10, 2, 0, 0), 1_500), true);
  assert.equal(limiter.size, 1);
});

test('a clock step backwards neither refills nor breaks the bucket', () => {
  const limiter = new RateLimiter();
  const source = v4(192, 0, 2, 9);
  assert.equal(burst(limiter, source, 5_000, 5), 5);
  assert.equal(limiter.allow(source, 4_000), false);
  assert.equal(limiter.allow(source, 5_050), true);
});
