/**
 * The journal and apply/revert/recover with a recording fake runner: what is written before each
 * change, what a failed connect undoes, what a crash leaves and how it is undone, and that undo is
 * idempotent. The real system is exercised in test/interop/os-linux.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCidrText as cidr } from '../../engine/os/address.js';
import { createOsConfigurator, OsApplyError } from '../../engine/os/configurator.js';
import { Journal, readJournal, recoverJournals, writeFileInPlace } from '../../engine/os/journal.js';
import { silentLogger } from '../../engine/logger.js';
import type { CommandResult, CommandRunner, OsTunnelInput } from '../../engine/os/types.js';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'wirelane-os-unit-'));
}

/** A runner that records every command and answers from a rule list (first match wins). */
function fakeRunner(rules: { match: RegExp; result: Partial<CommandResult> }[] = []): { run: CommandRunner; log: string[] } {
  const log: string[] = [];
  const run: CommandRunner = async (file, args) => {
    const line = [file, ...args].join(' ');
    log.push(line);
    const rule = rules.find((r) => r.match.test(line));
    return { stdout: '', stderr: '', code: 0, ...rule?.result };
  };
  return { run, log };
}

const lan: OsTunnelInput = {
  interfaceName: 'wg0',
  addresses: [cidr('10.10.0.2/24')],
  dns: { servers: ['10.10.0.1'], searchDomains: [] },
  mtu: 1380,
  allowedIps: [cidr('10.10.0.0/24'), cidr('192.168.50.0/24')],
  endpoints: [],
};

test('apply journals each step before running it; revert undoes in reverse, skipping what was already there', async () => {
  const dir = tempDir();
  try {
    const resolvConf = join(dir, 'resolv.conf');
    writeFileSync(resolvConf, 'nameserver 192.0.2.53\n');
    const { run, log } = fakeRunner([
      { match: /route add 10\.10\.0\.0\/24/, result: { code: 2, stderr: 'RTNETLINK answers: File exists' } },
      // The kernel's own prefix route of the address, through the same device: ours to skip.
      { match: /route show table main exact 10\.10\.0\.0\/24 dev wg0/, result: { stdout: '10.10.0.0/24 proto kernel scope link src 10.10.0.2\n' } },
    ]);
    const os = createOsConfigurator({ platform: 'linux', journalDir: join(dir, 'journal'), runner: run, logger: silentLogger, linux: { dnsMethod: 'resolv.conf', resolvConfPath: resolvConf } });
    const applied = await os.apply(os.plan(lan, { linkBefore: { mtu: 1420, up: false } }));
    assert.match(readFileSync(resolvConf, 'utf8'), /nameserver 10\.10\.0\.1/);
    const steps = await readJournal(applied.journalPath);
    assert.deepEqual(steps.map((s) => s.state), ['done', 'done', 'done', 'skipped', 'done']);
    const fileStep = steps[2]?.undo[0];
    assert.ok(fileStep?.kind === 'dns-stack-remove', 'the DNS layer is journalled, the original bytes are in the stack');
    assert.equal(fileStep.path, resolvConf);

    log.length = 0;
    const report = await os.revert(applied);
    assert.deepEqual(report.failures, []);
    assert.deepEqual(log, [
      'ip -4 route del 192.168.50.0/24 dev wg0',
      'ip link set mtu 1420 down dev wg0',
      'ip -4 address del 10.10.0.2/24 dev wg0',
    ]);
    assert.equal(readFileSync(resolvConf, 'utf8'), 'nameserver 192.0.2.53\n');
    assert.deepEqual(readdirSync(join(dir, 'journal')), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a failing step rolls back what was applied and leaves no journal', async () => {
  const dir = tempDir();
  try {
    const { run, log } = fakeRunner([{ match: /route add 192\.168\.50/, result: { code: 2, stderr: 'RTNETLINK answers: Network is unreachable' } }]);
    const os = createOsConfigurator({ platform: 'linux', journalDir: dir, runner: run, linux: { dnsMethod: 'resolvconf' } });
    await assert.rejects(os.apply(os.plan(lan, {})), (error: unknown) => {
      assert.ok(error instanceof OsApplyError);
      assert.match(error.message, /add route 192\.168\.50\.0\/24.*Network is unreachable/);
      assert.deepEqual(error.rollback.failures, []);
      return true;
    });
    assert.deepEqual(log.slice(-4), [
      'ip -4 route del 192.168.50.0/24 dev wg0', // the failed step itself may have half happened
      'ip -4 route del 10.10.0.0/24 dev wg0',
      'resolvconf -d tun.wg0 -f',
      'ip -4 address del 10.10.0.2/24 dev wg0',
    ]);
    assert.deepEqual(readdirSync(dir), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('recover undoes a journal torn mid-line, counts "already gone" as undone, and keeps a journal whose undo failed', async () => {
  const dir = tempDir();
  try {
    const journal = await Journal.create(dir, 'wg0');
    const gone = ['Cannot find device'];
    await journal.finish(await journal.begin('add address', [{ kind: 'run', command: { file: 'ip', args: ['address', 'del', 'A'] }, alreadyUndone: gone }]), 'done');
    await journal.begin('add route', [{ kind: 'run', command: { file: 'ip', args: ['route', 'del', 'R'] }, alreadyUndone: gone }]);
    await journal.close();
    writeFileSync(journal.path, readFileSync(journal.path, 'utf8') + '{"v":1,"type":"result","se');

    const { run, log } = fakeRunner([{ match: /./, result: { code: 1, stderr: 'Cannot find device "wg0"' } }]);
    const report = await recoverJournals(dir, { run, logger: silentLogger });
    assert.deepEqual(log, ['ip route del R', 'ip address del A']);
    assert.deepEqual(report.undone, ['add route', 'add address']);
    assert.deepEqual(report.failures, []);
    assert.deepEqual(readdirSync(dir), []);

    // An undo that fails for a real reason is reported and its journal kept for the next start.
    const stuck = await Journal.create(dir, 'wg1');
    await stuck.finish(await stuck.begin('set DNS', [{ kind: 'run', command: { file: 'resolvectl', args: ['revert', 'wg1'] } }]), 'done');
    await stuck.close();
    const failing = fakeRunner([{ match: /./, result: { code: 1, stderr: 'Failed to connect to bus' } }]);
    const second = await recoverJournals(dir, { run: failing.run, logger: silentLogger });
    assert.equal(second.failures.length, 1);
    assert.match(second.failures[0]?.error ?? '', /resolvectl revert wg1 exited with 1: Failed to connect to bus/);
    assert.equal(readdirSync(dir).length, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('journal files are private and their records ignore junk', async () => {
  const dir = tempDir();
  try {
    const journal = await Journal.create(join(dir, 'j'), 'wg0; rm -rf /');
    await journal.close();
    assert.equal(statSync(journal.path).mode & 0o777, 0o600);
    assert.doesNotMatch(journal.path, /[; ]/);
    writeFileSync(
      journal.path,
      [
        '{"v":1,"type":"step","seq":1,"description":"x","undo":[{"kind":"run","command":{"file":"ip","args":[1]}}]}',
        'not json',
        '{"v":2,"type":"step","seq":2,"description":"future","undo":[]}',
        '',
      ].join('\n'),
    );
    assert.deepEqual(await readJournal(journal.path), [{ seq: 1, description: 'x', undo: [], state: 'unknown' }]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writeFileInPlace keeps the same file (inode), so a bind mount sees the change', async () => {
  const dir = tempDir();
  try {
    const path = join(dir, 'resolv.conf');
    writeFileSync(path, 'a much longer original content\n');
    const inode = statSync(path).ino;
    await writeFileInPlace(path, Buffer.from('short\n'));
    assert.equal(readFileSync(path, 'utf8'), 'short\n');
    assert.equal(statSync(path).ino, inode);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
