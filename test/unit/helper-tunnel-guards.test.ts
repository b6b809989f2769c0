/**
 * TunnelGuards without a system: two tunnels never route the identical prefix (the refusal is one
 * line naming the other tunnel, and releasing the claim lets the next one in), Table = main with a
 * /0 is refused before anything exists, and the kill switch's endpoint allowance follows a
 * re-resolved endpoint.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConf } from '../../engine/conf/parse.js';
import type { TunnelConfig } from '../../engine/conf/types.js';
import { RouteCollisionError, TunnelGuards } from '../../engine/helper/tunnel-guards.js';
import { KillSwitch, type KillSwitchPolicy } from '../../engine/os/killswitch.js';
import { tableRefusal } from '../../engine/os/plan.js';
import { silentLogger } from '../../engine/logger.js';

const KEY = 'yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=';

function conf(allowedIps: string, extra = ''): TunnelConfig {
  const parsed = parseConf(`[Interface]\nPrivateKey = ${KEY}\nAddress = 10.9.0.2/32\n${extra}\n[Peer]\nPublicKey = ${KEY}\nEndpoint = 192.0.2.1:51820\nAllowedIPs = ${allowedIps}\n`);
  assert.ok(parsed.ok, JSON.stringify(parsed));
  return parsed.config;
}

test('route claims: an identical prefix of another tunnel refuses the connect in one line naming it; released, the next one may claim it', () => {
  const guards = new TunnelGuards({ killSwitch: null, killSwitchSetting: () => undefined, logger: silentLogger });
  guards.claimRoutes('office', conf('10.1.0.0/16, 10.2.0.0/24'));
  // Host bits and spelling do not matter: 10.2.0.9/24 is the network 10.2.0.0/24.
  assert.throws(
    () => guards.claimRoutes('lab', conf('10.3.0.0/24, 10.2.0.9/24')),
    (error: unknown) => {
      assert.ok(error instanceof RouteCollisionError);
      assert.equal(error.otherTunnel, 'office');
      assert.equal(error.message, "10.2.0.0/24 is already routed through tunnel 'office'; disconnect 'office' or remove 10.2.0.0/24 from this tunnel's AllowedIPs");
      assert.doesNotMatch(error.message, /\n/);
      return true;
    },
  );
  // An overlapping but not identical prefix is the routing table's business (longest prefix wins).
  guards.claimRoutes('narrow', conf('10.1.5.0/24'));
  // Table = off routes nothing, so it claims nothing.
  guards.claimRoutes('manual', conf('10.1.0.0/16', 'Table = off'));
  // Reconnecting the same tunnel is not a collision with itself.
  guards.claimRoutes('office', conf('10.1.0.0/16, 10.2.0.0/24'));
  guards.releaseRoutes('office');
  guards.claimRoutes('lab', conf('10.3.0.0/24, 10.2.0.9/24'));
});

test('Table = main with a /0 (or /1 halves) is refused with an explanation; split routes and other tables are not', () => {
  const allowed = (text: string) => conf(text).peers.flatMap((peer) => peer.allowedIps);
  assert.match(tableRefusal('linux', 254, allowed('0.0.0.0/0')) ?? '', /^Table = main cannot carry a full tunnel .*Remove the Table line/);
  assert.match(tableRefusal('linux', 254, allowed('::/1, 8000::/1')) ?? '', /Table = main/);
  assert.equal(tableRefusal('linux', 254, allowed('10.0.0.0/8')), null);
  assert.equal(tableRefusal('linux', 1234, allowed('0.0.0.0/0')), null);
  assert.equal(tableRefusal('linux', 'auto', allowed('0.0.0.0/0')), null);
  assert.match(tableRefusal('darwin', 254, allowed('10.0.0.0/8')) ?? '', /Linux only/);
});

test('endpointsChanged: a kill-switched tunnel\'s allowance follows its new endpoint in one transaction', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wirelane-guards-'));
  try {
    const enforced: KillSwitchPolicy[][] = [];
    const killSwitch = new KillSwitch({ dir, platform: 'linux', firewall: { enforce: async (p) => void enforced.push([...p]) }, logger: silentLogger });
    const guards = new TunnelGuards({ killSwitch, killSwitchSetting: () => undefined, logger: silentLogger });
    const full = conf('0.0.0.0/0');
    await guards.protect('home', full, { interfaceName: 'home', endpoints: [{ address: '192.0.2.1', port: 51820 }], fwmark: null });
    await guards.endpointsChanged('home', [{ address: '203.0.113.9', port: 51820 }]);
    assert.equal(enforced.length, 2);
    assert.deepEqual(enforced[1]?.[0]?.endpoints, [{ address: '203.0.113.9', port: 51820 }]);
    // A split tunnel (kill switch off by default) has nothing in force: nothing changes.
    await guards.protect('office', conf('10.1.0.0/16'), { interfaceName: 'office', endpoints: [], fwmark: null });
    await guards.endpointsChanged('office', [{ address: '203.0.113.10', port: 1 }]);
    assert.equal(enforced.length, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
