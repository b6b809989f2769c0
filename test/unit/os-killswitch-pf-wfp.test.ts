/**
 * The macOS (pf) and Windows (WFP) kill switches on the exact commands and calls they produce:
 * golden text for two tunnels at once (a full one and a split one with DNS), what enable/release
 * does with pf's reference token, and that every value is checked before it reaches a ruleset.
 * Neither platform can run here; the Linux kill switch runs for real in test/interop/killswitch.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePfAnchors, parsePfToken, pfFirewall, pfKillSwitchCommands } from '../../engine/os/killswitch-pf.js';
import { describeWfpCalls, wfpFirewall, wfpKillSwitchCalls, wfpSubLayerKey, type WfpCall } from '../../engine/os/killswitch-wfp.js';
import { KillSwitch, type KillSwitchPolicy } from '../../engine/os/killswitch.js';
import { silentLogger } from '../../engine/logger.js';
import type { CommandRunner } from '../../engine/os/types.js';

const office: KillSwitchPolicy = {
  tunnel: 'office',
  interfaceName: 'utun4',
  blockAll: false,
  prefixes: ['10.0.0.0/24', 'fd00:1::/64'],
  endpoints: [{ address: '192.0.2.2', port: 51820 }],
  dnsServers: ['10.0.0.53'],
  fwmark: null,
};
const full: KillSwitchPolicy = {
  tunnel: 'full',
  interfaceName: 'utun7',
  blockAll: true,
  prefixes: ['0.0.0.0/0'],
  endpoints: [
    { address: '198.51.100.7', port: 443 },
    { address: '2001:db8::7', port: 51820 },
  ],
  dnsServers: ['10.64.0.1', 'fd00:64::1'],
  fwmark: null,
};

const PF_CONF = 'scrub-anchor "com.apple/*"\nanchor "com.apple/*"\n';

test('pf: first engage references our anchors from the main ruleset, enables pf with a reference, loads each tunnel\'s anchor; a stale anchor is flushed', () => {
  const commands = pfKillSwitchCommands([office, full], { referenced: false, anchors: ['wirelane/old'], token: null, pfConf: PF_CONF });
  assert.deepEqual(
    commands.map((c) => [c.file, ...c.args]),
    [
      ['pfctl', '-f', '-'],
      ['pfctl', '-E'],
      ['pfctl', '-a', 'wirelane/full', '-f', '-'],
      ['pfctl', '-a', 'wirelane/office', '-f', '-'],
      ['pfctl', '-a', 'wirelane/old', '-F', 'all'],
    ],
  );
  assert.equal(commands[0]?.input, 'scrub-anchor "com.apple/*"\nanchor "com.apple/*"\nanchor "wirelane/*" all\n');
  assert.equal(commands[2]?.input, `# kill switch of tunnel full
table <dns> const { 10.64.0.1, fd00:64::1 }
block drop out all
block drop out proto { tcp, udp } from any to ! <dns> port 53
pass out on lo0 all
pass out on { utun4, utun7 } all
pass out inet proto udp from any to 198.51.100.7 port 443
pass out inet6 proto udp from any to 2001:db8::7 port 51820
pass out inet proto udp from any port 68 to any port 67
pass out inet6 proto udp from any port 546 to any port 547
pass out inet6 proto icmp6 all icmp6-type { routersol, neighbrsol, neighbradv }
`);
  assert.equal(commands[3]?.input, `# kill switch of tunnel office
table <dns> const { 10.0.0.53 }
block drop out inet from any to { 10.0.0.0/24 }
block drop out inet6 from any to { fd00:1::/64 }
block drop out proto { tcp, udp } from any to ! <dns> port 53
pass out on lo0 all
pass out on { utun4, utun7 } all
pass out inet proto udp from any to 192.0.2.2 port 51820
pass out inet proto udp from any port 68 to any port 67
pass out inet6 proto udp from any port 546 to any port 547
pass out inet6 proto icmp6 all icmp6-type { routersol, neighbrsol, neighbradv }
`);
});

test('pf: with the reference and a token in place only the anchors change; the last release flushes, reloads pf.conf and gives the token back', () => {
  const again = pfKillSwitchCommands([office], { referenced: true, anchors: ['wirelane/full', 'wirelane/office'], token: '1234567890', pfConf: '' });
  assert.deepEqual(again.map((c) => [c.file, ...c.args]), [
    ['pfctl', '-a', 'wirelane/office', '-f', '-'],
    ['pfctl', '-a', 'wirelane/full', '-F', 'all'],
  ]);
  assert.match(again[0]?.input ?? '', /^pass out on \{ utun4 \} all$/m, 'only kill-switched tunnels\' interfaces pass');
  const last = pfKillSwitchCommands([], { referenced: true, anchors: ['wirelane/office'], token: '1234567890', pfConf: '' });
  assert.deepEqual(last.map((c) => [c.file, ...c.args]), [
    ['pfctl', '-a', 'wirelane/office', '-F', 'all'],
    ['pfctl', '-f', '/etc/pf.conf'],
    ['pfctl', '-X', '1234567890'],
  ]);
  assert.equal(parsePfToken('pf enabled\nToken : 17245829309386045753\n'), '17245829309386045753');
  assert.equal(parsePfToken('pfctl: pf already enabled'), null);
  assert.deepEqual(parsePfAnchors('  wirelane/full\n  wirelane/office\n  com.apple/x\n  wirelane/a b\n'), ['wirelane/full', 'wirelane/office']);
});

test('pf: through pfctl, the token of -E is kept beside the records (a killed helper can still give it back) and released with -X', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wirelane-pf-'));
  try {
    const log: string[] = [];
    let anchors = '';
    let referenced = false;
    const run: CommandRunner = async (file, args) => {
      log.push([file, ...args].join(' '));
      if (args[0] === '-s') return { stdout: referenced ? 'anchor "wirelane/*" all\n' : '', stderr: '', code: 0 };
      if (args.includes('Anchors')) return { stdout: anchors, stderr: '', code: 0 };
      if (args[0] === '-f' && args[1] === '-') referenced = true;
      if (args[0] === '-E') return { stdout: '', stderr: 'pf enabled\nToken : 42424242\n', code: 0 };
      if (args[0] === '-a' && args[2] === '-f') anchors = `  ${args[1]}\n`;
      return { stdout: '', stderr: '', code: 0 };
    };
    const ks = new KillSwitch({ dir, platform: 'darwin', firewall: pfFirewall(run, dir, async () => PF_CONF), logger: silentLogger });
    await ks.engage(full);
    assert.equal(readFileSync(join(dir, 'pf-token'), 'utf8'), 'Token : 42424242\n');
    // A new helper (the old one was killed) finds the token on disk and releases with it.
    const after = new KillSwitch({ dir, platform: 'darwin', firewall: pfFirewall(run, dir, async () => PF_CONF), logger: silentLogger });
    log.length = 0;
    await after.release('full');
    assert.deepEqual(log.filter((line) => !line.includes(' -s ')), ['pfctl -a wirelane/full -F all', 'pfctl -f /etc/pf.conf', 'pfctl -X 42424242']);
    assert.equal(existsSync(join(dir, 'pf-token')), false);
    assert.throws(() => void ks.engage({ ...full, interfaceName: 'en0' }), /interface name/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const WFP_GOLDEN = `delete all of provider {5c7d0a9e-2f41-4b8e-9a36-77e1c0b4d2a1}
FwpmProviderAdd0 {5c7d0a9e-2f41-4b8e-9a36-77e1c0b4d2a1} "Wirelane" FWPM_PROVIDER_FLAG_PERSISTENT
FwpmSubLayerAdd0 {42b1f178-e780-8605-8a93-7f984e196c14} "Wirelane kill switch of full" weight=65535 FWPM_SUBLAYER_FLAG_PERSISTENT
FwpmSubLayerAdd0 {2cc5c394-b764-8aab-944e-cee23f850a96} "Wirelane kill switch of office" weight=65535 FWPM_SUBLAYER_FLAG_PERSISTENT
FwpmFilterAdd0 ALE_AUTH_CONNECT_V4 w=15 permit [FLAGS=FWP_CONDITION_FLAG_IS_LOOPBACK] "full: permit loopback"
FwpmFilterAdd0 ALE_AUTH_RECV_ACCEPT_V4 w=15 permit [FLAGS=FWP_CONDITION_FLAG_IS_LOOPBACK] "full: permit loopback"
FwpmFilterAdd0 ALE_AUTH_CONNECT_V6 w=15 permit [FLAGS=FWP_CONDITION_FLAG_IS_LOOPBACK] "full: permit loopback"
FwpmFilterAdd0 ALE_AUTH_RECV_ACCEPT_V6 w=15 permit [FLAGS=FWP_CONDITION_FLAG_IS_LOOPBACK] "full: permit loopback"
FwpmFilterAdd0 ALE_AUTH_CONNECT_V4 w=15 permit [IP_LOCAL_INTERFACE=1689399632855040 IP_LOCAL_INTERFACE=1689399632855041] "full: permit the tunnels' interfaces"
FwpmFilterAdd0 ALE_AUTH_RECV_ACCEPT_V4 w=15 permit [IP_LOCAL_INTERFACE=1689399632855040 IP_LOCAL_INTERFACE=1689399632855041] "full: permit the tunnels' interfaces"
FwpmFilterAdd0 ALE_AUTH_CONNECT_V6 w=15 permit [IP_LOCAL_INTERFACE=1689399632855040 IP_LOCAL_INTERFACE=1689399632855041] "full: permit the tunnels' interfaces"
FwpmFilterAdd0 ALE_AUTH_RECV_ACCEPT_V6 w=15 permit [IP_LOCAL_INTERFACE=1689399632855040 IP_LOCAL_INTERFACE=1689399632855041] "full: permit the tunnels' interfaces"
FwpmFilterAdd0 ALE_AUTH_CONNECT_V4 w=14 permit [IP_PROTOCOL=17 IP_LOCAL_PORT=68 IP_REMOTE_PORT=67] "full: permit DHCPv4"
FwpmFilterAdd0 ALE_AUTH_RECV_ACCEPT_V4 w=14 permit [IP_PROTOCOL=17 IP_LOCAL_PORT=68 IP_REMOTE_PORT=67] "full: permit DHCPv4"
FwpmFilterAdd0 ALE_AUTH_CONNECT_V6 w=14 permit [IP_PROTOCOL=17 IP_LOCAL_PORT=546 IP_REMOTE_PORT=547] "full: permit DHCPv6"
FwpmFilterAdd0 ALE_AUTH_RECV_ACCEPT_V6 w=14 permit [IP_PROTOCOL=17 IP_LOCAL_PORT=546 IP_REMOTE_PORT=547] "full: permit DHCPv6"
FwpmFilterAdd0 ALE_AUTH_CONNECT_V6 w=14 permit [IP_PROTOCOL=58 IP_LOCAL_PORT=133 IP_LOCAL_PORT=135 IP_LOCAL_PORT=136] "full: permit neighbour discovery out"
FwpmFilterAdd0 ALE_AUTH_RECV_ACCEPT_V6 w=14 permit [IP_PROTOCOL=58 IP_LOCAL_PORT=134 IP_LOCAL_PORT=135 IP_LOCAL_PORT=136 IP_LOCAL_PORT=137] "full: permit neighbour discovery in"
FwpmFilterAdd0 ALE_AUTH_CONNECT_V4 w=13 permit [IP_PROTOCOL=17 IP_REMOTE_ADDRESS=198.51.100.7/32 IP_REMOTE_PORT=443] "full: permit WireGuard to 198.51.100.7:443"
FwpmFilterAdd0 ALE_AUTH_RECV_ACCEPT_V4 w=13 permit [IP_PROTOCOL=17 IP_REMOTE_ADDRESS=198.51.100.7/32 IP_REMOTE_PORT=443] "full: permit WireGuard to 198.51.100.7:443"
FwpmFilterAdd0 ALE_AUTH_CONNECT_V6 w=13 permit [IP_PROTOCOL=17 IP_REMOTE_ADDRESS=2001:db8::7/128 IP_REMOTE_PORT=51820] "full: permit WireGuard to 2001:db8::7:51820"
FwpmFilterAdd0 ALE_AUTH_RECV_ACCEPT_V6 w=13 permit [IP_PROTOCOL=17 IP_REMOTE_ADDRESS=2001:db8::7/128 IP_REMOTE_PORT=51820] "full: permit WireGuard to 2001:db8::7:51820"
FwpmFilterAdd0 ALE_AUTH_CONNECT_V4 w=11 block [IP_PROTOCOL=17 IP_PROTOCOL=6 IP_REMOTE_PORT=53] "full: block other DNS"
FwpmFilterAdd0 ALE_AUTH_CONNECT_V6 w=11 block [IP_PROTOCOL=17 IP_PROTOCOL=6 IP_REMOTE_PORT=53] "full: block other DNS"
FwpmFilterAdd0 ALE_AUTH_CONNECT_V4 w=0 block [] "full: block everything else"
FwpmFilterAdd0 ALE_AUTH_RECV_ACCEPT_V4 w=0 block [] "full: block everything else"
FwpmFilterAdd0 ALE_AUTH_CONNECT_V6 w=0 block [] "full: block everything else"
FwpmFilterAdd0 ALE_AUTH_RECV_ACCEPT_V6 w=0 block [] "full: block everything else"
FwpmFilterAdd0 ALE_AUTH_CONNECT_V4 w=15 permit [FLAGS=FWP_CONDITION_FLAG_IS_LOOPBACK] "office: permit loopback"
FwpmFilterAdd0 ALE_AUTH_RECV_ACCEPT_V4 w=15 permit [FLAGS=FWP_CONDITION_FLAG_IS_LOOPBACK] "office: permit loopback"
FwpmFilterAdd0 ALE_AUTH_CONNECT_V6 w=15 permit [FLAGS=FWP_CONDITION_FLAG_IS_LOOPBACK] "office: permit loopback"
FwpmFilterAdd0 ALE_AUTH_RECV_ACCEPT_V6 w=15 permit [FLAGS=FWP_CONDITION_FLAG_IS_LOOPBACK] "office: permit loopback"
FwpmFilterAdd0 ALE_AUTH_CONNECT_V4 w=15 permit [IP_LOCAL_INTERFACE=1689399632855040 IP_LOCAL_INTERFACE=1689399632855041] "office: permit the tunnels' interfaces"
FwpmFilterAdd0 ALE_AUTH_RECV_ACCEPT_V4 w=15 permit [IP_LOCAL_INTERFACE=1689399632855040 IP_LOCAL_INTERFACE=1689399632855041] "office: permit the tunnels' interfaces"
FwpmFilterAdd0 ALE_AUTH_CONNECT_V6 w=15 permit [IP_LOCAL_INTERFACE=1689399632855040 IP_LOCAL_INTERFACE=1689399632855041] "office: permit the tunnels' interfaces"
FwpmFilterAdd0 ALE_AUTH_RECV_ACCEPT_V6 w=15 permit [IP_LOCAL_INTERFACE=1689399632855040 IP_LOCAL_INTERFACE=1689399632855041] "office: permit the tunnels' interfaces"
FwpmFilterAdd0 ALE_AUTH_CONNECT_V4 w=14 permit [IP_PROTOCOL=17 IP_LOCAL_PORT=68 IP_REMOTE_PORT=67] "office: permit DHCPv4"
FwpmFilterAdd0 ALE_AUTH_RECV_ACCEPT_V4 w=14 permit [IP_PROTOCOL=17 IP_LOCAL_PORT=68 IP_REMOTE_PORT=67] "office: permit DHCPv4"
FwpmFilterAdd0 ALE_AUTH_CONNECT_V6 w=14 permit [IP_PROTOCOL=17 IP_LOCAL_PORT=546 IP_REMOTE_PORT=547] "office: permit DHCPv6"
FwpmFilterAdd0 ALE_AUTH_RECV_ACCEPT_V6 w=14 permit [IP_PROTOCOL=17 IP_LOCAL_PORT=546 IP_REMOTE_PORT=547] "office: permit DHCPv6"
FwpmFilterAdd0 ALE_AUTH_CONNECT_V6 w=14 permit [IP_PROTOCOL=58 IP_LOCAL_PORT=133 IP_LOCAL_PORT=135 IP_LOCAL_PORT=136] "office: permit neighbour discovery out"
FwpmFilterAdd0 ALE_AUTH_RECV_ACCEPT_V6 w=14 permit [IP_PROTOCOL=58 IP_LOCAL_PORT=134 IP_LOCAL_PORT=135 IP_LOCAL_PORT=136 IP_LOCAL_PORT=137] "office: permit neighbour discovery in"
FwpmFilterAdd0 ALE_AUTH_CONNECT_V4 w=13 permit [IP_PROTOCOL=17 IP_REMOTE_ADDRESS=192.0.2.2/32 IP_REMOTE_PORT=51820] "office: permit WireGuard to 192.0.2.2:51820"
FwpmFilterAdd0 ALE_AUTH_RECV_ACCEPT_V4 w=13 permit [IP_PROTOCOL=17 IP_REMOTE_ADDRESS=192.0.2.2/32 IP_REMOTE_PORT=51820] "office: permit WireGuard to 192.0.2.2:51820"
FwpmFilterAdd0 ALE_AUTH_CONNECT_V4 w=11 block [IP_PROTOCOL=17 IP_PROTOCOL=6 IP_REMOTE_PORT=53] "office: block other DNS"
FwpmFilterAdd0 ALE_AUTH_CONNECT_V6 w=11 block [IP_PROTOCOL=17 IP_PROTOCOL=6 IP_REMOTE_PORT=53] "office: block other DNS"
FwpmFilterAdd0 ALE_AUTH_CONNECT_V4 w=0 block [IP_REMOTE_ADDRESS=10.0.0.0/24] "office: block its AllowedIPs outside the tunnel"
FwpmFilterAdd0 ALE_AUTH_RECV_ACCEPT_V4 w=0 block [IP_REMOTE_ADDRESS=10.0.0.0/24] "office: block its AllowedIPs outside the tunnel"
FwpmFilterAdd0 ALE_AUTH_CONNECT_V6 w=0 block [IP_REMOTE_ADDRESS=fd00:1::/64] "office: block its AllowedIPs outside the tunnel"
FwpmFilterAdd0 ALE_AUTH_RECV_ACCEPT_V6 w=0 block [IP_REMOTE_ADDRESS=fd00:1::/64] "office: block its AllowedIPs outside the tunnel"
`;

test('WFP: one transaction with a persistent provider, a sublayer per tunnel and the filters of each, golden text', () => {
  const calls = wfpKillSwitchCalls([
    { ...office, interfaceName: 'office', interfaceLuid: '1689399632855040' },
    { ...full, interfaceName: 'full', interfaceLuid: '1689399632855041' },
  ]);
  assert.equal(describeWfpCalls(calls), WFP_GOLDEN);
  // The structured form the addon receives carries the same, e.g. the endpoint permit:
  const endpoint = calls.find((c): c is Extract<WfpCall, { call: 'FwpmFilterAdd0' }> => c.call === 'FwpmFilterAdd0' && c.filter.name === 'office: permit WireGuard to 192.0.2.2:51820');
  assert.deepEqual(endpoint?.filter.conditions, [
    { field: 'FWPM_CONDITION_IP_PROTOCOL', match: 'FWP_MATCH_EQUAL', uint8: 17 },
    { field: 'FWPM_CONDITION_IP_REMOTE_ADDRESS', match: 'FWP_MATCH_EQUAL', prefix: '192.0.2.2/32' },
    { field: 'FWPM_CONDITION_IP_REMOTE_PORT', match: 'FWP_MATCH_EQUAL', uint16: 51820 },
  ]);
  assert.equal(endpoint?.filter.subLayer, wfpSubLayerKey('office'));
  assert.match(wfpSubLayerKey('office'), /^\{[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\}$/);
  assert.notEqual(wfpSubLayerKey('office'), wfpSubLayerKey('offica'));
});

test('WFP: a split tunnel whose DNS server is outside its AllowedIPs may reach it in clear; nothing else on port 53', () => {
  const calls = describeWfpCalls(wfpKillSwitchCalls([{ ...office, interfaceName: 'office', dnsServers: ['192.0.2.53', '10.0.0.53'], interfaceLuid: '7' }]));
  assert.match(calls, /^FwpmFilterAdd0 ALE_AUTH_CONNECT_V4 w=12 permit \[IP_PROTOCOL=17 IP_PROTOCOL=6 IP_REMOTE_PORT=53 IP_REMOTE_ADDRESS=192\.0\.2\.53\/32\] "office: permit DNS to the tunnel's servers"$/m);
  assert.doesNotMatch(calls, /IP_REMOTE_ADDRESS=10\.0\.0\.53/, 'a server among the AllowedIPs is reached through the tunnel or not at all');
});

test('WFP: releasing the last policy only deletes; a policy without the adapter LUID is refused before any call', async () => {
  assert.deepEqual(wfpKillSwitchCalls([]), [{ call: 'DeleteProviderObjects', provider: '{5c7d0a9e-2f41-4b8e-9a36-77e1c0b4d2a1}' }]);
  assert.throws(() => wfpKillSwitchCalls([{ ...full, interfaceName: 'full' }]), /LUID/);
  const transactions: (readonly WfpCall[])[] = [];
  const firewall = wfpFirewall({ transaction: async (calls) => void transactions.push(calls) });
  await firewall.enforce([{ ...full, interfaceName: 'full', interfaceLuid: '9' }]);
  await firewall.enforce([]);
  assert.equal(transactions.length, 2, 'one transaction per change');
  assert.equal(transactions[1]?.length, 1);
});
