/**
 * macOS: ifconfig for addresses, MTU and link state; route(8) for routes; networksetup for DNS,
 * per network service, the way wg-quick's darwin variant does it.
 *
 * darwinSteps() is pure; probeDarwin() reads `route -n get default`, `ifconfig` and networksetup.
 * Written to the tools' documented behaviour and unit-tested on the commands it produces (there is
 * no Mac in this workplace).
 */
import { checkIpAddress, checkSearchDomain, formatCidr } from './address.js';
import type { DnsTarget } from './dns-stack.js';
import { describeCommand } from './runner.js';
import type { CommandRunner, Gateway, NetworkServiceDns, OsStep, OsTunnelInput, OsTunnelPlan, SystemFacts, UndoAction } from './types.js';

/** route(8) and ifconfig(8) stderr when what we remove is gone (or so is the utun device). */
const BSD_ALREADY_GONE = ['not in table', 'does not exist', "Can't assign requested address", 'No such process', 'Device not configured'];
const BSD_ALREADY_THERE = ['File exists'];

function undoRun(file: string, args: string[], alreadyUndone: readonly string[] = BSD_ALREADY_GONE): UndoAction {
  return { kind: 'run', command: { file, args }, alreadyUndone };
}

export function darwinSteps(plan: OsTunnelPlan): OsStep[] {
  const utun = plan.interfaceName;
  const steps: OsStep[] = [];

  for (const address of plan.addresses) {
    const text = formatCidr(address);
    const host = text.slice(0, text.indexOf('/'));
    if (address.family === 4) {
      // A point-to-point utun takes a destination address; wg-quick gives the host address again.
      steps.push({
        kind: 'run',
        description: `add address ${text} to ${utun}`,
        command: { file: 'ifconfig', args: [utun, 'inet', text, host, 'alias'] },
        undo: [undoRun('ifconfig', [utun, 'inet', host, '-alias'])],
      });
    } else {
      steps.push({
        kind: 'run',
        description: `add address ${text} to ${utun}`,
        command: { file: 'ifconfig', args: [utun, 'inet6', text, 'alias'] },
        undo: [undoRun('ifconfig', [utun, 'inet6', host, '-alias'])],
      });
    }
  }
  // The utun device disappears with the helper's handle, so its MTU needs no undo.
  steps.push({ kind: 'run', description: `set MTU ${plan.mtu} on ${utun}`, command: { file: 'ifconfig', args: [utun, 'mtu', String(plan.mtu)] }, undo: [] });
  steps.push({
    kind: 'run',
    description: `bring ${utun} up`,
    command: { file: 'ifconfig', args: [utun, 'up'] },
    undo: [undoRun('ifconfig', [utun, 'down'])],
  });

  for (const route of plan.routes) {
    const inet = route.destination.family === 4 ? '-inet' : '-inet6';
    const destination = formatCidr(route.destination);
    steps.push({
      kind: 'run',
      description: `add route ${destination} via ${utun}`,
      command: { file: 'route', args: ['-q', '-n', 'add', inet, destination, '-interface', utun] },
      alreadyDone: BSD_ALREADY_THERE,
      undo: [undoRun('route', ['-q', '-n', 'delete', inet, destination, '-interface', utun])],
    });
  }

  for (const route of plan.endpointRoutes) {
    const inet = route.family === 4 ? '-inet' : '-inet6';
    const target = route.gateway
      ? ['-gateway', route.gateway.address]
      : // No gateway: blackhole the endpoint so the tunnel never routes its own packets into itself.
        [route.family === 4 ? '127.0.0.1' : '::1', '-blackhole'];
    steps.push({
      kind: 'run',
      description: `route endpoint ${route.destination} ${route.gateway ? `through ${route.gateway.address}` : 'to a blackhole'}`,
      command: { file: 'route', args: ['-q', '-n', 'add', inet, route.destination, ...target] },
      alreadyDone: BSD_ALREADY_THERE,
      undo: [undoRun('route', ['-q', '-n', 'delete', inet, route.destination])],
    });
  }

  if (plan.dns && (plan.facts.networkServices ?? []).length > 0) {
    // Every network service gets the tunnel's DNS, stacked with other tunnels' (dns-stack.ts): the
    // services' own settings are saved once and come back when the last DNS tunnel goes.
    const layer: NetworkServiceDns[] = (plan.facts.networkServices ?? []).map((service) => ({
      name: service.name,
      servers: plan.dns?.servers ?? [],
      searchDomains: plan.dns && plan.dns.searchDomains.length > 0 ? plan.dns.searchDomains : ['Empty'],
    }));
    steps.push({
      kind: 'push-dns',
      description: `set DNS of every network service for ${utun}`,
      path: DARWIN_DNS_TARGET,
      owner: utun,
      content: JSON.stringify(layer),
    });
  }
  return steps;
}

/** The name journals give the macOS DNS stack's target (the network services' settings). */
export const DARWIN_DNS_TARGET = 'networksetup:dns';

/** The networksetup commands that put these per-service settings in force ("Empty" = none). */
export function networksetupDnsCommands(services: readonly NetworkServiceDns[]): { file: string; args: string[] }[] {
  return services.flatMap((service) => [
    { file: 'networksetup', args: ['-setdnsservers', service.name, ...(service.servers.length > 0 ? service.servers : ['Empty'])] },
    { file: 'networksetup', args: ['-setsearchdomains', service.name, ...(service.searchDomains.length > 0 ? service.searchDomains : ['Empty'])] },
  ]);
}

/** Per-service settings from the stack's records: each value an IP literal, a domain or "Empty". */
function parseServiceList(bytes: Uint8Array): NetworkServiceDns[] {
  const value: unknown = JSON.parse(Buffer.from(bytes).toString('utf8'));
  if (!Array.isArray(value)) throw new Error('not a list of network services');
  const words = (list: unknown, check: (word: string) => string): string[] => {
    if (!Array.isArray(list) || !list.every((word) => typeof word === 'string')) throw new Error('not a list of words');
    return list.map((word: string) => (word === 'Empty' ? word : check(word)));
  };
  return value.map((entry: unknown) => {
    const service = entry as Record<string, unknown>;
    if (typeof service['name'] !== 'string' || service['name'] === '' || service['name'].startsWith('-')) throw new Error('not a network service name');
    return {
      name: service['name'],
      servers: words(service['servers'], (word) => checkIpAddress(word, 'DNS server')),
      searchDomains: words(service['searchDomains'], checkSearchDomain),
    };
  });
}

/** The macOS DNS stack target: reads every service's DNS settings, writes a list of them back. */
export function darwinDnsTarget(run: CommandRunner): DnsTarget {
  return {
    async read() {
      const services: NetworkServiceDns[] = [];
      const list = await run('networksetup', ['-listallnetworkservices']);
      if (list.code !== 0) throw new Error(`networksetup -listallnetworkservices exited with ${list.code}: ${list.stderr.trim()}`);
      for (const name of parseNetworkServices(list.stdout)) {
        const servers = parseNetworksetupList((await run('networksetup', ['-getdnsservers', name])).stdout);
        const searchDomains = parseNetworksetupList((await run('networksetup', ['-getsearchdomains', name])).stdout);
        services.push({ name, servers, searchDomains });
      }
      return Buffer.from(JSON.stringify(services), 'utf8');
    },
    async write(bytes) {
      if (bytes === null) return;
      for (const command of networksetupDnsCommands(parseServiceList(bytes))) {
        const result = await run(command.file, command.args);
        if (result.code !== 0) throw new Error(`${describeCommand(command.file, command.args)} exited with ${result.code}: ${result.stderr.trim()}`);
      }
    },
  };
}

/**
 * Parses `route -n get default` (and `route -n get -inet6 default`):
 *       gateway: 192.168.1.1
 *     interface: en0
 *     ... recvpipe  sendpipe  ssthresh  rtt,msec    rttvar  hopcount      mtu     expire
 *            0         0         0         0         0         0      1500         0
 */
export function parseRouteGet(output: string): { gateway?: Gateway; mtu?: number; interface?: string } {
  const gateway = /^\s*gateway:\s*(\S+)\s*$/m.exec(output)?.[1];
  const iface = /^\s*interface:\s*(\S+)\s*$/m.exec(output)?.[1];
  const lines = output.split('\n');
  let mtu: number | undefined;
  const header = lines.findIndex((line) => /\bmtu\b/.test(line) && /\brecvpipe\b/.test(line));
  if (header >= 0) {
    const names = (lines[header] ?? '').trim().split(/\s+/);
    const values = (lines[header + 1] ?? '').trim().split(/\s+/);
    const value = Number(values[names.indexOf('mtu')]);
    if (Number.isInteger(value) && value > 0) mtu = value;
  }
  const result: { gateway?: Gateway; mtu?: number; interface?: string } = {};
  // A gateway of "link#N" or an interface name means an on-link default route: no next hop.
  const usableGateway = gateway?.replace(/%.*$/, '');
  if (usableGateway && iface && /^[0-9a-fA-F.:]+$/.test(usableGateway) && usableGateway.length > 1) {
    result.gateway = { address: usableGateway, interface: iface };
  }
  if (iface) result.interface = iface;
  if (mtu !== undefined) result.mtu = mtu;
  return result;
}

/** The services `networksetup -listallnetworkservices` prints (first line is a notice; "*" = disabled). */
export function parseNetworkServices(output: string): string[] {
  return output
    .split('\n')
    .slice(1)
    .map((line) => line.replace(/\r$/, ''))
    .filter((line) => line.trim() !== '')
    .map((line) => (line.startsWith('*') ? line.slice(1) : line));
}

/** `networksetup -getdnsservers S` / `-getsearchdomains S`: one value a line, or a sentence meaning none. */
export function parseNetworksetupList(output: string): string[] {
  const lines = output.split('\n').map((line) => line.trim()).filter((line) => line !== '');
  // "There aren't any DNS Servers set on Wi-Fi." — any line with a space is a sentence, not a value.
  if (lines.length === 0 || lines.some((line) => line.includes(' '))) return ['Empty'];
  return lines;
}

export async function probeDarwin(input: OsTunnelInput, run: CommandRunner): Promise<SystemFacts> {
  const facts: { -readonly [K in keyof SystemFacts]: SystemFacts[K] } = {};
  const v4 = parseRouteGet((await run('route', ['-n', 'get', 'default'])).stdout);
  const v6 = parseRouteGet((await run('route', ['-n', 'get', '-inet6', 'default'])).stdout);
  if (v4.gateway) facts.gateway4 = v4.gateway;
  if (v6.gateway) facts.gateway6 = v6.gateway;
  if (input.mtu === undefined) {
    let mtu = v4.mtu;
    if (mtu === undefined && v4.interface) {
      const ifconfig = await run('ifconfig', [v4.interface]);
      const match = /\bmtu (\d+)/.exec(ifconfig.stdout);
      if (match) mtu = Number(match[1]);
    }
    if (mtu !== undefined) facts.underlayMtu = mtu;
  }
  if (input.dns.servers.length > 0) {
    const services: NetworkServiceDns[] = [];
    const list = await run('networksetup', ['-listallnetworkservices']);
    for (const name of parseNetworkServices(list.stdout)) {
      const servers = parseNetworksetupList((await run('networksetup', ['-getdnsservers', name])).stdout);
      const searchDomains = parseNetworksetupList((await run('networksetup', ['-getsearchdomains', name])).stdout);
      services.push({ name, servers, searchDomains });
    }
    facts.networkServices = services;
  }
  return facts;
}
