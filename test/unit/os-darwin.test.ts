/**
 * macOS: the exact ifconfig / route / networksetup commands for a point-to-point tunnel, a LAN
 * tunnel and a full tunnel with DNS and IPv6 (wg-quick's darwin behaviour), the undo of each, the
 * parsers of the tools' output probe() reads, hostile values, and two DNS tunnels stacked.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCidrText as cidr } from '../../engine/os/address.js';
import { planTunnel } from '../../engine/os/plan.js';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createOsConfigurator } from '../../engine/os/configurator.js';
import { silentLogger } from '../../engine/logger.js';
import {
  DARWIN_DNS_TARGET,
  darwinSteps,
  networksetupDnsCommands,
  parseNetworkServices,
  parseNetworksetupList,
  parseRouteGet,
  probeDarwin,
} from '../../engine/os/darwin.js';
import type { CommandRunner, NetworkServiceDns, OsStep, OsTunnelInput, SystemFacts } from '../../engine/os/types.js';

const pointToPoint: OsTunnelInput = {
  interfaceName: 'utun4',
  addresses: [cidr('10.0.0.2/32')],
  dns: { servers: [], searchDomains: [] },
  allowedIps: [cidr('10.0.0.1/32')],
  endpoints: ['203.0.113.5'],
};
const lan: OsTunnelInput = {
  interfaceName: 'utun4',
  addresses: [cidr('10.10.0.2/24')],
  dns: { servers: ['10.10.0.1'], searchDomains: ['corp.example'] },
  mtu: 1380,
  allowedIps: [cidr('10.10.0.0/24'), cidr('192.168.50.0/24')],
  endpoints: ['198.51.100.9'],
};
const fullTunnel: OsTunnelInput = {
  interfaceName: 'utun4',
  addresses: [cidr('10.66.0.2/32'), cidr('fd00:66::2/128')],
  dns: { servers: ['10.66.0.1', 'fd00:66::1'], searchDomains: ['vpn.example'] },
  allowedIps: [cidr('0.0.0.0/0'), cidr('::/0')],
  endpoints: ['203.0.113.5', '2001:db8::5'],
};
const facts: SystemFacts = {
  underlayMtu: 1500,
  gateway4: { address: '192.168.1.1', interface: 'en0' },
  networkServices: [
    { name: 'Wi-Fi', servers: ['Empty'], searchDomains: ['home.example'] },
    { name: 'USB 10/100/1000 LAN', servers: ['192.168.1.53', '192.168.1.54'], searchDomains: ['Empty'] },
  ],
};

function argv(steps: OsStep[]): string[][] {
  return steps.map((step) => (step.kind === 'run' ? [step.command.file, ...step.command.args] : [step.kind]));
}
function undoArgv(steps: OsStep[]): string[][] {
  return steps.flatMap((step) => (step.kind === 'write-file' || step.kind === 'push-dns' ? [] : step.undo.flatMap((u) => (u.kind === 'run' ? [[u.command.file, ...u.command.args]] : []))));
}

test('point-to-point tunnel', () => {
  const steps = darwinSteps(planTunnel('darwin', pointToPoint, facts));
  assert.deepEqual(argv(steps), [
    ['ifconfig', 'utun4', 'inet', '10.0.0.2/32', '10.0.0.2', 'alias'],
    ['ifconfig', 'utun4', 'mtu', '1420'],
    ['ifconfig', 'utun4', 'up'],
    ['route', '-q', '-n', 'add', '-inet', '10.0.0.1/32', '-interface', 'utun4'],
  ]);
  assert.deepEqual(undoArgv(steps), [
    ['ifconfig', 'utun4', 'inet', '10.0.0.2', '-alias'],
    ['ifconfig', 'utun4', 'down'],
    ['route', '-q', '-n', 'delete', '-inet', '10.0.0.1/32', '-interface', 'utun4'],
  ]);
});

test('LAN tunnel with DNS: every network service gets the servers, stacked with other tunnels\' DNS', () => {
  const steps = darwinSteps(planTunnel('darwin', lan, facts));
  assert.deepEqual(argv(steps), [
    ['ifconfig', 'utun4', 'inet', '10.10.0.2/24', '10.10.0.2', 'alias'],
    ['ifconfig', 'utun4', 'mtu', '1380'],
    ['ifconfig', 'utun4', 'up'],
    ['route', '-q', '-n', 'add', '-inet', '10.10.0.0/24', '-interface', 'utun4'],
    ['route', '-q', '-n', 'add', '-inet', '192.168.50.0/24', '-interface', 'utun4'],
    ['push-dns'],
  ]);
  const dns = steps.at(-1);
  assert.ok(dns?.kind === 'push-dns');
  assert.equal(dns.path, DARWIN_DNS_TARGET);
  assert.deepEqual(networksetupDnsCommands(JSON.parse(dns.content) as NetworkServiceDns[]).map((c) => [c.file, ...c.args]), [
    ['networksetup', '-setdnsservers', 'Wi-Fi', '10.10.0.1'],
    ['networksetup', '-setsearchdomains', 'Wi-Fi', 'corp.example'],
    ['networksetup', '-setdnsservers', 'USB 10/100/1000 LAN', '10.10.0.1'],
    ['networksetup', '-setsearchdomains', 'USB 10/100/1000 LAN', 'corp.example'],
  ]);
});

test('two DNS tunnels on macOS: each service\'s own settings saved once; in either order the one still up keeps its DNS, the last one out restores them', async () => {
  const servicesBefore: Record<string, { dns: string; search: string }> = {
    'Wi-Fi': { dns: "There aren't any DNS Servers set on Wi-Fi.\n", search: 'home.example\n' },
    'USB 10/100/1000 LAN': { dns: '192.168.1.53\n192.168.1.54\n', search: "There aren't any Search Domains set on USB 10/100/1000 LAN.\n" },
  };
  for (const firstDown of ['A', 'B'] as const) {
    const dir = mkdtempSync(join(tmpdir(), 'wirelane-darwin-dns-'));
    try {
      const log: string[] = [];
      const run: CommandRunner = async (file, args) => {
        log.push([file, ...args].join(' '));
        if (args[0] === '-listallnetworkservices') return { stdout: 'An asterisk (*) denotes that a network service is disabled.\nWi-Fi\nUSB 10/100/1000 LAN\n', stderr: '', code: 0 };
        if (args[0] === '-getdnsservers') return { stdout: servicesBefore[args[1] ?? '']?.dns ?? '', stderr: '', code: 0 };
        if (args[0] === '-getsearchdomains') return { stdout: servicesBefore[args[1] ?? '']?.search ?? '', stderr: '', code: 0 };
        return { stdout: '', stderr: '', code: 0 };
      };
      const os = createOsConfigurator({ platform: 'darwin', journalDir: dir, runner: run, logger: silentLogger });
      const a = await os.apply(os.plan({ ...lan, interfaceName: 'utun4' }, facts));
      const b = await os.apply(os.plan({ ...lan, interfaceName: 'utun5', dns: { servers: ['10.20.0.1'], searchDomains: [] } }, facts));
      const dnsLines = () => log.filter((line) => line.startsWith('networksetup -set'));
      log.length = 0;
      await os.revert(firstDown === 'A' ? a : b);
      assert.deepEqual(
        dnsLines(),
        firstDown === 'A'
          ? ['networksetup -setdnsservers Wi-Fi 10.20.0.1', 'networksetup -setsearchdomains Wi-Fi Empty', 'networksetup -setdnsservers USB 10/100/1000 LAN 10.20.0.1', 'networksetup -setsearchdomains USB 10/100/1000 LAN Empty']
          : ['networksetup -setdnsservers Wi-Fi 10.10.0.1', 'networksetup -setsearchdomains Wi-Fi corp.example', 'networksetup -setdnsservers USB 10/100/1000 LAN 10.10.0.1', 'networksetup -setsearchdomains USB 10/100/1000 LAN corp.example'],
        `${firstDown} down first: the other tunnel's DNS stays in force`,
      );
      log.length = 0;
      await os.revert(firstDown === 'A' ? b : a);
      assert.deepEqual(dnsLines(), [
        'networksetup -setdnsservers Wi-Fi Empty',
        'networksetup -setsearchdomains Wi-Fi home.example',
        'networksetup -setdnsservers USB 10/100/1000 LAN 192.168.1.53 192.168.1.54',
        'networksetup -setsearchdomains USB 10/100/1000 LAN Empty',
      ]);
      assert.deepEqual(readdirSync(dir), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

test('full tunnel: two /1 routes per family and the endpoints through the old gateway (blackhole without one)', () => {
  const steps = darwinSteps(planTunnel('darwin', fullTunnel, facts));
  assert.deepEqual(argv(steps).slice(0, 12), [
    ['ifconfig', 'utun4', 'inet', '10.66.0.2/32', '10.66.0.2', 'alias'],
    ['ifconfig', 'utun4', 'inet6', 'fd00:66::2/128', 'alias'],
    ['ifconfig', 'utun4', 'mtu', '1420'],
    ['ifconfig', 'utun4', 'up'],
    ['route', '-q', '-n', 'add', '-inet', '0.0.0.0/1', '-interface', 'utun4'],
    ['route', '-q', '-n', 'add', '-inet', '128.0.0.0/1', '-interface', 'utun4'],
    ['route', '-q', '-n', 'add', '-inet6', '::/1', '-interface', 'utun4'],
    ['route', '-q', '-n', 'add', '-inet6', '8000::/1', '-interface', 'utun4'],
    ['route', '-q', '-n', 'add', '-inet', '203.0.113.5', '-gateway', '192.168.1.1'],
    ['route', '-q', '-n', 'add', '-inet6', '2001:db8::5', '::1', '-blackhole'],
    ['push-dns'],
  ]);
  assert.ok(undoArgv(steps).some((a) => a.join(' ') === 'route -q -n delete -inet 203.0.113.5'));
  assert.ok(undoArgv(steps).some((a) => a.join(' ') === 'route -q -n delete -inet6 ::/1 -interface utun4'));
  // Without search domains, wg-quick clears them with "Empty".
  const noSearch = darwinSteps(planTunnel('darwin', { ...fullTunnel, dns: { servers: ['10.66.0.1'], searchDomains: [] } }, facts)).at(-1);
  assert.ok(noSearch?.kind === 'push-dns');
  assert.ok(networksetupDnsCommands(JSON.parse(noSearch.content) as NetworkServiceDns[]).some((c) => c.args.join(' ') === '-setsearchdomains Wi-Fi Empty'));
});

test('Table: auto and off only on macOS', () => {
  assert.deepEqual(planTunnel('darwin', { ...fullTunnel, table: 'off' }, facts).routes, []);
  assert.throws(() => planTunnel('darwin', { ...fullTunnel, table: 1000 }, facts), /Linux only/);
});

test('hostile values are refused; utun names only', () => {
  for (const interfaceName of ['wg0', 'utun4; reboot', 'utun$(x)', 'utun 4', 'utun4\n']) {
    assert.throws(() => planTunnel('darwin', { ...pointToPoint, interfaceName }, facts), /interface name/);
  }
  assert.throws(() => planTunnel('darwin', { ...lan, dns: { servers: ['10.0.0.1 8.8.8.8'], searchDomains: [] } }, facts), /DNS server/);
  assert.throws(() => planTunnel('darwin', { ...lan, dns: { servers: ['10.0.0.1'], searchDomains: ['Empty example'] } }, facts), /search domain/);
  // A network service name from the system with spaces and slashes stays one argument.
  const dns = darwinSteps(planTunnel('darwin', lan, facts)).at(-1);
  assert.ok(dns?.kind === 'push-dns');
  const steps = networksetupDnsCommands(JSON.parse(dns.content) as NetworkServiceDns[]).map((c) => [c.file, ...c.args]);
  assert.ok(steps.some((a) => a[2] === 'USB 10/100/1000 LAN' && a.length === 4));
});

test('route -n get default, networksetup listings', () => {
  const routeGet = [
    '   route to: default',
    'destination: default',
    '       mask: default',
    '    gateway: 192.168.1.1',
    '  interface: en0',
    '      flags: <UP,GATEWAY,DONE,STATIC,PRCLONING>',
    ' recvpipe  sendpipe  ssthresh  rtt,msec    rttvar  hopcount      mtu     expire',
    '       0         0         0         0         0         0      1500         0',
  ].join('\n');
  assert.deepEqual(parseRouteGet(routeGet), { gateway: { address: '192.168.1.1', interface: 'en0' }, interface: 'en0', mtu: 1500 });
  assert.deepEqual(parseRouteGet('   route to: default\n    gateway: fe80::1%en0\n  interface: en0\n'), {
    gateway: { address: 'fe80::1', interface: 'en0' },
    interface: 'en0',
  });
  assert.equal(parseRouteGet('route: writing to routing socket: not in table\n').gateway, undefined);
  assert.deepEqual(
    parseNetworkServices('An asterisk (*) denotes that a network service is disabled.\nWi-Fi\n*Thunderbolt Bridge\nUSB 10/100/1000 LAN\n'),
    ['Wi-Fi', 'Thunderbolt Bridge', 'USB 10/100/1000 LAN'],
  );
  assert.deepEqual(parseNetworksetupList("There aren't any DNS Servers set on Wi-Fi.\n"), ['Empty']);
  assert.deepEqual(parseNetworksetupList('192.168.1.53\n192.168.1.54\n'), ['192.168.1.53', '192.168.1.54']);
});

test('probe reads gateways, the default interface MTU and each service\'s DNS', async () => {
  const outputs: Record<string, string> = {
    'route -n get default': '    gateway: 192.168.1.1\n  interface: en0\n',
    'route -n get -inet6 default': 'route: writing to routing socket: not in table\n',
    'ifconfig en0': 'en0: flags=8863<UP,BROADCAST,SMART,RUNNING,SIMPLEX,MULTICAST> mtu 1500\n',
    'networksetup -listallnetworkservices': 'An asterisk (*) denotes that a network service is disabled.\nWi-Fi\n',
    'networksetup -getdnsservers Wi-Fi': "There aren't any DNS Servers set on Wi-Fi.\n",
    'networksetup -getsearchdomains Wi-Fi': 'home.example\n',
  };
  const run: CommandRunner = async (file, args) => {
    const stdout = outputs[[file, ...args].join(' ')];
    return stdout === undefined ? { stdout: '', stderr: 'unexpected', code: 1 } : { stdout, stderr: '', code: 0 };
  };
  assert.deepEqual(await probeDarwin(lan, run), {
    gateway4: { address: '192.168.1.1', interface: 'en0' },
    networkServices: [{ name: 'Wi-Fi', servers: ['Empty'], searchDomains: ['home.example'] }],
  });
  assert.equal((await probeDarwin(pointToPoint, run)).underlayMtu, 1500);
});
