/**
 * Linux: iproute2 (`ip`) for addresses, MTU, routes and policy rules; sysctl for src_valid_mark;
 * DNS through resolvectl (systemd-resolved), else resolvconf, else /etc/resolv.conf edited in place.
 *
 * linuxSteps() is pure (plan in, argv lists out) so the unit tests compare exact commands;
 * probeLinux() reads the system through the runner, so it works inside a network namespace too.
 */
import { access, constants as fsConstants, readFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { formatCidr } from './address.js';
import type { Command, CommandRunner, OsStep, OsTunnelInput, OsTunnelPlan, PlannedRule, SystemFacts, UndoAction } from './types.js';
import { DEFAULT_FULL_TUNNEL_TABLE } from './plan.js';
import { fullTunnelFamilies } from '../helper/conf-info.js';

/** iproute2's stderr when what we remove is already gone (or its interface is). */
const IP_ALREADY_GONE = [
  'Cannot find device',
  'No such device',
  'No such process', // route del of a missing route
  'Cannot assign requested address', // address del of a missing address (older iproute2)
  'Address not found', // address del of a missing address (iproute2 6.x)
  'No such file or directory', // rule del of a missing rule
];
/** iproute2's stderr when what we add is already there (the kernel's own prefix route of an address). */
const IP_ALREADY_THERE = ['File exists'];

export interface LinuxOptions {
  /** The resolv.conf to edit when neither resolvectl nor resolvconf is there; default /etc/resolv.conf. */
  readonly resolvConfPath?: string;
  /** Forces the DNS method instead of detecting it. */
  readonly dnsMethod?: 'resolvectl' | 'resolvconf' | 'resolv.conf';
}

function ipUndo(args: readonly string[]): UndoAction {
  return { kind: 'run', command: { file: 'ip', args }, alreadyUndone: IP_ALREADY_GONE };
}

function family(flag: 4 | 6): string {
  return flag === 4 ? '-4' : '-6';
}

/** The argv after `ip -4|-6 rule add|del`. */
function ruleSelector(rule: PlannedRule): string[] {
  return rule.kind === 'not-fwmark'
    ? ['not', 'fwmark', String(rule.fwmark), 'table', String(rule.table)]
    : ['table', 'main', 'suppress_prefixlength', '0'];
}

/** The resolv.conf body wg-quick hands resolvconf: nameserver lines, then one search line. */
export function resolvConfBody(servers: readonly string[], searchDomains: readonly string[]): string {
  const lines = servers.map((server) => `nameserver ${server}`);
  if (searchDomains.length > 0) lines.push(`search ${searchDomains.join(' ')}`);
  return `${lines.join('\n')}\n`;
}

export function linuxSteps(plan: OsTunnelPlan, options: LinuxOptions = {}): OsStep[] {
  const dev = plan.interfaceName;
  const facts = plan.facts;
  const steps: OsStep[] = [];
  const run = (description: string, command: Command, undo: UndoAction[], alreadyDone?: readonly string[], alreadyDoneIf?: Command): void => {
    const step: OsStep = { kind: 'run', description, command, undo, ...(alreadyDone ? { alreadyDone } : {}), ...(alreadyDoneIf ? { alreadyDoneIf } : {}) };
    steps.push(step);
  };

  // Only an interface the helper created is deleted on undo (this step goes first: undone last).
  if (plan.ownsInterface) steps.push(linuxOwnedInterfaceStep(dev));

  for (const address of plan.addresses) {
    const text = formatCidr(address);
    const args = [family(address.family), 'address', 'add', text, 'dev', dev];
    run(`add address ${text} to ${dev}`, { file: 'ip', args }, [ipUndo([family(address.family), 'address', 'del', text, 'dev', dev])], IP_ALREADY_THERE);
  }

  const before = facts.linkBefore;
  const linkUndo: UndoAction[] = before
    ? [ipUndo(['link', 'set', 'mtu', String(before.mtu), ...(before.up ? [] : ['down']), 'dev', dev])]
    : [];
  run(`set MTU ${plan.mtu} on ${dev} and bring it up`, { file: 'ip', args: ['link', 'set', 'mtu', String(plan.mtu), 'up', 'dev', dev] }, linkUndo);

  if (plan.dns) steps.push(...linuxDnsSteps(plan, options));

  for (const route of plan.routes) {
    const destination = formatCidr(route.destination);
    const where = route.table === undefined ? [] : ['table', String(route.table)];
    run(
      `add route ${destination} via ${dev}${route.table === undefined ? '' : ` in table ${route.table}`}`,
      { file: 'ip', args: [family(route.destination.family), 'route', 'add', destination, 'dev', dev, ...where] },
      [ipUndo([family(route.destination.family), 'route', 'del', destination, 'dev', dev, ...where])],
      IP_ALREADY_THERE,
      // "File exists" is fine for the kernel's own prefix route of our address (same device);
      // the same prefix through another interface would take this tunnel's traffic: refused.
      { file: 'ip', args: [family(route.destination.family), 'route', 'show', 'table', String(route.table ?? 'main'), 'exact', destination, 'dev', dev] },
    );
    // wg-quick adds the policy rules right after each family's default route in the fwmark table.
    if (route.destination.bits === 0 && route.table !== undefined && route.table === plan.fwmark) {
      for (const rule of plan.rules.filter((r) => r.family === route.destination.family)) {
        const selector = ruleSelector(rule);
        run(
          `add ${rule.family === 4 ? 'IPv4' : 'IPv6'} rule ${selector.join(' ')}`,
          { file: 'ip', args: [family(rule.family), 'rule', 'add', ...selector] },
          [ipUndo([family(rule.family), 'rule', 'del', ...selector])],
        );
      }
      if (route.destination.family === 4 && plan.srcValidMark && facts.srcValidMarkBefore !== true) {
        // wg-quick sets it so replies to the tunnel's marked packets pass reverse-path filtering.
        run(
          'set net.ipv4.conf.all.src_valid_mark=1',
          { file: 'sysctl', args: ['-q', '-w', 'net.ipv4.conf.all.src_valid_mark=1'] },
          [{ kind: 'run', command: { file: 'sysctl', args: ['-q', '-w', 'net.ipv4.conf.all.src_valid_mark=0'] } }],
        );
      }
    }
  }
  return steps;
}

/** The step that makes undo delete an interface the helper created. Goes first, so it is undone last. */
export function linuxOwnedInterfaceStep(interfaceName: string): OsStep {
  return {
    kind: 'record',
    description: `interface ${interfaceName} created for the tunnel`,
    undo: [ipUndo(['link', 'delete', 'dev', interfaceName])],
  };
}

function linuxDnsSteps(plan: OsTunnelPlan, options: LinuxOptions): OsStep[] {
  const dns = plan.dns;
  if (!dns) return [];
  const dev = plan.interfaceName;
  const method = options.dnsMethod ?? plan.facts.linuxDns ?? 'resolv.conf';
  if (method === 'resolvectl') {
    const revert: UndoAction = {
      kind: 'run',
      command: { file: 'resolvectl', args: ['revert', dev] },
      alreadyUndone: ['Failed to resolve interface', 'No such device', 'Unknown interface'],
    };
    // For a full tunnel "~." makes this link's servers answer every domain, as its default route.
    const domains = [...dns.searchDomains, ...(dns.defaultRoute ? ['~.'] : [])];
    const steps: OsStep[] = [
      { kind: 'run', description: `set DNS servers of ${dev}`, command: { file: 'resolvectl', args: ['dns', dev, ...dns.servers] }, undo: [revert] },
    ];
    if (domains.length > 0) {
      steps.push({ kind: 'run', description: `set DNS domains of ${dev}`, command: { file: 'resolvectl', args: ['domain', dev, ...domains] }, undo: [revert] });
    }
    steps.push({
      kind: 'run',
      description: `make ${dev} ${dns.defaultRoute ? 'the' : 'not the'} default DNS route`,
      command: { file: 'resolvectl', args: ['default-route', dev, dns.defaultRoute ? 'yes' : 'no'] },
      undo: [revert],
    });
    return steps;
  }
  const body = resolvConfBody(dns.servers, dns.searchDomains);
  if (method === 'resolvconf') {
    // As wg-quick: exclusive (-x) at the highest priority (-m 0) while the tunnel is up.
    return [
      {
        kind: 'run',
        description: `register DNS of ${dev} with resolvconf`,
        command: { file: 'resolvconf', args: ['-a', `tun.${dev}`, '-m', '0', '-x'], input: body },
        undo: [{ kind: 'run', command: { file: 'resolvconf', args: ['-d', `tun.${dev}`, '-f'] } }],
      },
    ];
  }
  return [
    {
      // Stacked with other tunnels' DNS: the machine's own file comes back when the last one goes.
      kind: 'push-dns',
      description: `write DNS of ${dev} into ${options.resolvConfPath ?? '/etc/resolv.conf'}`,
      path: options.resolvConfPath ?? '/etc/resolv.conf',
      owner: dev,
      content: `# Written by Wirelane for ${dev}; restored when the tunnel disconnects.\n${body}`,
    },
  ];
}

/** Reads what plan() and linuxSteps() need, through the runner (so inside a namespace too). */
export async function probeLinux(input: OsTunnelInput, run: CommandRunner, options: LinuxOptions = {}): Promise<SystemFacts> {
  const wantsFullTunnel = (input.table ?? 'auto') === 'auto' && fullTunnelFamilies(input.allowedIps).size > 0;

  let underlayMtu = 0;
  const mtuOfRouteLine = async (line: string): Promise<number> => {
    const direct = /\bmtu (?:lock )?(\d+)/.exec(line);
    if (direct) return Number(direct[1]);
    const dev = /\bdev (\S+)/.exec(line);
    if (!dev) return 0;
    const link = await run('ip', ['link', 'show', 'dev', dev[1] as string]);
    const mtu = /\bmtu (\d+)/.exec(link.stdout);
    return mtu ? Number(mtu[1]) : 0;
  };
  if (input.mtu === undefined) {
    for (const endpoint of input.endpoints) {
      const route = await run('ip', ['route', 'get', endpoint]);
      if (route.code === 0) underlayMtu = Math.max(underlayMtu, await mtuOfRouteLine(route.stdout));
    }
    if (underlayMtu === 0) {
      const route = await run('ip', ['route', 'show', 'default']);
      const first = route.stdout.split('\n')[0] ?? '';
      if (route.code === 0 && first) underlayMtu = await mtuOfRouteLine(first);
    }
  }

  let freeTable: number | undefined;
  if (wantsFullTunnel && !(input.fwMark && input.fwMark > 0)) {
    // wg-quick: the first table from 51820 up with no IPv4 and no IPv6 route.
    for (let table = DEFAULT_FULL_TUNNEL_TABLE; table < DEFAULT_FULL_TUNNEL_TABLE + 1000; table++) {
      const v4 = await run('ip', ['-4', 'route', 'show', 'table', String(table)]);
      const v6 = await run('ip', ['-6', 'route', 'show', 'table', String(table)]);
      if (v4.stdout.trim() === '' && v6.stdout.trim() === '') {
        freeTable = table;
        break;
      }
    }
  }

  let linkBefore: SystemFacts['linkBefore'];
  if (!input.ownsInterface) {
    const link = await run('ip', ['-o', 'link', 'show', 'dev', input.interfaceName]);
    const mtu = /\bmtu (\d+)/.exec(link.stdout);
    const flags = /<([^>]*)>/.exec(link.stdout);
    if (link.code === 0 && mtu) linkBefore = { mtu: Number(mtu[1]), up: (flags?.[1] ?? '').split(',').includes('UP') };
  }

  let srcValidMarkBefore: boolean | undefined;
  if (wantsFullTunnel) {
    const sysctl = await run('sysctl', ['-n', 'net.ipv4.conf.all.src_valid_mark']);
    if (sysctl.code === 0) srcValidMarkBefore = sysctl.stdout.trim() === '1';
  }

  const linuxDns = options.dnsMethod ?? (await detectLinuxDns());
  const facts: { -readonly [K in keyof SystemFacts]: SystemFacts[K] } = { linuxDns };
  if (underlayMtu > 0) facts.underlayMtu = underlayMtu;
  if (freeTable !== undefined) facts.freeTable = freeTable;
  if (linkBefore) facts.linkBefore = linkBefore;
  if (srcValidMarkBefore !== undefined) facts.srcValidMarkBefore = srcValidMarkBefore;
  return facts;
}

/**
 * systemd-resolved runs when its varlink socket is there and resolvectl is installed; else
 * resolvconf when installed; else the file itself.
 */
async function detectLinuxDns(): Promise<'resolvectl' | 'resolvconf' | 'resolv.conf'> {
  if ((await exists('/run/systemd/resolve/io.systemd.Resolve')) && (await onPath('resolvectl'))) return 'resolvectl';
  if (await onPath('resolvconf')) return 'resolvconf';
  return 'resolv.conf';
}

async function onPath(program: string): Promise<boolean> {
  for (const dir of (process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter)) {
    if (dir && (await exists(join(dir, program), fsConstants.X_OK))) return true;
  }
  return false;
}

async function exists(path: string, mode: number = fsConstants.F_OK): Promise<boolean> {
  try {
    await access(path, mode);
    return true;
  } catch {
    return false;
  }
}

/** The current bytes of a file, or null when it does not exist (used before writing resolv.conf). */
export async function readOriginal(path: string): Promise<Uint8Array | null> {
  try {
    return await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}
