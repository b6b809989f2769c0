/**
 * macOS kill switch: pf, one anchor per kill-switched tunnel, "wirelane/<tunnel>", each loaded
 * whole with `pfctl -a wirelane/<tunnel> -f -` (pf swaps an anchor's ruleset atomically), and a
 * reference `anchor "wirelane/*"` at the end of the main ruleset so pf evaluates them.
 *
 * pf decides by the last matching rule (no `quick` here), and our anchors come last: a tunnel's
 * anchor first blocks what its kill switch covers (everything for a full tunnel, else its
 * AllowedIPs; DNS to any server but its own), then passes what keeps the tunnel alive (loopback,
 * every kill-switched tunnel's interface, its endpoints' WireGuard UDP, DHCP and neighbour
 * discovery). A packet one anchor blocks stays blocked unless a later rule passes it, and every
 * anchor's passes are of the same harmless kinds, so several anchors together allow what each allows.
 *
 * pf is enabled with a reference (`pfctl -E` prints a token), so a firewall the user or another
 * program enabled stays enabled; the token is kept beside the kill switch records, so a helper
 * that was killed can still give it back (`pfctl -X TOKEN`) when the last kill switch goes.
 *
 * Written to pfctl(8) and pf.conf(5) and tested on the exact commands (no Mac here).
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { familyOf, type KillSwitchFirewall, type KillSwitchPolicy } from './killswitch.js';
import { describeCommand } from './runner.js';
import type { Command, CommandRunner } from './types.js';

export const PF_ANCHOR_ROOT = 'wirelane';
/** The main-ruleset line that makes pf evaluate our anchors. */
export const PF_ANCHOR_REFERENCE = `anchor "${PF_ANCHOR_ROOT}/*" all`;
const PF_CONF = '/etc/pf.conf';
const TOKEN_FILE = 'pf-token';

export function pfAnchorName(tunnel: string): string {
  return `${PF_ANCHOR_ROOT}/${tunnel}`;
}

/** One tunnel's anchor. Every value was checked by checkKillSwitchPolicy (interfaces: utunN). */
export function pfAnchorRules(policy: KillSwitchPolicy, tunnelInterfaces: readonly string[]): string {
  const lines = [`# kill switch of tunnel ${policy.tunnel}`];
  if (policy.dnsServers.length > 0) lines.push(`table <dns> const { ${policy.dnsServers.join(', ')} }`);
  if (policy.blockAll) {
    lines.push('block drop out all');
  } else {
    for (const family of [4, 6] as const) {
      const prefixes = policy.prefixes.filter((prefix) => familyOf(prefix) === family);
      if (prefixes.length > 0) lines.push(`block drop out ${family === 4 ? 'inet' : 'inet6'} from any to { ${prefixes.join(', ')} }`);
    }
  }
  // Outside the tunnel, DNS goes to the tunnel's servers only (and on to the block above when
  // they are among what the kill switch covers: through the tunnel or not at all).
  if (policy.dnsServers.length > 0) lines.push('block drop out proto { tcp, udp } from any to ! <dns> port 53');
  lines.push('pass out on lo0 all');
  lines.push(`pass out on { ${tunnelInterfaces.join(', ')} } all`);
  for (const endpoint of policy.endpoints) {
    lines.push(`pass out ${familyOf(endpoint.address) === 4 ? 'inet' : 'inet6'} proto udp from any to ${endpoint.address} port ${endpoint.port}`);
  }
  lines.push('pass out inet proto udp from any port 68 to any port 67');
  lines.push('pass out inet6 proto udp from any port 546 to any port 547');
  lines.push('pass out inet6 proto icmp6 all icmp6-type { routersol, neighbrsol, neighbradv }');
  return `${lines.join('\n')}\n`;
}

/** What enforce() found before it changed anything. */
export interface PfState {
  /** `pfctl -s rules` (main ruleset) holds our anchor reference. */
  readonly referenced: boolean;
  /** Our anchors that exist (`pfctl -a wirelane -s Anchors`), as full names. */
  readonly anchors: readonly string[];
  /** The reference token of our `pfctl -E`, or null when we hold none. */
  readonly token: string | null;
  /** /etc/pf.conf, the main ruleset our reference is appended to. */
  readonly pfConf: string;
}

/**
 * The commands that make pf enforce exactly these policies, from the state found: pure, so the
 * unit tests compare them. The reference and the enable come before any anchor is loaded, and
 * removing the last anchor comes before the reference and the enable are given back.
 */
export function pfKillSwitchCommands(policies: readonly KillSwitchPolicy[], state: PfState): Command[] {
  const sorted = [...policies].sort((a, b) => (a.tunnel < b.tunnel ? -1 : a.tunnel > b.tunnel ? 1 : 0));
  const wanted = new Set(sorted.map((policy) => pfAnchorName(policy.tunnel)));
  const commands: Command[] = [];
  if (sorted.length > 0) {
    if (!state.referenced) {
      const base = state.pfConf.endsWith('\n') || state.pfConf === '' ? state.pfConf : `${state.pfConf}\n`;
      commands.push({ file: 'pfctl', args: ['-f', '-'], input: `${base}${PF_ANCHOR_REFERENCE}\n` });
    }
    if (state.token === null) commands.push({ file: 'pfctl', args: ['-E'] });
    const interfaces = [...new Set(sorted.map((policy) => policy.interfaceName))].sort();
    for (const policy of sorted) {
      commands.push({ file: 'pfctl', args: ['-a', pfAnchorName(policy.tunnel), '-f', '-'], input: pfAnchorRules(policy, interfaces) });
    }
  }
  for (const anchor of [...state.anchors].sort()) {
    if (!wanted.has(anchor)) commands.push({ file: 'pfctl', args: ['-a', anchor, '-F', 'all'] });
  }
  if (sorted.length === 0) {
    if (state.referenced) commands.push({ file: 'pfctl', args: ['-f', PF_CONF] });
    if (state.token !== null) commands.push({ file: 'pfctl', args: ['-X', state.token] });
  }
  return commands;
}

/** `pfctl -E` prints "Token : 12345678901234567890" (on stderr); null when it printed none. */
export function parsePfToken(output: string): string | null {
  return /\bToken\s*:\s*([0-9]{1,20})\b/.exec(output)?.[1] ?? null;
}

/** The anchors `pfctl -a wirelane -s Anchors` lists ("  wirelane/office"), full names. */
export function parsePfAnchors(output: string): string[] {
  return output
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith(`${PF_ANCHOR_ROOT}/`) && /^[A-Za-z0-9_=+./-]+$/.test(line));
}

/**
 * The macOS firewall through pfctl. `dir` is the kill switch's directory (the token file lives
 * there); `readPfConf` reads /etc/pf.conf (injected for tests).
 */
export function pfFirewall(run: CommandRunner, dir: string, readPfConf: () => Promise<string> = () => readFile(PF_CONF, 'utf8')): KillSwitchFirewall {
  const tokenPath = join(dir, TOKEN_FILE);
  const must = async (command: Command): Promise<string> => {
    const result = await run(command.file, command.args, command.input === undefined ? undefined : { input: command.input });
    if (result.code !== 0) {
      throw new Error(`${describeCommand(command.file, command.args)} exited with ${result.code}: ${result.stderr.trim().split('\n')[0] ?? ''}`);
    }
    return `${result.stdout}\n${result.stderr}`;
  };
  return {
    async enforce(policies) {
      const rules = await run('pfctl', ['-s', 'rules']);
      const anchors = await run('pfctl', ['-a', PF_ANCHOR_ROOT, '-s', 'Anchors']);
      const token = parsePfToken(await readFile(tokenPath, 'utf8').catch(() => ''));
      const state: PfState = {
        referenced: rules.stdout.split('\n').some((line) => line.trim() === PF_ANCHOR_REFERENCE),
        anchors: anchors.code === 0 ? parsePfAnchors(anchors.stdout) : [],
        token,
        pfConf: policies.length > 0 && !rules.stdout.includes(PF_ANCHOR_REFERENCE) ? await readPfConf() : '',
      };
      for (const command of pfKillSwitchCommands(policies, state)) {
        const output = await must(command);
        if (command.args[0] === '-E') {
          const taken = parsePfToken(output);
          if (taken === null) throw new Error('pfctl -E printed no reference token');
          await writeFile(tokenPath, `Token : ${taken}\n`, { mode: 0o600 });
        } else if (command.args[0] === '-X') {
          await rm(tokenPath, { force: true });
        }
      }
    },
  };
}
