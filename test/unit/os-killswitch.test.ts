/**
 * The kill switch without a firewall: the nftables ruleset as golden text, the values it refuses,
 * and the lifecycle of its records (engage, replace, release, recovery keeping tunnels that are on)
 * against a firewall that records what it was asked to enforce.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KillSwitch, type KillSwitchFirewall, type KillSwitchPolicy } from '../../engine/os/killswitch.js';
import { nftChainName, nftKillSwitchScript } from '../../engine/os/killswitch-nft.js';
import { silentLogger } from '../../engine/logger.js';

const office: KillSwitchPolicy = {
  tunnel: 'office',
  interfaceName: 'office',
  blockAll: false,
  prefixes: ['10.0.0.0/24', 'fd00:1::/64'],
  endpoints: [{ address: '192.0.2.2', port: 51820 }],
  dnsServers: ['10.0.0.53'],
  fwmark: null,
};

const full: KillSwitchPolicy = {
  tunnel: 'full+1',
  interfaceName: 'full+1',
  blockAll: true,
  prefixes: ['0.0.0.0/0'],
  endpoints: [
    { address: '198.51.100.7', port: 443 },
    { address: '2001:db8::7', port: 51820 },
  ],
  dnsServers: ['10.64.0.1', 'fd00:64::1'],
  fwmark: 51820,
};

test('nft: the whole table for two tunnels, golden text', () => {
  assert.equal(
    nftKillSwitchScript([office, full]),
    `table inet wirelane
delete table inet wirelane
table inet wirelane {
	chain output {
		type filter hook output priority filter; policy accept;
		jump tunnel_full_2b1
		jump tunnel_office
	}
	chain forward {
		type filter hook forward priority filter; policy accept;
		jump tunnel_full_2b1
		jump tunnel_office
	}
	chain tunnel_full_2b1 {
		comment "kill switch of tunnel full+1"
		oifname "lo" return
		oifname { "full+1", "office" } return
		udp sport 68 udp dport 67 return
		udp sport 546 udp dport 547 return
		icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert } return
		meta mark 0x0000ca6c return
		ip daddr 198.51.100.7 udp dport 443 return
		ip6 daddr 2001:db8::7 udp dport 51820 return
		meta l4proto { tcp, udp } th dport 53 ip daddr != { 10.64.0.1 } drop
		meta l4proto { tcp, udp } th dport 53 ip6 daddr != { fd00:64::1 } drop
		drop
	}
	chain tunnel_office {
		comment "kill switch of tunnel office"
		oifname "lo" return
		oifname { "full+1", "office" } return
		udp sport 68 udp dport 67 return
		udp sport 546 udp dport 547 return
		icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert } return
		ip daddr 192.0.2.2 udp dport 51820 return
		meta l4proto { tcp, udp } th dport 53 ip daddr != { 10.0.0.53 } drop
		meta nfproto ipv6 meta l4proto { tcp, udp } th dport 53 drop
		ip daddr { 10.0.0.0/24 } drop
		ip6 daddr { fd00:1::/64 } drop
	}
}
`,
  );
});

test('nft: no policies removes the table (and only that)', () => {
  assert.equal(nftKillSwitchScript([]), 'table inet wirelane\ndelete table inet wirelane\n');
});

test('nft: chain names are one to one with tunnel names', () => {
  assert.equal(nftChainName('a.b'), 'tunnel_a_2eb');
  assert.equal(nftChainName('a_2eb'), 'tunnel_a_5f2eb');
  assert.equal(nftChainName('x=+-'), 'tunnel_x_3d_2b_2d');
});

/** A firewall that records every ruleset it was asked for (by tunnel names), failing on demand. */
function recordingFirewall(): KillSwitchFirewall & { enforced: string[][]; failNext: boolean } {
  const firewall = {
    enforced: [] as string[][],
    failNext: false,
    enforce(policies: readonly KillSwitchPolicy[]): Promise<void> {
      if (firewall.failNext) {
        firewall.failNext = false;
        return Promise.reject(new Error('nft: Operation not permitted'));
      }
      firewall.enforced.push(policies.map((p) => p.tunnel));
      return Promise.resolve();
    },
  };
  return firewall;
}

function killSwitchIn(dir: string, firewall: KillSwitchFirewall): KillSwitch {
  return new KillSwitch({ dir, platform: 'linux', firewall, logger: silentLogger });
}

test('kill switch: engage and release compute the whole set each time; records follow', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wirelane-ks-'));
  try {
    const firewall = recordingFirewall();
    const ks = killSwitchIn(join(dir, 'kill-switch'), firewall);
    await ks.engage(office);
    await ks.engage(full);
    await ks.engage({ ...office, fwmark: 7 }); // a refresh replaces, never adds a second
    await ks.release('office');
    await ks.release('office'); // already released: nothing to do, nothing enforced
    assert.deepEqual(firewall.enforced, [['office'], ['full+1', 'office'], ['full+1', 'office'], ['full+1']]);
    assert.deepEqual(readdirSync(join(dir, 'kill-switch')), ['full+1.json']);
    assert.deepEqual(await ks.policyOf('full+1'), full);
    await ks.release('full+1');
    assert.deepEqual(firewall.enforced.at(-1), []);
    assert.deepEqual(readdirSync(join(dir, 'kill-switch')), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('kill switch: a refused firewall change leaves the record as it was', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wirelane-ks-'));
  try {
    const firewall = recordingFirewall();
    const ks = killSwitchIn(dir, firewall);
    firewall.failNext = true;
    await assert.rejects(ks.engage(office), /Operation not permitted/);
    assert.deepEqual(readdirSync(dir), []);
    await ks.engage(office);
    firewall.failNext = true;
    await assert.rejects(ks.engage({ ...office, dnsServers: [] }), /Operation not permitted/);
    assert.deepEqual(await ks.policyOf('office'), office, 'the policy in force is still on record');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('kill switch: recovery keeps tunnels still on, releases the others, and skips a torn record', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wirelane-ks-'));
  try {
    const before = killSwitchIn(dir, recordingFirewall());
    await before.engage(office);
    await before.engage(full);
    writeFileSync(join(dir, 'torn.json'), '{"tunnel":"torn","interf');
    // A new helper: the old one was killed; only 'full+1' is still on.
    const firewall = recordingFirewall();
    const after = killSwitchIn(dir, firewall);
    const result = await after.recover((tunnel) => tunnel === 'full+1');
    assert.deepEqual(result, { kept: ['full+1'], released: ['office'] });
    assert.deepEqual(firewall.enforced, [['full+1']]);
    assert.deepEqual(readdirSync(dir).sort(), ['full+1.json', 'torn.json']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('kill switch: values that would not be one token in the ruleset are refused before anything changes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wirelane-ks-'));
  try {
    const firewall = recordingFirewall();
    const ks = killSwitchIn(dir, firewall);
    const bad: Partial<KillSwitchPolicy>[] = [
      { interfaceName: 'eth0" accept #' },
      { dnsServers: ['10.0.0.1 } accept'] },
      { prefixes: ['10.0.0.0/33'] },
      { endpoints: [{ address: '192.0.2.1', port: 0 }] },
      { endpoints: [{ address: 'vpn.example.com', port: 51820 }] },
      { fwmark: -1 },
      { tunnel: '../etc' },
    ];
    for (const change of bad) assert.throws(() => void ks.engage({ ...office, ...change }), /not|out of range|bad prefix/, JSON.stringify(change));
    assert.deepEqual(firewall.enforced, []);
    assert.deepEqual(readdirSync(dir), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('kill switch: new endpoints replace the old ones in one transaction; a tunnel without a policy is left alone', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wirelane-ks-'));
  try {
    const scripts: string[] = [];
    const ks = killSwitchIn(dir, { enforce: async (policies) => void scripts.push(nftKillSwitchScript(policies)) });
    await ks.engage(office);
    assert.equal(await ks.updateEndpoints('office', [{ address: '203.0.113.77', port: 51821 }]), true);
    assert.equal(scripts.length, 2, 'one more transaction, nothing in between');
    assert.match(scripts[1] ?? '', /\t\tip daddr 203\.0\.113\.77 udp dport 51821 return\n/);
    assert.doesNotMatch(scripts[1] ?? '', /192\.0\.2\.2/, 'the old endpoint is no longer let out');
    assert.deepEqual((await ks.policyOf('office'))?.endpoints, [{ address: '203.0.113.77', port: 51821 }]);
    assert.equal(await ks.updateEndpoints('nobody', [{ address: '203.0.113.1', port: 1 }]), false);
    assert.equal(scripts.length, 2);
    await assert.rejects(ks.updateEndpoints('office', [{ address: 'vpn.example.com', port: 1 }]), /endpoint/);
    assert.deepEqual((await ks.policyOf('office'))?.endpoints, [{ address: '203.0.113.77', port: 51821 }]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
