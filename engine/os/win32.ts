/**
 * Windows: netsh for addresses, MTU, routes and DNS servers; the adapter's registry key for its DNS
 * search list (netsh has no per-interface search list; reg.exe takes the list as one argument, where
 * PowerShell would need the values spliced into a script).
 *
 * win32Steps() is pure; probeWin32() parses `netsh interface ipv4|ipv6 show route` and
 * `show interfaces`. Written to netsh's documented syntax and unit-tested on the commands it produces
 * (there is no Windows machine in this workplace).
 */
import { formatCidr, ipv4Netmask, OsValueError } from './address.js';
import type { CommandRunner, Gateway, OsStep, OsTunnelInput, OsTunnelPlan, SystemFacts, UndoAction } from './types.js';

/** netsh's messages when what we remove is gone, or the adapter is. */
const NETSH_ALREADY_GONE = ['Element not found', 'not found', 'cannot find', 'The filename, directory name, or volume label syntax is incorrect'];
const NETSH_ALREADY_THERE = ['already exists'];

const GUID = /^\{[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\}$/;

function netsh(args: string[]): { file: string; args: string[] } {
  return { file: 'netsh', args };
}

function netshUndo(args: string[]): UndoAction {
  return { kind: 'run', command: netsh(args), alreadyUndone: NETSH_ALREADY_GONE };
}

function ipv(family: 4 | 6): 'ipv4' | 'ipv6' {
  return family === 4 ? 'ipv4' : 'ipv6';
}

/** The registry key of an adapter's TCP/IP parameters (where Windows reads its SearchList). */
export function tcpipInterfaceKey(guid: string): string {
  if (!GUID.test(guid)) throw new OsValueError(`not an interface GUID: ${JSON.stringify(guid)}`);
  return `HKLM\\SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters\\Interfaces\\${guid}`;
}

export function win32Steps(plan: OsTunnelPlan): OsStep[] {
  const name = plan.interfaceName;
  const steps: OsStep[] = [];

  for (const address of plan.addresses) {
    const text = formatCidr(address);
    const host = text.slice(0, text.indexOf('/'));
    const command =
      address.family === 4
        ? netsh(['interface', 'ipv4', 'add', 'address', `name=${name}`, `address=${host}`, `mask=${ipv4Netmask(address.bits)}`, 'store=active'])
        : netsh(['interface', 'ipv6', 'add', 'address', `interface=${name}`, `address=${text}`, 'store=active']);
    const undo =
      address.family === 4
        ? netshUndo(['interface', 'ipv4', 'delete', 'address', `name=${name}`, `address=${host}`])
        : netshUndo(['interface', 'ipv6', 'delete', 'address', `interface=${name}`, `address=${host}`]);
    steps.push({ kind: 'run', description: `add address ${text} to ${name}`, command, alreadyDone: NETSH_ALREADY_THERE, undo: [undo] });
  }

  // The Wintun adapter goes away when the helper closes it, so its MTU needs no undo.
  const families = new Set<4 | 6>([4, ...plan.addresses.map((address) => address.family)]);
  for (const family of [...families].sort()) {
    steps.push({
      kind: 'run',
      description: `set ${ipv(family)} MTU ${plan.mtu} on ${name}`,
      command: netsh(['interface', ipv(family), 'set', 'subinterface', `interface=${name}`, `mtu=${plan.mtu}`, 'store=active']),
      undo: [],
    });
  }

  for (const route of plan.routes) {
    const family = route.destination.family;
    const prefix = formatCidr(route.destination);
    const onLink = family === 4 ? '0.0.0.0' : '::';
    const where = [`prefix=${prefix}`, `interface=${name}`, `nexthop=${onLink}`];
    steps.push({
      kind: 'run',
      description: `add route ${prefix} via ${name}`,
      command: netsh(['interface', ipv(family), 'add', 'route', ...where, 'store=active']),
      alreadyDone: NETSH_ALREADY_THERE,
      undo: [netshUndo(['interface', ipv(family), 'delete', 'route', ...where, 'store=active'])],
    });
  }

  for (const route of plan.endpointRoutes) {
    // Without a gateway there is nothing to route the endpoint through; the /1 routes then carry it.
    if (!route.gateway) continue;
    const prefix = `${route.destination}/${route.family === 4 ? 32 : 128}`;
    const where = [`prefix=${prefix}`, `interface=${route.gateway.interface}`, `nexthop=${route.gateway.address}`];
    steps.push({
      kind: 'run',
      description: `route endpoint ${route.destination} through ${route.gateway.address}`,
      command: netsh(['interface', ipv(route.family), 'add', 'route', ...where, 'store=active']),
      alreadyDone: NETSH_ALREADY_THERE,
      undo: [netshUndo(['interface', ipv(route.family), 'delete', 'route', ...where, 'store=active'])],
    });
  }

  if (plan.dns) {
    for (const family of [4, 6] as const) {
      const servers = plan.dns.servers.filter((server) => (server.includes(':') ? 6 : 4) === family);
      servers.forEach((server, index) => {
        const command =
          index === 0
            ? netsh(['interface', ipv(family), 'set', 'dnsservers', `name=${name}`, 'source=static', `address=${server}`, 'register=none', 'validate=no'])
            : netsh(['interface', ipv(family), 'add', 'dnsservers', `name=${name}`, `address=${server}`, `index=${index + 1}`, 'validate=no']);
        steps.push({
          kind: 'run',
          description: `add DNS server ${server} to ${name}`,
          command,
          undo: index === 0 ? [netshUndo(['interface', ipv(family), 'delete', 'dnsservers', `name=${name}`, 'address=all', 'validate=no'])] : [],
        });
      });
    }
    if (plan.dns.searchDomains.length > 0) {
      const guid = plan.facts.interfaceGuid;
      if (guid === undefined) throw new OsValueError('DNS search domains on Windows need the adapter GUID');
      const key = tcpipInterfaceKey(guid);
      steps.push({
        kind: 'run',
        description: `set DNS search list of ${name}`,
        command: { file: 'reg', args: ['add', key, '/v', 'SearchList', '/t', 'REG_SZ', '/d', plan.dns.searchDomains.join(','), '/f'] },
        undo: [{ kind: 'run', command: { file: 'reg', args: ['delete', key, '/v', 'SearchList', '/f'] }, alreadyUndone: ['unable to find'] }],
      });
    }
  }
  return steps;
}

/**
 * The default route with the lowest metric from `netsh interface ipv4|ipv6 show route`:
 *   Publish  Type      Met  Prefix                    Idx  Gateway/Interface Name
 *   No       Manual    0    0.0.0.0/0                  12  192.168.1.1
 */
export function parseNetshDefaultRoute(output: string, family: 4 | 6): Gateway | undefined {
  const wanted = family === 4 ? '0.0.0.0/0' : '::/0';
  let best: { metric: number; gateway: Gateway } | undefined;
  for (const line of output.split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 6 || cols[3] !== wanted) continue;
    const metric = Number(cols[2]);
    const index = cols[4] ?? '';
    const address = cols[5] ?? '';
    if (!/^\d+$/.test(index) || !/^[0-9a-fA-F.:]+$/.test(address) || address === '0.0.0.0' || address === '::') continue;
    if (!best || metric < best.metric) best = { metric, gateway: { address, interface: index } };
  }
  return best?.gateway;
}

/**
 * The MTU of interface `index` from `netsh interface ipv4 show interfaces`:
 *   Idx     Met         MTU          State                Name
 *    12          25        1500  connected     Ethernet
 */
export function parseNetshInterfaceMtu(output: string, index: string): number | undefined {
  for (const line of output.split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols[0] === index && /^\d+$/.test(cols[2] ?? '')) return Number(cols[2]);
  }
  return undefined;
}

export async function probeWin32(input: OsTunnelInput, run: CommandRunner): Promise<SystemFacts> {
  const facts: { -readonly [K in keyof SystemFacts]: SystemFacts[K] } = {};
  const gateway4 = parseNetshDefaultRoute((await run('netsh', ['interface', 'ipv4', 'show', 'route'])).stdout, 4);
  const gateway6 = parseNetshDefaultRoute((await run('netsh', ['interface', 'ipv6', 'show', 'route'])).stdout, 6);
  if (gateway4) facts.gateway4 = gateway4;
  if (gateway6) facts.gateway6 = gateway6;
  if (input.mtu === undefined && gateway4) {
    const mtu = parseNetshInterfaceMtu((await run('netsh', ['interface', 'ipv4', 'show', 'interfaces'])).stdout, gateway4.interface);
    if (mtu !== undefined) facts.underlayMtu = mtu;
  }
  if (input.interfaceGuid !== undefined) {
    tcpipInterfaceKey(input.interfaceGuid);
    facts.interfaceGuid = input.interfaceGuid;
  }
  return facts;
}
