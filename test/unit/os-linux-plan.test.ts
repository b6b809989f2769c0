/**
 * plan() and the Linux commands, compared with what wg-quick runs for the same configuration:
 * a point-to-point tunnel, a LAN tunnel and a full tunnel with DNS and IPv6. Plus the values a
 * hostile .conf could carry, which must be refused or stay one argv entry.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCidrText as cidr, formatCidr } from '../../engine/os/address.js';
import { planTunnel } from '../../engine/os/plan.js';
import { linuxSteps, resolvConfBody } from '../../engine/os/linux.js';
import type { OsStep, OsTunnelInput, SystemFacts } from '../../engine/os/types.js';

const pointToPoint: OsTunnelInput = {
  interfaceName: 'wg0',
  addresses: [cidr('10.0.0.2/32')],
  dns: { servers: [], searchDomains: [] },
  allowedIps: [cidr('10.0.0.1/32')],
  endpoints: ['203.0.113.5'],
};
const lan: OsTunnelInput = {
  interfaceName: 'office',
  addresses: [cidr('10.10.0.2/24')],
  dns: { servers: ['10.10.0.1'], searchDomains: ['corp.example'] },
  mtu: 1380,
  // The same prefix twice and host bits set: routes are per network, once each, longest first.
  allowedIps: [cidr('10.10.0.0/24'), cidr('192.168.50.7/24'), cidr('10.10.0.0/24'), cidr('10.20.30.40/32')],
  endpoints: ['198.51.100.9'],
};
const fullTunnel: OsTunnelInput = {
  interfaceName: 'wg0',
  addresses: [cidr('10.66.0.2/32'), cidr('fd00:66::2/128')],
  dns: { servers: ['10.66.0.1', 'fd00:66::1'], searchDomains: ['vpn.example'] },
  allowedIps: [cidr('::/0'), cidr('0.0.0.0/0')],
  endpoints: ['203.0.113.5', '2001:db8::5'],
};
const facts: SystemFacts = {
  underlayMtu: 1500,
  freeTable: 51820,
  srcValidMarkBefore: false,
  linuxDns: 'resolvconf',
  linkBefore: { mtu: 1420, up: false },
};

function argv(steps: OsStep[]): string[][] {
  return steps.map((step) => (step.kind === 'run' ? [step.command.file, ...step.command.args] : [step.kind, step.description]));
}
function undoArgv(steps: OsStep[]): string[][] {
  return steps.flatMap((step) =>
    step.kind === 'write-file' || step.kind === 'push-dns' ? [] : step.undo.map((undo) => (undo.kind === 'run' ? [undo.command.file, ...undo.command.args] : [undo.path])),
  );
}

test('point-to-point tunnel: address, MTU from the underlay minus 80, one host route', () => {
  const plan = planTunnel('linux', pointToPoint, facts);
  assert.equal(plan.mtu, 1420);
  assert.equal(plan.fwmark, null);
  assert.equal(plan.dns, null);
  assert.deepEqual(argv(linuxSteps(plan)), [
    ['ip', '-4', 'address', 'add', '10.0.0.2/32', 'dev', 'wg0'],
    ['ip', 'link', 'set', 'mtu', '1420', 'up', 'dev', 'wg0'],
    ['ip', '-4', 'route', 'add', '10.0.0.1/32', 'dev', 'wg0'],
  ]);
  assert.deepEqual(undoArgv(linuxSteps(plan)), [
    ['ip', '-4', 'address', 'del', '10.0.0.2/32', 'dev', 'wg0'],
    ['ip', 'link', 'set', 'mtu', '1420', 'down', 'dev', 'wg0'],
    ['ip', '-4', 'route', 'del', '10.0.0.1/32', 'dev', 'wg0'],
  ]);
});

test('LAN tunnel: MTU as configured, DNS through resolvconf as wg-quick does, routes longest first', () => {
  const plan = planTunnel('linux', lan, facts);
  assert.deepEqual(
    plan.routes.map((route) => formatCidr(route.destination)),
    ['10.20.30.40/32', '10.10.0.0/24', '192.168.50.0/24'],
  );
  const steps = linuxSteps(plan);
  assert.deepEqual(argv(steps), [
    ['ip', '-4', 'address', 'add', '10.10.0.2/24', 'dev', 'office'],
    ['ip', 'link', 'set', 'mtu', '1380', 'up', 'dev', 'office'],
    ['resolvconf', '-a', 'tun.office', '-m', '0', '-x'],
    ['ip', '-4', 'route', 'add', '10.20.30.40/32', 'dev', 'office'],
    ['ip', '-4', 'route', 'add', '10.10.0.0/24', 'dev', 'office'],
    ['ip', '-4', 'route', 'add', '192.168.50.0/24', 'dev', 'office'],
  ]);
  const dns = steps[2];
  assert.ok(dns?.kind === 'run');
  assert.equal(dns.command.input, 'nameserver 10.10.0.1\nsearch corp.example\n');
  assert.deepEqual(dns.undo.map((u) => (u.kind === 'run' ? [u.command.file, ...u.command.args] : [])), [['resolvconf', '-d', 'tun.office', '-f']]);
  // The address's own prefix route exists already (the kernel adds it): adding it is "skipped".
  const route = steps[4];
  assert.ok(route?.kind === 'run' && route.alreadyDone?.includes('File exists'));
  // ... but only when what is there goes through this interface: the same prefix through another
  // one (another tunnel, the LAN) would take this tunnel's traffic, so the connect fails instead.
  assert.deepEqual(route.alreadyDoneIf, { file: 'ip', args: ['-4', 'route', 'show', 'table', 'main', 'exact', '10.10.0.0/24', 'dev', 'office'] });
});

test('Table = main with a /0 is refused with an explanation (the main table has the default route already)', () => {
  for (const allowedIps of [[cidr('0.0.0.0/0')], [cidr('::/0')], [cidr('0.0.0.0/1'), cidr('128.0.0.0/1')]]) {
    assert.throws(() => planTunnel('linux', { ...fullTunnel, allowedIps, table: 254 }, facts), /Table = main cannot carry a full tunnel.*Remove the Table line/);
  }
  // Split routes in the main table are what Table = main is for; another table number takes a /0 as given.
  const split = planTunnel('linux', { ...lan, table: 254 }, facts);
  assert.deepEqual(split.routes.map((r) => r.table), [254, 254, 254]);
  const own = planTunnel('linux', { ...fullTunnel, table: 1234 }, facts);
  assert.deepEqual(own.routes.map((r) => r.table), [1234, 1234]);
  assert.deepEqual(own.rules, []);
});

test('full tunnel: fwmark policy routing exactly as wg-quick, per family, and src_valid_mark', () => {
  const plan = planTunnel('linux', fullTunnel, facts);
  assert.equal(plan.fwmark, 51820);
  assert.equal(plan.srcValidMark, true);
  assert.deepEqual(plan.dns, { servers: ['10.66.0.1', 'fd00:66::1'], searchDomains: ['vpn.example'], defaultRoute: true });
  const steps = linuxSteps(plan);
  assert.deepEqual(argv(steps), [
    ['ip', '-4', 'address', 'add', '10.66.0.2/32', 'dev', 'wg0'],
    ['ip', '-6', 'address', 'add', 'fd00:66::2/128', 'dev', 'wg0'],
    ['ip', 'link', 'set', 'mtu', '1420', 'up', 'dev', 'wg0'],
    ['resolvconf', '-a', 'tun.wg0', '-m', '0', '-x'],
    ['ip', '-4', 'route', 'add', '0.0.0.0/0', 'dev', 'wg0', 'table', '51820'],
    ['ip', '-4', 'rule', 'add', 'not', 'fwmark', '51820', 'table', '51820'],
    ['ip', '-4', 'rule', 'add', 'table', 'main', 'suppress_prefixlength', '0'],
    ['sysctl', '-q', '-w', 'net.ipv4.conf.all.src_valid_mark=1'],
    ['ip', '-6', 'route', 'add', '::/0', 'dev', 'wg0', 'table', '51820'],
    ['ip', '-6', 'rule', 'add', 'not', 'fwmark', '51820', 'table', '51820'],
    ['ip', '-6', 'rule', 'add', 'table', 'main', 'suppress_prefixlength', '0'],
  ]);
  assert.deepEqual(undoArgv(steps).slice(4), [
    ['ip', '-4', 'route', 'del', '0.0.0.0/0', 'dev', 'wg0', 'table', '51820'],
    ['ip', '-4', 'rule', 'del', 'not', 'fwmark', '51820', 'table', '51820'],
    ['ip', '-4', 'rule', 'del', 'table', 'main', 'suppress_prefixlength', '0'],
    ['sysctl', '-q', '-w', 'net.ipv4.conf.all.src_valid_mark=0'],
    ['ip', '-6', 'route', 'del', '::/0', 'dev', 'wg0', 'table', '51820'],
    ['ip', '-6', 'rule', 'del', 'not', 'fwmark', '51820', 'table', '51820'],
    ['ip', '-6', 'rule', 'del', 'table', 'main', 'suppress_prefixlength', '0'],
  ]);
});

test('full tunnel: FwMark= is the table; a busy 51820 moves to the next free table; src_valid_mark already 1 is left alone', () => {
  const marked = planTunnel('linux', { ...fullTunnel, fwMark: 1234 }, { ...facts, srcValidMarkBefore: true });
  assert.equal(marked.fwmark, 1234);
  const steps = argv(linuxSteps(marked));
  assert.ok(steps.some((a) => a.join(' ') === 'ip -4 rule add not fwmark 1234 table 1234'));
  assert.ok(!steps.some((a) => a[0] === 'sysctl'));
  assert.equal(planTunnel('linux', fullTunnel, { ...facts, freeTable: 51821 }).fwmark, 51821);
});

test('Table=N puts every route (the /0 too) in table N without rules; Table=off adds no routes', () => {
  const numbered = planTunnel('linux', { ...fullTunnel, table: 1000 }, facts);
  assert.equal(numbered.fwmark, null);
  assert.deepEqual(numbered.rules, []);
  assert.deepEqual(
    argv(linuxSteps(numbered)).filter((a) => a.includes('route')),
    [
      ['ip', '-4', 'route', 'add', '0.0.0.0/0', 'dev', 'wg0', 'table', '1000'],
      ['ip', '-6', 'route', 'add', '::/0', 'dev', 'wg0', 'table', '1000'],
    ],
  );
  const off = planTunnel('linux', { ...fullTunnel, table: 'off' }, facts);
  assert.deepEqual(off.routes, []);
  assert.equal(off.fwmark, null);
  assert.ok(off.dns, 'Table=off still sets DNS');
  assert.equal(off.dns?.defaultRoute, false);
});

test('MTU: the underlay MTU minus 80, else 1500 minus 80', () => {
  assert.equal(planTunnel('linux', pointToPoint, { underlayMtu: 9000 }).mtu, 8920);
  assert.equal(planTunnel('linux', pointToPoint, {}).mtu, 1420);
});

test('resolvectl where systemd-resolved runs: dns, domain with ~. for a full tunnel, default-route; undone by revert', () => {
  const steps = linuxSteps(planTunnel('linux', fullTunnel, { ...facts, linuxDns: 'resolvectl' }));
  assert.deepEqual(argv(steps).filter((a) => a[0] === 'resolvectl'), [
    ['resolvectl', 'dns', 'wg0', '10.66.0.1', 'fd00:66::1'],
    ['resolvectl', 'domain', 'wg0', 'vpn.example', '~.'],
    ['resolvectl', 'default-route', 'wg0', 'yes'],
  ]);
  assert.ok(undoArgv(steps).some((a) => a.join(' ') === 'resolvectl revert wg0'));
});

test('no resolver daemon: resolv.conf is written in place with the tunnel servers', () => {
  const steps = linuxSteps(planTunnel('linux', lan, { ...facts, linuxDns: 'resolv.conf' }), { resolvConfPath: '/tmp/x/resolv.conf' });
  const write = steps.find((step) => step.kind === 'push-dns');
  assert.ok(write?.kind === 'push-dns', 'stacked with the DNS of other tunnels (dns-stack.ts)');
  assert.equal(write.path, '/tmp/x/resolv.conf');
  assert.equal(write.owner, 'office');
  assert.match(write.content, /\nnameserver 10\.10\.0\.1\nsearch corp\.example\n$/);
  assert.equal(resolvConfBody(['192.0.2.1', 'fd00::1'], []), 'nameserver 192.0.2.1\nnameserver fd00::1\n');
});

test('an interface the helper created is deleted last on undo', () => {
  const steps = linuxSteps(planTunnel('linux', { ...pointToPoint, ownsInterface: true }, {}));
  assert.equal(steps[0]?.kind, 'record');
  assert.deepEqual(undoArgv(steps)[0], ['ip', 'link', 'delete', 'dev', 'wg0']);
});

test('hostile values are refused before any command exists', () => {
  const hostile = ['wg0; reboot', 'wg 0', 'wg0\nreboot', '$(reboot)', '-wg0', 'a-very-long-interface-name', ''];
  for (const interfaceName of hostile) {
    assert.throws(() => planTunnel('linux', { ...pointToPoint, interfaceName }, facts), /interface name/, interfaceName);
  }
  for (const server of ['10.0.0.1; reboot', '$(reboot)', '10.0.0.1\nnameserver 6.6.6.6', 'fe80::1%eth0', '-1']) {
    assert.throws(() => planTunnel('linux', { ...lan, dns: { servers: [server], searchDomains: [] } }, facts), /DNS server/, server);
  }
  for (const domain of ['a b', 'x;reboot', '$(reboot)', 'corp.example\nnameserver 6.6.6.6', '-x', 'a,b']) {
    assert.throws(() => planTunnel('linux', { ...lan, dns: { servers: ['10.0.0.1'], searchDomains: [domain] } }, facts), /search domain/, domain);
  }
  assert.throws(() => planTunnel('linux', { ...pointToPoint, endpoints: ['203.0.113.5 via 1.2.3.4'] }, facts), /endpoint/);
  assert.throws(() => planTunnel('linux', { ...pointToPoint, mtu: 100 }, facts), /MTU/);
  assert.throws(() => planTunnel('linux', { ...pointToPoint, table: -1 }, facts), /Table/);
  assert.throws(() => planTunnel('linux', { ...pointToPoint, addresses: [{ family: 4, address: new Uint8Array(4), bits: 33 }] }, facts));
});

test('every value a command carries is one argv entry of its own', () => {
  // Values that are valid but contain characters a shell would act on never occur (they are refused
  // above); what passes is checked to sit whole in one argument, never split or joined.
  const steps = linuxSteps(planTunnel('linux', { ...lan, interfaceName: 'wg=+.-_0' }, facts));
  for (const args of argv(steps)) {
    assert.ok(args.every((arg) => !/[\s;$`|&<>]/.test(arg)), args.join(' '));
  }
  assert.ok(argv(steps).some((args) => args.includes('wg=+.-_0')));
});
