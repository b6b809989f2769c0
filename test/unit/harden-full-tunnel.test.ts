/**
 * Attack: a .conf that carries all traffic without writing a /0 (AllowedIPs = 0.0.0.0/1,
 * 128.0.0.0/1) must not slip past what a full tunnel gets (the flag the user sees, the kill switch,
 * fwmark policy routing, DNS as the default route). One function decides, fullTunnelFamilies().
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fullTunnelFamilies, isFullTunnel } from '../../engine/helper/conf-info.js';
import { parseConf } from '../../engine/conf/parse.js';
import { parseCidrText as cidr } from '../../engine/os/address.js';
import { planTunnel } from '../../engine/os/plan.js';
import { linuxSteps } from '../../engine/os/linux.js';
import type { OsStep, OsTunnelInput, SystemFacts } from '../../engine/os/types.js';

const families = (...prefixes: string[]) => [...fullTunnelFamilies(prefixes.map(cidr))].sort();

test('a family covered by any set of prefixes is a full tunnel; a gap of one address is not', () => {
  assert.deepEqual(families('0.0.0.0/0'), [4]);
  assert.deepEqual(families('0.0.0.0/1', '128.0.0.0/1'), [4]);
  assert.deepEqual(families('::/1', '8000::/1'), [6]);
  assert.deepEqual(families('0.0.0.0/1', '128.0.0.0/2', '192.0.0.0/2', '::/0'), [4, 6]);
  // overlapping and out of order
  assert.deepEqual(families('192.0.0.0/2', '10.0.0.0/8', '0.0.0.0/1', '128.0.0.0/1'), [4]);
  assert.deepEqual(families('0.0.0.0/1'), []);
  assert.deepEqual(families('0.0.0.0/1', '128.0.0.0/2', '192.0.0.0/3', '224.0.0.0/4', '240.0.0.0/5', '248.0.0.0/6', '252.0.0.0/7', '254.0.0.0/8', '255.0.0.0/9', '255.128.0.0/9'), [4]);
  // 0.0.0.0/1, 128.0.0.0/2, 192.0.0.0/3, ... 255.255.255.254/32: all of IPv4 but 255.255.255.255
  const allButLast = Array.from({ length: 32 }, (_, i) => {
    const network = i === 0 ? 0 : (0xffffffff << (32 - i)) >>> 0;
    return `${[24, 16, 8, 0].map((shift) => (network >>> shift) & 255).join('.')}/${i + 1}`;
  });
  assert.deepEqual(families(...allButLast), []);
  assert.deepEqual(families('255.255.255.255/32', ...allButLast), [4]);
  assert.deepEqual(families('10.0.0.0/8', 'fd00::/8'), []);
});

test('the /1 halves, split across two peers, make the imported tunnel a full tunnel', () => {
  const key = 'aGVsbG8gd29ybGQgaGVsbG8gd29ybGQgaGVsbG8gd28=';
  const parsed = parseConf(
    `[Interface]\nPrivateKey = ${key}\n[Peer]\nPublicKey = ${'A'.repeat(42)}A=\nAllowedIPs = 0.0.0.0/1\n[Peer]\nPublicKey = ${'B'.repeat(42)}A=\nAllowedIPs = 128.0.0.0/1\n`,
  );
  assert.ok(parsed.ok, JSON.stringify(!parsed.ok && parsed.errors));
  assert.equal(isFullTunnel(parsed.config), true);
});

function argv(steps: OsStep[]): string[][] {
  return steps.map((step) => (step.kind === 'run' ? [step.command.file, ...step.command.args] : [step.kind, step.description]));
}

test('the OS layer gives /1 halves the same fwmark policy routing as a /0 (no /1 route in main to loop the engine\'s own packets)', () => {
  const facts: SystemFacts = { underlayMtu: 1500, freeTable: 51820, srcValidMarkBefore: false, linuxDns: 'resolvconf' };
  const base: OsTunnelInput = {
    interfaceName: 'wg0',
    addresses: [cidr('10.66.0.2/32')],
    dns: { servers: ['10.66.0.1'], searchDomains: [] },
    allowedIps: [cidr('0.0.0.0/0')],
    endpoints: ['203.0.113.5'],
  };
  const slash0 = planTunnel('linux', base, facts);
  const halves = planTunnel('linux', { ...base, allowedIps: [cidr('0.0.0.0/1'), cidr('128.0.0.0/1')] }, facts);
  assert.deepEqual(argv(linuxSteps(halves)), argv(linuxSteps(slash0)));
  assert.equal(halves.dns?.defaultRoute, true);
  assert.equal(halves.fwmark, 51820);
  // macOS: the /1 pair plus a host route to the endpoint, as for a /0
  const darwinBase = { ...base, interfaceName: 'utun7' };
  const darwin0 = planTunnel('darwin', darwinBase, { ...facts, gateway4: { address: '192.168.1.1', interface: 'en0' } });
  const darwinHalves = planTunnel('darwin', { ...darwinBase, allowedIps: [cidr('128.0.0.0/1'), cidr('0.0.0.0/1')] }, { ...facts, gateway4: { address: '192.168.1.1', interface: 'en0' } });
  assert.deepEqual(darwinHalves.routes, darwin0.routes);
  assert.deepEqual(darwinHalves.endpointRoutes, darwin0.endpointRoutes);
  assert.equal(darwinHalves.endpointRoutes.length, 1);
});
