/**
 * The allowed-IPs trie and the CIDR text helpers it is configured through.
 * The trie is checked against the kernel's selftest cases (as ported in wireguard-go's
 * allowedips_test.go) and against a naive list on thousands of random routes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AllowedIps } from '../../engine/routing/allowed-ips.js';
import { PrefixChanges } from '../../engine/routing/prefix-changes.js';
import {
  compareCidr,
  formatCidr,
  formatIPv6,
  maskCidr,
  parseCidr,
  parseIPv4,
  parseIPv6,
  type Cidr,
} from '../../engine/routing/cidr.js';

function cidr(text: string): Cidr {
  const parsed = parseCidr(text);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.cidr;
}

function v4(a: number, b: number, c: number, d: number, bits: number): Cidr {
  return { family: 4, address: Uint8Array.of(a, b, c, d), bits };
}

function v6(words: [number, number, number, number], bits: number): Cidr {
  const address = new Uint8Array(16);
  const view = new DataView(address.buffer);
  words.forEach((w, i) => view.setUint32(i * 4, w >>> 0));
  return { family: 6, address, bits };
}

/** Deterministic PRNG (mulberry32) so a failure reproduces. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('IPv4 and IPv6 address text parses strictly', () => {
  assert.deepEqual(parseIPv4('192.0.2.1'), Uint8Array.of(192, 0, 2, 1));
  for (const bad of ['192.0.2', '192.0.2.1.5', '256.0.0.1', '01.2.3.4', '1..2.3', '1.2.3.4 ', '', 'a.b.c.d', '1.2.3.-4']) {
    assert.equal(parseIPv4(bad), null, bad);
  }
  assert.deepEqual(parseIPv6('::'), new Uint8Array(16));
  assert.deepEqual(parseIPv6('::1'), Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1));
  assert.deepEqual(
    parseIPv6('fd00:1:2:3:4:5:6:7'),
    Uint8Array.of(0xfd, 0, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7),
  );
  assert.deepEqual(parseIPv6('::ffff:192.0.2.1'), Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1));
  assert.deepEqual(parseIPv6('FD00::'), Uint8Array.of(0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0));
  for (const bad of [':', ':::', '1:2:3:4:5:6:7:8:9', '1::2::3', 'fd00::12345', 'fd00:', ':fd00::', 'g::1', '1:2:3:4:5:6:7::8', '::1.2.3', 'fe80::1%eth0', '1:2:3:4:5:6:7']) {
    assert.equal(parseIPv6(bad), null, bad);
  }
});

test('IPv6 formats as wg prints it (glibc inet_ntop)', () => {
  const cases: [string, string][] = [
    ['fd00:0:0:0:0:0:0:1', 'fd00::1'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // first of two equal runs
    ['2001:db8:0:1:0:0:0:1', '2001:db8:0:1::1'], // a single zero group stays
    ['fd00:0:0:0:0:0:0:0', 'fd00::'],
    ['0:0:0:0:0:ffff:c000:201', '::ffff:192.0.2.1'],
    ['0:0:0:0:0:0:c000:201', '::192.0.2.1'],
    ['2001:DB8:ABCD:12:0:0:0:0', '2001:db8:abcd:12::'],
  ];
  for (const [input, printed] of cases) assert.equal(formatIPv6(parseIPv6(input)!), printed, input);
});

test('CIDRs parse, mask and format like wg', () => {
  assert.equal(formatCidr(cidr('10.0.0.0/24')), '10.0.0.0/24');
  assert.equal(formatCidr(cidr('10.0.0.1')), '10.0.0.1/32');
  assert.equal(formatCidr(cidr('fd00::1')), 'fd00::1/128');
  assert.equal(formatCidr(cidr('0.0.0.0/0')), '0.0.0.0/0');
  assert.equal(formatCidr(cidr('::/0')), '::/0');
  assert.equal(formatCidr(cidr('10.0.0.1/24')), '10.0.0.1/24', 'host bits are kept until masked');
  assert.equal(formatCidr(maskCidr(cidr('10.0.0.77/26'))), '10.0.0.64/26');
  assert.equal(formatCidr(maskCidr(cidr('fd00:1:2:3:4:5:6:7/52'))), 'fd00:1:2::/52');
  assert.equal(formatCidr(maskCidr(cidr('255.255.255.255/0'))), '0.0.0.0/0');
  for (const bad of ['10.0.0.0/33', '10.0.0.300/32', 'fd00::/129', '10.0.0.0/', '10.0.0.0/-1', '10.0.0.0/+8', '/24', 'example.com/24', '10.0.0.0/24/8']) {
    const parsed = parseCidr(bad);
    assert.equal(parsed.ok, false, bad);
    if (!parsed.ok) assert.equal(parsed.message, `'${bad}' is not a valid CIDR`);
  }
});

test('IPv4 cases from the kernel selftest', () => {
  const t = new AllowedIps<string>();
  t.insert(v4(192, 168, 4, 0, 24), 'a');
  t.insert(v4(192, 168, 4, 4, 32), 'b');
  t.insert(v4(192, 168, 0, 0, 16), 'c');
  t.insert(v4(192, 95, 5, 64, 27), 'd');
  t.insert(v4(192, 95, 5, 65, 27), 'c'); // same /27 as d: moves it to c
  t.insert(v4(0, 0, 0, 0, 0), 'e');
  t.insert(v4(64, 15, 112, 0, 20), 'g');
  t.insert(v4(64, 15, 123, 211, 25), 'h');
  t.insert(v4(10, 0, 0, 0, 25), 'a');
  t.insert(v4(10, 0, 0, 128, 25), 'b');
  t.insert(v4(10, 1, 0, 0, 30), 'a');
  t.insert(v4(10, 1, 0, 4, 30), 'b');
  t.insert(v4(10, 1, 0, 8, 29), 'c');
  t.insert(v4(10, 1, 0, 16, 29), 'd');
  const at = (a: number, b: number, c: number, d: number) => t.lookup(Uint8Array.of(a, b, c, d));
  assert.equal(at(192, 168, 4, 20), 'a');
  assert.equal(at(192, 168, 4, 0), 'a');
  assert.equal(at(192, 168, 4, 4), 'b');
  assert.equal(at(192, 168, 200, 182), 'c');
  assert.equal(at(192, 95, 5, 68), 'c');
  assert.equal(at(192, 95, 5, 96), 'e');
  assert.equal(at(64, 15, 116, 26), 'g');
  assert.equal(at(64, 15, 127, 3), 'g');
  assert.equal(at(10, 0, 0, 200), 'b');
  assert.equal(at(10, 1, 0, 17), 'd');

  for (const first of [1, 64, 128, 192, 255]) t.insert(v4(first, 0, 0, 0, 32), 'a');
  for (const first of [1, 64, 128, 192, 255]) assert.equal(at(first, 0, 0, 0), 'a');
  t.removeByValue('a');
  for (const first of [1, 64, 128, 192, 255]) assert.equal(at(first, 0, 0, 0), 'e');
  assert.deepEqual(t.entriesFor('a'), []);
  for (const v of ['b', 'c', 'd', 'e', 'g', 'h']) t.removeByValue(v);
  assert.equal(at(192, 168, 4, 4), undefined, 'removing every value empties the table');

  t.insert(v4(192, 168, 0, 0, 16), 'a');
  t.insert(v4(192, 168, 0, 0, 24), 'a');
  t.removeByValue('a');
  assert.equal(at(192, 168, 0, 1), undefined);
});

test('IPv6 cases from the kernel selftest', () => {
  const t = new AllowedIps<string>();
  t.insert(v6([0x26075300, 0x60006b00, 0, 0xc05f0543], 128), 'd');
  t.insert(v6([0x26075300, 0x60006b00, 0, 0], 64), 'c');
  t.insert(v6([0, 0, 0, 0], 0), 'e');
  t.insert(v6([0, 0, 0, 0], 0), 'f');
  t.insert(v6([0x24046800, 0, 0, 0], 32), 'g');
  t.insert(v6([0x24046800, 0x40040800, 0xdeadbeef, 0xdeadbeef], 64), 'h');
  t.insert(v6([0x24046800, 0x40040800, 0xdeadbeef, 0xdeadbeef], 128), 'a');
  t.insert(v6([0x24446800, 0x40e40800, 0xdeaebeef, 0x0defbeef], 128), 'c');
  t.insert(v6([0x24446800, 0xf0e40800, 0xeeaebeef, 0], 98), 'b');
  const at = (w: [number, number, number, number]) => t.lookup(v6(w, 128).address);
  assert.equal(at([0x26075300, 0x60006b00, 0, 0xc05f0543]), 'd');
  assert.equal(at([0x26075300, 0x60006b00, 0, 0xc02e01ee]), 'c');
  assert.equal(at([0x26075300, 0x60006b01, 0, 0]), 'f');
  assert.equal(at([0x24046800, 0x40040806, 0, 0x1006]), 'g');
  assert.equal(at([0x24046800, 0x40040806, 0x1234, 0x5678]), 'g');
  assert.equal(at([0x240467ff, 0x40040806, 0x1234, 0x5678]), 'f');
  assert.equal(at([0x24046801, 0x40040806, 0x1234, 0x5678]), 'f');
  assert.equal(at([0x24046800, 0x40040800, 0x1234, 0x5678]), 'h');
  assert.equal(at([0x24046800, 0x40040800, 0, 0]), 'h');
  assert.equal(at([0x24046800, 0x40040800, 0x10101010, 0x10101010]), 'h');
  assert.equal(at([0x24046800, 0x40040800, 0xdeadbeef, 0xdeadbeef]), 'a');
  assert.deepEqual(t.entriesFor('e'), [], 'inserting ::/0 for f moved it away from e');
});

test('remove drops a prefix only from its own value, and the rest stays reachable', () => {
  const t = new AllowedIps<string>();
  t.insert(cidr('10.0.0.0/8'), 'wide');
  t.insert(cidr('10.1.0.0/16'), 'mid');
  t.insert(cidr('10.1.2.0/24'), 'narrow');
  t.insert(cidr('10.1.3.0/24'), 'other');
  assert.equal(t.remove(cidr('10.1.0.0/16'), 'wide'), false, 'owned by another value');
  assert.equal(t.remove(cidr('10.1.4.0/24'), 'mid'), false, 'not present');
  assert.equal(t.lookup(parseIPv4('10.1.9.9')!), 'mid');
  assert.equal(t.remove(cidr('10.1.0.0/16'), 'mid'), true);
  assert.equal(t.lookup(parseIPv4('10.1.9.9')!), 'wide', 'falls back to the shorter prefix');
  assert.equal(t.lookup(parseIPv4('10.1.2.9')!), 'narrow', 'longer prefixes below the removed node survive');
  assert.equal(t.lookup(parseIPv4('10.1.3.9')!), 'other');
  assert.equal(t.remove(cidr('10.1.2.77/24'), 'narrow'), true, 'host bits are ignored');
  assert.equal(t.lookup(parseIPv4('10.1.2.9')!), 'wide');
  assert.deepEqual(t.entriesFor('wide').map(formatCidr), ['10.0.0.0/8']);
});

test('entriesFor lists masked prefixes in the same order whatever the insertion order', () => {
  const routes = ['fd00::/64', '10.0.0.0/24', '192.0.2.1/32', '10.0.0.0/8', '::/0', '0.0.0.0/0', 'fd00::1/128', '10.0.0.9/24'];
  const forward = new AllowedIps<number>();
  const backward = new AllowedIps<number>();
  for (const r of routes) forward.insert(cidr(r), 1);
  for (const r of [...routes].reverse()) backward.insert(cidr(r), 1);
  const expected = ['0.0.0.0/0', '10.0.0.0/8', '10.0.0.0/24', '192.0.2.1/32', '::/0', 'fd00::/64', 'fd00::1/128'];
  assert.deepEqual(forward.entriesFor(1).map(formatCidr), expected);
  assert.deepEqual(backward.entriesFor(1).map(formatCidr), expected);
});

test('entriesFor and forEachOf give compareCidr order on random prefixes (addresses above 128.0.0.0 and 8000:: included)', () => {
  const table = new AllowedIps<string>();
  const owners = new Map<string, { prefix: Cidr; owner: string }>();
  for (let i = 0; i < 2000; i++) {
    const six = i % 2 === 1;
    const address = new Uint8Array(six ? 16 : 4).map(() => Math.floor(Math.random() * 256));
    const prefix = maskCidr({ family: six ? 6 : 4, address, bits: Math.floor(Math.random() * (six ? 129 : 33)) });
    const owner = i % 3 === 0 ? 'a' : 'b';
    table.insert(prefix, owner); // a prefix inserted again moves to its new owner
    owners.set(formatCidr(prefix), { prefix, owner });
  }
  const expected = [...owners.values()].filter((entry) => entry.owner === 'a').map((entry) => entry.prefix);
  expected.sort(compareCidr);
  assert.deepEqual(table.entriesFor('a').map(formatCidr), expected.map(formatCidr));
  const visited: string[] = [];
  table.forEachOf('a', (family, address, bits) => visited.push(formatCidr({ family, address, bits })));
  assert.deepEqual(visited, expected.map(formatCidr));
});

test('lookups straight from packet bytes use the right offsets', () => {
  const t = new AllowedIps<string>();
  t.insert(cidr('10.0.0.2/32'), 'dst4');
  t.insert(cidr('10.0.0.1/32'), 'src4');
  t.insert(cidr('fd00::2/128'), 'dst6');
  t.insert(cidr('fd00::1/128'), 'src6');
  const pad = 7; // the packet sits at an offset inside a larger buffer
  const ip4 = new Uint8Array(pad + 20);
  ip4[pad] = 0x45;
  ip4.set(parseIPv4('10.0.0.1')!, pad + 12);
  ip4.set(parseIPv4('10.0.0.2')!, pad + 16);
  assert.equal(t.lookupDestination(ip4, pad), 'dst4');
  assert.equal(t.lookupSource(ip4, pad), 'src4');
  assert.equal(t.lookupDestination(ip4.subarray(0, pad + 19), pad), undefined, 'truncated header');
  const ip6 = new Uint8Array(pad + 40);
  ip6[pad] = 0x60;
  ip6.set(parseIPv6('fd00::1')!, pad + 8);
  ip6.set(parseIPv6('fd00::2')!, pad + 24);
  assert.equal(t.lookupDestination(ip6, pad), 'dst6');
  assert.equal(t.lookupSource(ip6, pad), 'src6');
  assert.equal(t.lookupDestination(ip6.subarray(0, pad + 39), pad), undefined);
  ip6[pad] = 0x50;
  assert.equal(t.lookupDestination(ip6, pad), undefined, 'version 5 is neither');
  assert.equal(t.lookupDestination(new Uint8Array(0), 0), undefined, 'empty buffer');
});

/** Longest-prefix match by scanning every route. */
function bruteForceLookup(routes: Map<string, { route: Cidr; value: number }>, address: Uint8Array): number | undefined {
  let best: { route: Cidr; value: number } | undefined;
  for (const entry of routes.values()) {
    const { route } = entry;
    if (route.address.length !== address.length) continue;
    if (best && best.route.bits >= route.bits) continue;
    const m = maskCidr({ family: route.family, address, bits: route.bits });
    if (compareCidr(m, route) === 0) best = entry;
  }
  return best?.value;
}

function randomRoutesTest(family: 4 | 6, seed: number): void {
  const random = prng(seed);
  const bytes = family === 4 ? 4 : 16;
  const randomAddress = (): Uint8Array => {
    const a = new Uint8Array(bytes);
    for (let i = 0; i < bytes; i++) a[i] = Math.floor(random() * 256);
    // cluster half the addresses under one /16 so prefixes nest and split deeply
    if (random() < 0.5) {
      a[0] = family === 4 ? 10 : 0xfd;
      a[1] = 0;
    }
    return a;
  };
  const table = new AllowedIps<number>();
  const routes = new Map<string, { route: Cidr; value: number }>();
  const peers = 50;
  for (let i = 0; i < 10_000; i++) {
    const bits = Math.floor(random() * (bytes * 8 + 1));
    const route = maskCidr({ family, address: randomAddress(), bits });
    const value = Math.floor(random() * peers);
    table.insert(route, value);
    routes.set(formatCidr(route), { route, value });
  }
  const check = (rounds: number) => {
    for (let i = 0; i < rounds; i++) {
      const address = randomAddress();
      assert.equal(table.lookup(address), bruteForceLookup(routes, address), `lookup of ${formatCidr({ family, address, bits: bytes * 8 })}`);
    }
  };
  check(2_000);
  // entriesFor agrees with the list
  for (let peer = 0; peer < 5; peer++) {
    const expected = [...routes.values()].filter((e) => e.value === peer).map((e) => e.route).sort(compareCidr);
    assert.deepEqual(table.entriesFor(peer).map(formatCidr), expected.map(formatCidr));
  }
  // remove a third of the routes one by one, and a few peers whole
  for (const [key, entry] of [...routes]) {
    if (random() < 0.33) {
      assert.equal(table.remove(entry.route, entry.value), true);
      routes.delete(key);
    }
  }
  for (const peer of [3, 7, 11]) {
    table.removeByValue(peer);
    for (const [key, entry] of [...routes]) if (entry.value === peer) routes.delete(key);
  }
  check(2_000);
  // nodes freed by the removals are reused by new routes
  for (let i = 0; i < 3_000; i++) {
    const bits = Math.floor(random() * (bytes * 8 + 1));
    const route = maskCidr({ family, address: randomAddress(), bits });
    const value = Math.floor(random() * peers);
    table.insert(route, value);
    routes.set(formatCidr(route), { route, value });
  }
  check(2_000);
  for (let peer = 0; peer < 5; peer++) {
    const expected = [...routes.values()].filter((e) => e.value === peer).map((e) => e.route).sort(compareCidr);
    assert.deepEqual(table.entriesFor(peer).map(formatCidr), expected.map(formatCidr));
  }
  for (let peer = 0; peer < peers; peer++) table.removeByValue(peer);
  assert.equal(table.lookup(randomAddress()), undefined);
}

test('IPv4: 10,000 random routes agree with a brute-force list', () => randomRoutesTest(4, 0x5eed4));
test('IPv6: 10,000 random routes agree with a brute-force list', () => randomRoutesTest(6, 0x5eed6));

test('PrefixChanges keeps changes in order, masked, with their removals; clear drops them; bad prefixes are refused', () => {
  const list = new PrefixChanges();
  list.add(4, Uint8Array.of(10, 1, 2, 3), 24);
  list.add(6, cidr('fd00::1:2').address, 112, true);
  list.add(4, Uint8Array.of(192, 0, 2, 129), 25);
  const seen: string[] = [];
  list.forEach((family, address, bits, remove) => seen.push(`${remove ? '-' : '+'}${formatCidr({ family, address, bits })}`));
  assert.deepEqual(seen, ['+10.1.2.0/24', '-fd00::1:0/112', '+192.0.2.128/25']);
  assert.equal(list.length, 3);
  assert.deepEqual(list.toArray().map((c) => `${c.remove === true ? '-' : '+'}${formatCidr(c)}`), seen);
  assert.deepEqual([...PrefixChanges.from(list)].map(formatCidr), ['10.1.2.0/24', 'fd00::1:0/112', '192.0.2.128/25']);
  list.clear();
  assert.equal(list.length, 0);
  assert.deepEqual(list.toArray(), []);
  for (let i = 0; i < 100; i++) list.add(6, new Uint8Array(16).fill(i), 128); // grows past its first buffer
  assert.deepEqual(list.toArray().map((c) => c.address[15]), [...Array(100).keys()]);
  assert.throws(() => list.add(4, new Uint8Array(16), 8), RangeError);
  assert.throws(() => list.add(6, new Uint8Array(16), 129), RangeError);
  assert.throws(() => list.add(4, new Uint8Array(4), 1.5), RangeError);
});
