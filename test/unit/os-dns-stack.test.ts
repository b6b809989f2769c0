/**
 * The DNS stack (engine/os/dns-stack.ts) on a temporary file: several tunnels' DNS applied and
 * removed in every order, the machine's own bytes back exactly when the last one goes, while one
 * tunnel is up another one's removal never puts the original back; and the same through the
 * configurator and its journals (revert in both orders, crash recovery newest first, what the
 * undo allow-list accepts). The real file in a namespace: test/interop/os-linux.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCidrText as cidr } from '../../engine/os/address.js';
import { createOsConfigurator } from '../../engine/os/configurator.js';
import { DnsStack, dnsStackDirOf } from '../../engine/os/dns-stack.js';
import { newestFirst, readJournal } from '../../engine/os/journal.js';
import { undoRefusal } from '../../engine/os/undo-policy.js';
import { silentLogger } from '../../engine/logger.js';
import type { CommandRunner, OsTunnelInput } from '../../engine/os/types.js';

/** Odd bytes on purpose (no final newline, two spaces, a tab): the restore must be exact. */
const ORIGINAL = '# the machine\'s own\nnameserver 192.0.2.53\nsearch  lan.example\toptions edns0';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'wirelane-dns-stack-'));
}

function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]));
}

test('three tunnels pushed in every order and removed in every order: the newest left is in force, the last out restores the original exactly', async () => {
  const names = ['a', 'b', 'c'];
  for (const pushOrder of permutations(names)) {
    for (const removeOrder of permutations(names)) {
      const dir = tempDir();
      try {
        const path = join(dir, 'resolv.conf');
        writeFileSync(path, ORIGINAL);
        const stack = new DnsStack(join(dir, 'stack'));
        const layers = new Map<string, string>();
        for (const name of pushOrder) {
          const layer = stack.newLayerName(name);
          layers.set(name, layer);
          await stack.push(path, layer, `nameserver for ${name}\n`);
          assert.equal(readFileSync(path, 'utf8'), `nameserver for ${name}\n`, 'the tunnel that connected last is in force');
        }
        const up = [...pushOrder];
        for (const name of removeOrder) {
          await stack.remove(path, layers.get(name)!);
          up.splice(up.indexOf(name), 1);
          const newest = up.at(-1);
          const context = `pushed ${pushOrder.join('')}, removed ${removeOrder.join('')}, ${name} just went`;
          if (newest === undefined) assert.equal(readFileSync(path, 'utf8'), ORIGINAL, `${context}: original back byte for byte`);
          else assert.equal(readFileSync(path, 'utf8'), `nameserver for ${newest}\n`, `${context}: ${newest} is still up, its DNS stays`);
        }
        assert.equal(await stack.holdsOriginal(), false, 'the original is forgotten once restored');
        assert.deepEqual(await stack.layers(), []);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
});

test('the original is saved once: a second tunnel never saves the first one\'s file; a missing file is missing again afterwards', async () => {
  const dir = tempDir();
  try {
    const path = join(dir, 'resolv.conf');
    const stack = new DnsStack(join(dir, 'stack'));
    const a = stack.newLayerName('a');
    const b = stack.newLayerName('b');
    assert.ok(a < b, 'layer names sort by age');
    await stack.push(path, a, 'A\n');
    await stack.push(path, b, 'B\n');
    await stack.remove(path, a);
    assert.equal(readFileSync(path, 'utf8'), 'B\n');
    await stack.remove(path, b);
    assert.equal(existsSync(path), false, 'there was no file before the first tunnel');
    // Removing again (a retried undo) is harmless.
    await stack.remove(path, b);
    assert.equal(existsSync(path), false);
    await assert.rejects(stack.push(path, '../../etc/passwd', 'x'), /not a DNS layer name/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A runner where every command succeeds (the DNS stack is what is under test). */
const quietRunner: CommandRunner = async () => ({ stdout: '', stderr: '', code: 0 });

function dnsTunnel(name: string, server: string): OsTunnelInput {
  return {
    interfaceName: name,
    addresses: [cidr('10.90.0.2/32')],
    dns: { servers: [server], searchDomains: [] },
    mtu: 1380,
    allowedIps: [cidr(`${server}/32`)],
    endpoints: [],
  };
}

function configurator(journalDir: string, resolvConf: string) {
  return createOsConfigurator({
    platform: 'linux',
    journalDir,
    runner: quietRunner,
    logger: silentLogger,
    linux: { dnsMethod: 'resolv.conf', resolvConfPath: resolvConf },
  });
}

test('two DNS tunnels through the configurator: disconnected in both orders, resolv.conf is byte-identical; B up keeps B\'s DNS when A goes', async () => {
  for (const firstDown of ['A', 'B'] as const) {
    const dir = tempDir();
    try {
      const resolvConf = join(dir, 'resolv.conf');
      writeFileSync(resolvConf, ORIGINAL);
      const os = configurator(join(dir, 'journal'), resolvConf);
      const tunnelA = dnsTunnel('wla', '10.90.0.53');
      const tunnelB = dnsTunnel('wlb', '10.91.0.53');
      const a = await os.apply(os.plan(tunnelA, {}));
      const b = await os.apply(os.plan(tunnelB, {}));
      assert.match(readFileSync(resolvConf, 'utf8'), /nameserver 10\.91\.0\.53/);
      if (firstDown === 'A') {
        assert.deepEqual((await os.revert(a)).failures, []);
        assert.match(readFileSync(resolvConf, 'utf8'), /nameserver 10\.91\.0\.53/, 'B is still up: its DNS stays, the original does not come back');
        assert.deepEqual((await os.revert(b)).failures, []);
      } else {
        assert.deepEqual((await os.revert(b)).failures, []);
        assert.match(readFileSync(resolvConf, 'utf8'), /nameserver 10\.90\.0\.53/, 'A is still up: its DNS is back in force');
        assert.deepEqual((await os.revert(a)).failures, []);
      }
      assert.equal(readFileSync(resolvConf, 'utf8'), ORIGINAL, `down ${firstDown} first: byte-identical`);
      assert.deepEqual(readdirSync(join(dir, 'journal')), []);
      assert.equal(existsSync(dnsStackDirOf(join(dir, 'journal'))), false, 'nothing of the stack is left');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

test('after a crash with two DNS tunnels up, recovery undoes newest first and restores resolv.conf byte for byte', async () => {
  const dir = tempDir();
  try {
    const resolvConf = join(dir, 'resolv.conf');
    const journalDir = join(dir, 'journal');
    writeFileSync(resolvConf, ORIGINAL);
    const killed = configurator(journalDir, resolvConf);
    const a = await killed.apply(killed.plan(dnsTunnel('wla', '10.90.0.53'), {}));
    const b = await killed.apply(killed.plan(dnsTunnel('wlb', '10.91.0.53'), {}));
    // Their journals, newest first, as recovery takes them.
    assert.deepEqual(newestFirst([a.journalPath, b.journalPath]), [b.journalPath, a.journalPath]);
    // The undo step each journalled is one the allow-list accepts (else recovery would refuse it).
    for (const applied of [a, b]) {
      for (const step of await readJournal(applied.journalPath)) {
        for (const action of step.undo) assert.equal(undoRefusal(action, [resolvConf]), null, JSON.stringify(action));
      }
    }
    const recovered = await configurator(journalDir, resolvConf).recover();
    assert.deepEqual(recovered.failures, []);
    assert.deepEqual(recovered.journals, [b.journalPath, a.journalPath]);
    assert.equal(readFileSync(resolvConf, 'utf8'), ORIGINAL);
    assert.equal(existsSync(dnsStackDirOf(journalDir)), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a crash between journalling the DNS layer and pushing it: recovery leaves the file as it was', async () => {
  const dir = tempDir();
  try {
    const resolvConf = join(dir, 'resolv.conf');
    const journalDir = join(dir, 'journal');
    writeFileSync(resolvConf, ORIGINAL);
    const os = configurator(journalDir, resolvConf);
    const a = await os.apply(os.plan(dnsTunnel('wla', '10.90.0.53'), {}));
    // B's journal records a layer that was never pushed (killed in between).
    const { Journal } = await import('../../engine/os/journal.js');
    const journal = await Journal.create(journalDir, 'wlb');
    await journal.begin('write DNS of wlb', [{ kind: 'dns-stack-remove', path: resolvConf, layer: new DnsStack(dnsStackDirOf(journalDir)).newLayerName('wlb') }]);
    await journal.close();
    const recovered = await configurator(journalDir, resolvConf).recover();
    assert.deepEqual(recovered.failures, []);
    assert.equal(recovered.journals.length, 2);
    assert.equal(readFileSync(resolvConf, 'utf8'), ORIGINAL);
    assert.equal(existsSync(a.journalPath), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the undo allow-list: DNS layers of the configured resolv.conf and the kill switch\'s nft transaction pass; anything else is refused', () => {
  const resolvConf = '/etc/resolv.conf';
  assert.equal(undoRefusal({ kind: 'dns-stack-remove', path: resolvConf, layer: '001764700000000-wg0' }, [resolvConf]), null);
  assert.match(undoRefusal({ kind: 'dns-stack-remove', path: '/etc/shadow', layer: '001764700000000-wg0' }, [resolvConf]) ?? '', /does not edit/);
  assert.match(undoRefusal({ kind: 'dns-stack-remove', path: resolvConf, layer: '../x' }, [resolvConf]) ?? '', /layer name/);
  assert.equal(undoRefusal({ kind: 'restore-file', path: resolvConf, originalBase64: null }, [resolvConf]), null);
  assert.equal(undoRefusal({ kind: 'run', command: { file: 'nft', args: ['-f', '-'], input: 'delete table inet wirelane\n' } }, []), null);
  assert.equal(undoRefusal({ kind: 'run', command: { file: 'nft', args: ['delete', 'table', 'inet', 'wirelane'] } }, []), null);
  assert.match(undoRefusal({ kind: 'run', command: { file: 'nft', args: ['-f', '/tmp/planted'] } }, []) ?? '', /arguments/);
});
