/**
 * Windows: the exact netsh / reg commands for a point-to-point tunnel, a LAN tunnel and a full
 * tunnel with DNS and IPv6, their undo, the netsh output parsers probe() uses, and hostile values.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCidrText as cidr } from '../../engine/os/address.js';
import { planTunnel } from '../../engine/os/plan.js';
import { parseNetshDefaultRoute, parseNetshInterfaceMtu, probeWin32, win32Steps } from '../../engine/os/win32.js';
import type { CommandRunner, OsStep, OsTunnelInput, SystemFacts } from '../../engine/os/types.js';

const GUID = '{01234567-89AB-CDEF-0123-456789ABCDEF}';
const KEY = `HKLM\\SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters\\Interfaces\\${GUID}`;

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
  allowedIps: [cidr('10.10.0.0/24'), cidr('192.168.50.0/24')],
  endpoints: ['198.51.100.9'],
};
const fullTunnel: OsTunnelInput = {
  interfaceName: 'wg0',
  addresses: [cidr('10.66.0.2/32'), cidr('fd00:66::2/128')],
  dns: { servers: ['10.66.0.1', 'fd00:66::1', '10.66.0.2'], searchDomains: ['vpn.example', 'corp.example'] },
  allowedIps: [cidr('0.0.0.0/0'), cidr('::/0')],
  endpoints: ['203.0.113.5', '2001:db8::5'],
};
const facts: SystemFacts = {
  underlayMtu: 1500,
  gateway4: { address: '192.168.1.1', interface: '12' },
  gateway6: { address: 'fe80::1', interface: '12' },
  interfaceGuid: GUID,
};

function argv(steps: OsStep[]): string[][] {
  return steps.map((step) => (step.kind === 'run' ? [step.command.file, ...step.command.args] : [step.kind]));
}
function undoArgv(steps: OsStep[]): string[][] {
  return steps.flatMap((step) => (step.kind === 'write-file' || step.kind === 'push-dns' ? [] : step.undo.flatMap((u) => (u.kind === 'run' ? [[u.command.file, ...u.command.args]] : []))));
}

test('point-to-point tunnel', () => {
  const steps = win32Steps(planTunnel('win32', pointToPoint, facts));
  assert.deepEqual(argv(steps), [
    ['netsh', 'interface', 'ipv4', 'add', 'address', 'name=wg0', 'address=10.0.0.2', 'mask=255.255.255.255', 'store=active'],
    ['netsh', 'interface', 'ipv4', 'set', 'subinterface', 'interface=wg0', 'mtu=1420', 'store=active'],
    ['netsh', 'interface', 'ipv4', 'add', 'route', 'prefix=10.0.0.1/32', 'interface=wg0', 'nexthop=0.0.0.0', 'store=active'],
  ]);
  assert.deepEqual(undoArgv(steps), [
    ['netsh', 'interface', 'ipv4', 'delete', 'address', 'name=wg0', 'address=10.0.0.2'],
    ['netsh', 'interface', 'ipv4', 'delete', 'route', 'prefix=10.0.0.1/32', 'interface=wg0', 'nexthop=0.0.0.0', 'store=active'],
  ]);
});

test('LAN tunnel with DNS server and search list', () => {
  const steps = win32Steps(planTunnel('win32', lan, facts));
  assert.deepEqual(argv(steps), [
    ['netsh', 'interface', 'ipv4', 'add', 'address', 'name=office', 'address=10.10.0.2', 'mask=255.255.255.0', 'store=active'],
    ['netsh', 'interface', 'ipv4', 'set', 'subinterface', 'interface=office', 'mtu=1380', 'store=active'],
    ['netsh', 'interface', 'ipv4', 'add', 'route', 'prefix=10.10.0.0/24', 'interface=office', 'nexthop=0.0.0.0', 'store=active'],
    ['netsh', 'interface', 'ipv4', 'add', 'route', 'prefix=192.168.50.0/24', 'interface=office', 'nexthop=0.0.0.0', 'store=active'],
    ['netsh', 'interface', 'ipv4', 'set', 'dnsservers', 'name=office', 'source=static', 'address=10.10.0.1', 'register=none', 'validate=no'],
    ['reg', 'add', KEY, '/v', 'SearchList', '/t', 'REG_SZ', '/d', 'corp.example', '/f'],
  ]);
  assert.deepEqual(undoArgv(steps).slice(-2), [
    ['netsh', 'interface', 'ipv4', 'delete', 'dnsservers', 'name=office', 'address=all', 'validate=no'],
    ['reg', 'delete', KEY, '/v', 'SearchList', '/f'],
  ]);
});

test('full tunnel: /1 routes per family, endpoint host routes through the old gateway, DNS per family', () => {
  const steps = win32Steps(planTunnel('win32', fullTunnel, facts));
  assert.deepEqual(argv(steps), [
    ['netsh', 'interface', 'ipv4', 'add', 'address', 'name=wg0', 'address=10.66.0.2', 'mask=255.255.255.255', 'store=active'],
    ['netsh', 'interface', 'ipv6', 'add', 'address', 'interface=wg0', 'address=fd00:66::2/128', 'store=active'],
    ['netsh', 'interface', 'ipv4', 'set', 'subinterface', 'interface=wg0', 'mtu=1420', 'store=active'],
    ['netsh', 'interface', 'ipv6', 'set', 'subinterface', 'interface=wg0', 'mtu=1420', 'store=active'],
    ['netsh', 'interface', 'ipv4', 'add', 'route', 'prefix=0.0.0.0/1', 'interface=wg0', 'nexthop=0.0.0.0', 'store=active'],
    ['netsh', 'interface', 'ipv4', 'add', 'route', 'prefix=128.0.0.0/1', 'interface=wg0', 'nexthop=0.0.0.0', 'store=active'],
    ['netsh', 'interface', 'ipv6', 'add', 'route', 'prefix=::/1', 'interface=wg0', 'nexthop=::', 'store=active'],
    ['netsh', 'interface', 'ipv6', 'add', 'route', 'prefix=8000::/1', 'interface=wg0', 'nexthop=::', 'store=active'],
    ['netsh', 'interface', 'ipv4', 'add', 'route', 'prefix=203.0.113.5/32', 'interface=12', 'nexthop=192.168.1.1', 'store=active'],
    ['netsh', 'interface', 'ipv6', 'add', 'route', 'prefix=2001:db8::5/128', 'interface=12', 'nexthop=fe80::1', 'store=active'],
    ['netsh', 'interface', 'ipv4', 'set', 'dnsservers', 'name=wg0', 'source=static', 'address=10.66.0.1', 'register=none', 'validate=no'],
    ['netsh', 'interface', 'ipv4', 'add', 'dnsservers', 'name=wg0', 'address=10.66.0.2', 'index=2', 'validate=no'],
    ['netsh', 'interface', 'ipv6', 'set', 'dnsservers', 'name=wg0', 'source=static', 'address=fd00:66::1', 'register=none', 'validate=no'],
    ['reg', 'add', KEY, '/v', 'SearchList', '/t', 'REG_SZ', '/d', 'vpn.example,corp.example', '/f'],
  ]);
  // No gateway to route an endpoint through: no host route (the /1 routes carry everything).
  const noGateway = win32Steps(planTunnel('win32', fullTunnel, { interfaceGuid: GUID }));
  assert.ok(!argv(noGateway).some((a) => a.includes('nexthop=192.168.1.1')));
});

test('hostile values are refused', () => {
  for (const interfaceName of ['wg0 name=Ethernet', 'wg0"', 'wg0&calc', '$(x)', 'a=b', '']) {
    assert.throws(() => planTunnel('win32', { ...pointToPoint, interfaceName }, facts), /interface name/, interfaceName);
  }
  assert.throws(() => planTunnel('win32', { ...lan, dns: { servers: ['10.0.0.1 validate=yes'], searchDomains: [] } }, facts), /DNS server/);
  assert.throws(() => planTunnel('win32', { ...lan, dns: { servers: ['10.0.0.1'], searchDomains: ['a,b'] } }, facts), /search domain/);
  assert.throws(() => win32Steps(planTunnel('win32', lan, { ...facts, interfaceGuid: 'HKLM\\SOFTWARE' })), /GUID/);
  assert.throws(() => win32Steps(planTunnel('win32', lan, { underlayMtu: 1500 })), /GUID/);
  assert.throws(() => planTunnel('win32', { ...lan, table: 7 }, facts), /Linux only/);
});

test('netsh parsers and probe', async () => {
  const routes = [
    'Publish  Type      Met  Prefix                    Idx  Gateway/Interface Name',
    '-------  --------  ---  ------------------------  ---  ------------------------',
    'No       Manual    35   0.0.0.0/0                   7  10.0.0.1',
    'No       Manual    0    0.0.0.0/0                  12  192.168.1.1',
    'No       System    256  127.0.0.0/8                 1  Loopback Pseudo-Interface 1',
  ].join('\r\n');
  assert.deepEqual(parseNetshDefaultRoute(routes, 4), { address: '192.168.1.1', interface: '12' });
  assert.equal(parseNetshDefaultRoute(routes, 6), undefined);
  const interfaces = [
    'Idx     Met         MTU          State                Name',
    '---  ----------  ----------  ------------  ---------------------------',
    '  1          75  4294967295  connected     Loopback Pseudo-Interface 1',
    ' 12          25        1492  connected     Ethernet',
  ].join('\r\n');
  assert.equal(parseNetshInterfaceMtu(interfaces, '12'), 1492);
  const run: CommandRunner = async (file, args) => {
    const line = [file, ...args].join(' ');
    if (line === 'netsh interface ipv4 show route') return { stdout: routes, stderr: '', code: 0 };
    if (line === 'netsh interface ipv4 show interfaces') return { stdout: interfaces, stderr: '', code: 0 };
    return { stdout: '', stderr: '', code: 1 };
  };
  const probed = await probeWin32({ ...pointToPoint, interfaceGuid: GUID }, run);
  assert.deepEqual(probed, { gateway4: { address: '192.168.1.1', interface: '12' }, underlayMtu: 1492, interfaceGuid: GUID });
  assert.equal(planTunnel('win32', pointToPoint, probed).mtu, 1412);
});
