/**
 * Linux kill switch: one nftables table of ours, `inet wirelane`, replaced whole in one `nft -f`
 * transaction on every change (the kernel applies a batch atomically: no moment without rules).
 *
 *   table inet wirelane
 *     chain output   hook output,  policy accept: jump to every tunnel's chain
 *     chain forward  hook forward, policy accept: the same, for traffic this machine routes
 *     chain tunnel_<name>   per kill-switched tunnel: `return` what may pass, `drop` what may not
 *
 * A packet passes only if every tunnel's chain returns it (a drop is final; the base chains accept
 * what comes back), so two kill switches together allow what both allow. The interface is matched
 * by name (`oifname`), which stays valid when the interface is gone: then routing sends the
 * traffic to the underlay, and the drop below catches it.
 */
import { familyOf, type KillSwitchFirewall, type KillSwitchPolicy } from './killswitch.js';
import { describeCommand } from './runner.js';
import type { CommandRunner } from './types.js';

export const NFT_TABLE = 'inet wirelane';

/** A chain name nft accepts (letters, digits, "_", "."), one to one with the tunnel name. */
export function nftChainName(tunnel: string): string {
  return `tunnel_${tunnel.replace(/[^A-Za-z0-9]/g, (c) => `_${c.charCodeAt(0).toString(16).padStart(2, '0')}`)}`;
}

/** The rules of one tunnel's chain. Every value was checked by checkKillSwitchPolicy. */
function tunnelChain(policy: KillSwitchPolicy, tunnelInterfaces: readonly string[]): string[] {
  const rules: string[] = [
    `comment "kill switch of tunnel ${policy.tunnel}"`,
    'oifname "lo" return',
    // Into a kill-switched tunnel: its outer (encrypted) packets come through these chains again.
    `oifname { ${tunnelInterfaces.map((name) => `"${name}"`).join(', ')} } return`,
    // What keeps the link alive: DHCPv4, DHCPv6 and neighbour discovery.
    'udp sport 68 udp dport 67 return',
    'udp sport 546 udp dport 547 return',
    'icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert } return',
  ];
  if (policy.fwmark !== null) rules.push(`meta mark 0x${policy.fwmark.toString(16).padStart(8, '0')} return`);
  for (const endpoint of policy.endpoints) {
    rules.push(`${familyOf(endpoint.address) === 4 ? 'ip' : 'ip6'} daddr ${endpoint.address} udp dport ${endpoint.port} return`);
  }
  if (policy.dnsServers.length > 0) {
    // Outside the tunnel, DNS goes to the tunnel's servers only (and then on to the drop below
    // when they are among the AllowedIPs: through the tunnel or not at all).
    for (const family of [4, 6] as const) {
      const servers = policy.dnsServers.filter((server) => familyOf(server) === family);
      rules.push(
        servers.length > 0
          ? `meta l4proto { tcp, udp } th dport 53 ${family === 4 ? 'ip' : 'ip6'} daddr != { ${servers.join(', ')} } drop`
          : `meta nfproto ${family === 4 ? 'ipv4' : 'ipv6'} meta l4proto { tcp, udp } th dport 53 drop`,
      );
    }
  }
  if (policy.blockAll) {
    rules.push('drop');
  } else {
    for (const family of [4, 6] as const) {
      const prefixes = policy.prefixes.filter((prefix) => familyOf(prefix) === family);
      if (prefixes.length > 0) rules.push(`${family === 4 ? 'ip' : 'ip6'} daddr { ${prefixes.join(', ')} } drop`);
    }
  }
  return [`\tchain ${nftChainName(policy.tunnel)} {`, ...rules.map((rule) => `\t\t${rule}`), '\t}'];
}

/**
 * The `nft -f` input that makes the table hold exactly these policies. The first two lines
 * remove the table whether or not it exists (nft 1.0.6 has no `destroy`): with no policies that is
 * all it does.
 */
export function nftKillSwitchScript(policies: readonly KillSwitchPolicy[]): string {
  const lines = [`table ${NFT_TABLE}`, `delete table ${NFT_TABLE}`];
  if (policies.length > 0) {
    const sorted = [...policies].sort((a, b) => (a.tunnel < b.tunnel ? -1 : a.tunnel > b.tunnel ? 1 : 0));
    const interfaces = [...new Set(sorted.map((policy) => policy.interfaceName))].sort();
    const jumps = sorted.map((policy) => `\t\tjump ${nftChainName(policy.tunnel)}`);
    lines.push(
      `table ${NFT_TABLE} {`,
      '\tchain output {',
      '\t\ttype filter hook output priority filter; policy accept;',
      ...jumps,
      '\t}',
      '\tchain forward {',
      '\t\ttype filter hook forward priority filter; policy accept;',
      ...jumps,
      '\t}',
      ...sorted.flatMap((policy) => tunnelChain(policy, interfaces)),
      '}',
    );
  }
  return `${lines.join('\n')}\n`;
}

/** The Linux firewall: `nft -f -` through the runner (so inside a network namespace in tests). */
export function nftFirewall(run: CommandRunner): KillSwitchFirewall {
  return {
    async enforce(policies) {
      const result = await run('nft', ['-f', '-'], { input: nftKillSwitchScript(policies) });
      if (result.code !== 0) {
        throw new Error(`${describeCommand('nft', ['-f', '-'])} exited with ${result.code}: ${result.stderr.trim().split('\n')[0] ?? ''}`);
      }
    },
  };
}
