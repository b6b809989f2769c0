/**
 * The Linux OS configuration for real, inside a network namespace this test creates (root only):
 * a full tunnel with IPv4, IPv6 and DNS is applied to a TUN interface, checked with `ip`, reverted
 * to the exact state before, applied again, "crashed" (the in-memory state dropped, the journal
 * kept) and recovered to the exact state before.
 *
 * The namespace's resolv.conf is /etc/netns/NS/resolv.conf, which `ip netns exec` bind-mounts over
 * /etc/resolv.conf for the commands it runs; the host's /etc/resolv.conf is never touched.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createOsConfigurator } from '../../engine/os/configurator.js';
import { parseCidrText } from '../../engine/os/address.js';
import { execFileRunner } from '../../engine/os/runner.js';
import type { OsTunnelInput } from '../../engine/os/types.js';

const isRoot = process.getuid?.() === 0;
const NS = `wlos${process.pid % 100000}`;
const NETNS_DIR = `/etc/netns/${NS}`;
const RESOLV_CONF = join(NETNS_DIR, 'resolv.conf');
const ORIGINAL_RESOLV_CONF = '# the namespace resolver before the tunnel\nnameserver 198.51.100.53\nsearch lan.example\noptions  edns0 \n';
const run = execFileRunner({ prefix: ['ip', 'netns', 'exec', NS], timeoutMs: 10_000 });
let journalDir = '';

function inNs(...args: string[]): string {
  return execFileSync('ip', ['netns', 'exec', NS, ...args], { encoding: 'utf8', timeout: 10_000 });
}

/** Everything a connect may change, as the tools print it. */
function snapshot(): Record<string, string> {
  return {
    addr: inNs('ip', 'addr'),
    route: inNs('ip', 'route', 'show', 'table', 'all'),
    route6: inNs('ip', '-6', 'route', 'show', 'table', 'all'),
    rule: inNs('ip', 'rule'),
    rule6: inNs('ip', '-6', 'rule'),
    srcValidMark: inNs('sysctl', '-n', 'net.ipv4.conf.all.src_valid_mark'),
    resolvConf: inNs('cat', '/etc/resolv.conf'),
  };
}

const fullTunnel: OsTunnelInput = {
  interfaceName: 'wltest0',
  addresses: [parseCidrText('10.7.0.2/24'), parseCidrText('fd00:7::2/64')],
  dns: { servers: ['10.7.0.1', 'fd00:7::1'], searchDomains: ['vpn.example'] },
  allowedIps: [parseCidrText('0.0.0.0/0'), parseCidrText('::/0'), parseCidrText('10.8.0.0/16')],
  endpoints: ['198.51.100.1'],
};

function configurator() {
  return createOsConfigurator({
    platform: 'linux',
    journalDir,
    runner: run,
    linux: { dnsMethod: 'resolv.conf', resolvConfPath: RESOLV_CONF },
  });
}

before(() => {
  if (!isRoot) return;
  journalDir = mkdtempSync(join(tmpdir(), 'wirelane-os-journal-'));
  mkdirSync(NETNS_DIR, { recursive: true });
  writeFileSync(RESOLV_CONF, ORIGINAL_RESOLV_CONF);
  execFileSync('ip', ['netns', 'add', NS]);
  // An underlay with a default route, so the MTU is computed as wg-quick computes it.
  inNs('ip', 'link', 'set', 'lo', 'up');
  // No duplicate address detection: link-local addresses would otherwise change from "tentative"
  // while the test runs, and the before/after comparison would see that instead of our changes.
  inNs('sysctl', '-q', '-w', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0');
  inNs('ip', 'link', 'add', 'wlunder0', 'type', 'veth', 'peer', 'name', 'wlunder1');
  inNs('ip', 'link', 'set', 'wlunder1', 'mtu', '1400', 'up');
  inNs('ip', 'link', 'set', 'wlunder0', 'mtu', '1400', 'up');
  inNs('ip', 'addr', 'add', '198.51.100.2/24', 'dev', 'wlunder0');
  inNs('ip', 'route', 'add', 'default', 'via', '198.51.100.1');
  // A TUN device no process holds: what the engine's device looks like to `ip` (no carrier).
  inNs('ip', 'tuntap', 'add', 'dev', 'wltest0', 'mode', 'tun');
  // The first "up" gives a device its queueing discipline for good (noop -> pfifo_fast); do it once
  // here so the state before connect is that of a device that has been up, as a reconnect sees it.
  inNs('ip', 'link', 'set', 'wltest0', 'up');
  inNs('ip', 'link', 'set', 'wltest0', 'down');
});

after(() => {
  if (!isRoot) return;
  try {
    execFileSync('ip', ['netns', 'del', NS]);
  } catch {
    // Already gone.
  }
  rmSync(NETNS_DIR, { recursive: true, force: true });
  rmSync(journalDir, { recursive: true, force: true });
});

test('a full tunnel is applied as wg-quick applies it, reverted exactly, and recovered after a crash', { skip: !isRoot && 'needs root' }, async () => {
  const before = snapshot();
  const os = configurator();
  const facts = await os.probe(fullTunnel);
  const plan = os.plan(fullTunnel, facts);
  assert.equal(plan.fwmark, 51820);
  assert.equal(plan.mtu, 1320, 'the route MTU toward the endpoint (1400) minus 80');

  const applied = await os.apply(plan);
  const addr = inNs('ip', '-o', 'addr', 'show', 'dev', 'wltest0');
  assert.match(addr, /inet 10\.7\.0\.2\/24 /);
  assert.match(addr, /inet6 fd00:7::2\/64 /);
  assert.match(inNs('ip', 'link', 'show', 'dev', 'wltest0'), /\bmtu 1320 /);
  assert.match(inNs('ip', 'link', 'show', 'dev', 'wltest0'), /<[^>]*\bUP\b/);
  // 10.8.0.0/16 lies inside the full IPv4 tunnel: the default route of table 51820 carries it, and
  // a main-table route of its own would also catch the engine's marked packets (a loop when an
  // endpoint lies inside it), so the plan adds none.
  assert.doesNotMatch(inNs('ip', 'route'), /^10\.8\.0\.0\/16 /m);
  assert.match(inNs('ip', 'route', 'get', '10.8.1.1'), /\bdev wltest0\b/);
  assert.match(inNs('ip', 'route', 'show', 'table', '51820'), /^default dev wltest0 /m);
  assert.match(inNs('ip', '-6', 'route', 'show', 'table', '51820'), /^default dev wltest0 /m);
  for (const rules of [inNs('ip', 'rule'), inNs('ip', '-6', 'rule')]) {
    assert.match(rules, /not from all fwmark 0xca6c lookup 51820/);
    assert.match(rules, /from all lookup main suppress_prefixlength 0/);
  }
  assert.equal(inNs('sysctl', '-n', 'net.ipv4.conf.all.src_valid_mark').trim(), '1');
  const resolv = inNs('cat', '/etc/resolv.conf');
  assert.match(resolv, /^nameserver 10\.7\.0\.1$/m);
  assert.match(resolv, /^nameserver fd00:7::1$/m);
  assert.match(resolv, /^search vpn\.example$/m);
  assert.doesNotMatch(resolv, /198\.51\.100\.53/);

  const report = await os.revert(applied);
  assert.deepEqual(report.failures, []);
  assert.deepEqual(snapshot(), before);
  assert.equal(inNs('cat', '/etc/resolv.conf'), ORIGINAL_RESOLV_CONF, 'resolv.conf restored byte for byte');
  assert.deepEqual(readdirSync(journalDir), [], 'the journal is deleted after revert');

  // Apply again, then lose every in-memory trace of it as a killed helper would.
  await configurator().apply(configurator().plan(fullTunnel, await configurator().probe(fullTunnel)));
  assert.notDeepEqual(snapshot(), before);
  const recovery = await configurator().recover();
  assert.deepEqual(recovery.failures, []);
  assert.equal(recovery.journals.length, 1);
  assert.ok(recovery.undone.some((step) => step.includes('resolv.conf')));
  assert.ok(recovery.undone.some((step) => step.includes('fwmark')));
  assert.deepEqual(snapshot(), before);
  assert.deepEqual(readdirSync(journalDir), []);

  // Recovering twice is harmless: nothing is left to undo.
  const again = await configurator().recover();
  assert.deepEqual(again, { journals: [], undone: [], failures: [] });
});

test('recovery deletes an interface the helper created and undoes a step left half done', { skip: !isRoot && 'needs root' }, async () => {
  inNs('ip', 'tuntap', 'add', 'dev', 'wltest1', 'mode', 'tun');
  const lan: OsTunnelInput = {
    interfaceName: 'wltest1',
    addresses: [parseCidrText('10.9.0.2/24')],
    dns: { servers: [], searchDomains: [] },
    mtu: 1380,
    allowedIps: [parseCidrText('10.9.0.0/24'), parseCidrText('10.10.0.0/16')],
    endpoints: [],
    ownsInterface: true,
  };
  const os = configurator();
  const applied = await os.apply(os.plan(lan, await os.probe(lan)));
  assert.match(inNs('ip', 'route'), /^10\.10\.0\.0\/16 dev wltest1 /m);
  // The kernel's own prefix route for the address was there first: skipped, not ours to remove.
  // Simulate a helper killed after recording a step but before running it: a step with no result.
  const { appendFileSync } = await import('node:fs');
  appendFileSync(
    applied.journalPath,
    `${JSON.stringify({ v: 1, type: 'step', seq: 99, description: 'add route 10.11.0.0/16 via wltest1', undo: [{ kind: 'run', command: { file: 'ip', args: ['-4', 'route', 'del', '10.11.0.0/16', 'dev', 'wltest1'] }, alreadyUndone: ['No such process', 'Cannot find device'] }] })}\n{"v":1,"type":"res`,
  );
  const recovery = await configurator().recover();
  assert.deepEqual(recovery.failures, []);
  assert.equal(recovery.undone.at(-1), 'interface wltest1 created for the tunnel');
  assert.throws(() => inNs('ip', 'link', 'show', 'dev', 'wltest1'), 'the interface is gone');
  assert.deepEqual(readdirSync(journalDir), []);
});

/** A TUN device no process holds, brought up and down once (its queueing discipline then stays put). */
function addTunOnceUp(dev: string): void {
  inNs('ip', 'tuntap', 'add', 'dev', dev, 'mode', 'tun');
  inNs('ip', 'link', 'set', dev, 'up');
  inNs('ip', 'link', 'set', dev, 'down');
}

function splitDnsTunnel(interfaceName: string, third: number): OsTunnelInput {
  return {
    interfaceName,
    addresses: [parseCidrText(`10.${third}.0.2/24`)],
    dns: { servers: [`10.${third}.0.53`], searchDomains: [`t${third}.example`] },
    mtu: 1380,
    allowedIps: [parseCidrText(`10.${third}.0.0/24`), parseCidrText(`172.${third}.0.0/16`)],
    endpoints: [],
  };
}

test('two DNS tunnels at once: down in both orders and after a crash, resolv.conf is byte-identical; one still up keeps its DNS', { skip: !isRoot && 'needs root' }, async () => {
  for (const dev of ['wltest2', 'wltest3']) addTunOnceUp(dev);
  try {
    const before = snapshot();
    const a = splitDnsTunnel('wltest2', 31);
    const b = splitDnsTunnel('wltest3', 32);
    for (const order of ['a-first', 'b-first', 'crash'] as const) {
      const os = configurator();
      const appliedA = await os.apply(os.plan(a, await os.probe(a)));
      assert.match(inNs('cat', '/etc/resolv.conf'), /^nameserver 10\.31\.0\.53$/m);
      const appliedB = await os.apply(os.plan(b, await os.probe(b)));
      assert.match(inNs('cat', '/etc/resolv.conf'), /^nameserver 10\.32\.0\.53$/m);
      if (order === 'crash') {
        // The helper is gone with both up; a new one recovers from the journals alone.
        const recovery = await configurator().recover();
        assert.deepEqual(recovery.failures, []);
        assert.equal(recovery.journals.length, 2);
      } else {
        const [first, second, stillUp] = order === 'a-first' ? [appliedA, appliedB, /10\.32\.0\.53/] : [appliedB, appliedA, /10\.31\.0\.53/];
        assert.deepEqual((await os.revert(first)).failures, []);
        assert.match(inNs('cat', '/etc/resolv.conf'), stillUp, `${order}: the tunnel still up keeps its DNS (no fall back to the original)`);
        assert.doesNotMatch(inNs('cat', '/etc/resolv.conf'), /198\.51\.100\.53/);
        assert.deepEqual((await os.revert(second)).failures, []);
      }
      assert.equal(inNs('cat', '/etc/resolv.conf'), ORIGINAL_RESOLV_CONF, `${order}: resolv.conf byte-identical`);
      assert.deepEqual(snapshot(), before, `${order}: everything else as before`);
      assert.deepEqual(readdirSync(journalDir), [], `${order}: no journal or DNS stack left`);
    }
  } finally {
    for (const dev of ['wltest2', 'wltest3']) execFileSync('ip', ['netns', 'exec', NS, 'ip', 'link', 'del', 'dev', dev], { stdio: 'ignore' });
  }
});

test('a route another interface holds already (identical prefix) fails the connect and leaves nothing behind', { skip: !isRoot && 'needs root' }, async () => {
  for (const dev of ['wltest4', 'wltest5']) addTunOnceUp(dev);
  try {
    const os = configurator();
    const first = splitDnsTunnel('wltest4', 41);
    const appliedFirst = await os.apply(os.plan(first, await os.probe(first)));
    const before = snapshot();
    // The second claims 172.41.0.0/16 too: "File exists" from the kernel must not count as done.
    const second: OsTunnelInput = { ...splitDnsTunnel('wltest5', 42), allowedIps: [parseCidrText('10.42.0.0/24'), parseCidrText('172.41.0.0/16')] };
    await assert.rejects(os.apply(os.plan(second, await os.probe(second))), /add route 172\.41\.0\.0\/16 via wltest5: something else holds it already/);
    assert.deepEqual(snapshot(), before, 'the refused tunnel left nothing behind (its DNS included)');
    assert.match(inNs('ip', 'route', 'show', '172.41.0.0/16'), /dev wltest4/);
    assert.deepEqual((await os.revert(appliedFirst)).failures, []);
    assert.equal(inNs('cat', '/etc/resolv.conf'), ORIGINAL_RESOLV_CONF);
  } finally {
    for (const dev of ['wltest4', 'wltest5']) execFileSync('ip', ['netns', 'exec', NS, 'ip', 'link', 'del', 'dev', dev], { stdio: 'ignore' });
  }
});
