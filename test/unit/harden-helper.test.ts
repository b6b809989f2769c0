/**
 * Attacks on the root helper that the hardening of issue 10 stops, each test written as the
 * attack: a hidden key brought back by a spelling the parser trims; a store or socket directory
 * another user can write; a planted journal; and (below) what a member may not do with scripts.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHelper, journalDirOf, type RunningHelper } from '../../engine/helper/helper.js';
import { HelperClient, HelperRequestError } from '../../engine/helper/client.js';
import { nobleBackend } from '../../engine/crypto/index.js';
import { silentLogger } from '../../engine/logger.js';
import { createOsConfigurator } from '../../engine/os/configurator.js';
import { Journal, REFUSED_JOURNAL_SUFFIX } from '../../engine/os/journal.js';
import type { OsConfigurator } from '../../engine/os/types.js';
import { repoPath } from '../support/paths.js';
import { noOs, fakeLauncher } from '../support/helper-fakes.js';

const NOBODY = 65534;
const PRIVATE_KEY = 'wDDg8T/0KoEEv7yTilcPctLGclgLFJECyGcrr//qrk8=';
const PSK = 'FpCyhws9cxwWoV4xELtfJvjJN+zQVRPISllRWgeopVE=';
const PEER1 = readFileSync(repoPath('test', 'fixtures', 'conf', 'peer1.conf'), 'utf8');
const PEER1_PSK = PEER1.replace('AllowedIPs = 10.0.0.2/32', `AllowedIPs = 10.0.0.2/32\nPresharedKey = ${PSK}`);

const roots: string[] = [];
const helpers: RunningHelper[] = [];
after(async () => {
  for (const helper of helpers) await helper.stop();
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

function tempRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'wirelane-harden-'));
  chmodSync(root, 0o755);
  roots.push(root);
  return root;
}

function startOn(root: string, options: { socket?: string; store?: string; os?: OsConfigurator } = {}): Promise<RunningHelper> {
  return startHelper({
    socketPath: options.socket ?? join(root, 'run', 'helper.sock'),
    storeDir: options.store ?? join(root, 'store'),
    logger: silentLogger,
    crypto: nobleBackend,
    os: options.os ?? noOs,
    openTun: () => {
      throw new Error('not used');
    },
    createBind: () => {
      throw new Error('not used');
    },
    launcher: fakeLauncher,
    watchNetwork: false,
    groupFile: join(root, 'no-such-group-file'),
  }).then((helper) => {
    helpers.push(helper);
    return helper;
  });
}

// ---------------------------------------------------------------------------------------------
// Keys

/** Unicode spaces String.prototype.trim() removes (so a naive parser reads the key) but wg does not.
 *  (Vertical tab and form feed, also trimmed, are control characters the protocol refuses earlier.) */
const UNICODE_SPACES = ['\u00a0', '\u2000', '\u2003', '\u2009', '\u200a', '\u202f', '\u205f', '\u3000', '\u1680', '\ufeff', '\u2028', '\u2029'];

test('attack: a key line written with a Unicode space around "=" cannot bring a stored key back through update then get', async () => {
  const root = tempRoot();
  await startOn(root);
  const client = await HelperClient.connect(join(root, 'run', 'helper.sock'));
  const replies: string[] = [];
  const record = (value: unknown) => replies.push(JSON.stringify(value));
  try {
    await client.request('import', { name: 'office', confText: PEER1_PSK });
    const hidden = (await client.request('get', { name: 'office' })).confText;
    record(hidden);
    for (const space of UNICODE_SPACES) {
      for (const [key, at] of [
        ['PrivateKey', `PrivateKey${space}= (hidden)`],
        ['PrivateKey', `PrivateKey =${space}(hidden)`],
        ['PrivateKey', `${space}PrivateKey = (hidden)`],
        ['PresharedKey', `PresharedKey${space}=${space}(hidden)`],
      ] as const) {
        const edited = hidden.replace(new RegExp(`^${key} = \\(hidden\\)$`, 'm'), at);
        assert.notEqual(edited, hidden);
        const line = edited.split('\n').findIndex((l) => l === at) + 1;
        const reply = await client.request('update', { name: 'office', confText: edited }).catch((e: unknown) => e);
        assert.ok(reply instanceof HelperRequestError, `U+${space.codePointAt(0)!.toString(16)} ${at}: update must be refused`);
        assert.equal(reply.error.code, 'invalid_config');
        assert.ok(reply.error.problems?.some((p) => p.line === line && /Unicode space/.test(p.message)), JSON.stringify(reply.error));
        record(reply.error);
        record(await client.request('validate', { name: 'office', confText: edited }));
        record(await client.request('get', { name: 'office' }));
        record(await client.request('list', {}));
      }
    }
    // Every spelling the parser does accept still gets the key back, and `get` hides it again.
    for (const at of ['privatekey\t=\t(hidden)\t# kept', '  PRIVATEKEY=(hidden)', 'PrivateKey = (hidden)#']) {
      await client.request('update', { name: 'office', confText: hidden.replace(/^PrivateKey = \(hidden\)$/m, at) });
      const got = await client.request('get', { name: 'office' });
      record(got);
      assert.ok(got.confText.includes(at), got.confText);
      assert.match(readFileSync(join(root, 'store', 'office.conf'), 'utf8'), new RegExp(PRIVATE_KEY.replace(/[+/]/g, '\\$&')));
    }
    for (const reply of replies) {
      assert.ok(!reply.includes(PRIVATE_KEY) && !reply.includes(PSK), `a reply carries a stored key: ${reply.slice(0, 300)}`);
    }
    // And the key is really still there: export (the one request that returns it) has it.
    assert.ok((await client.request('export', { name: 'office' })).confText.includes(PRIVATE_KEY));
  } finally {
    client.close();
  }
});

test('attack: a file importing a key line with a no-break space is refused with its line', async () => {
  const root = tempRoot();
  await startOn(root);
  const client = await HelperClient.connect(join(root, 'run', 'helper.sock'));
  try {
    const text = PEER1.replace('PrivateKey = ', 'PrivateKey\u00a0= ');
    const reply = await client.request('import', { name: 'nbsp', confText: text }).catch((e: unknown) => e);
    assert.ok(reply instanceof HelperRequestError && reply.error.code === 'invalid_config');
    const problems = reply.error.problems ?? [];
    assert.ok(problems.some((p) => p.line === 4 && /^PrivateKey: the line contains a Unicode space \(U\+00A0\)/.test(p.message)), JSON.stringify(problems));
    assert.deepEqual((await client.request('list', {})).tunnels, []);
  } finally {
    client.close();
  }
});

// ---------------------------------------------------------------------------------------------
// Paths

function plantJournal(dir: string, marker: string): void {
  mkdirSync(dir, { recursive: true });
  const step = { v: 1, type: 'step', seq: 1, description: 'remove the interface', undo: [{ kind: 'run', command: { file: 'sh', args: ['-c', `touch ${marker}`] } }] };
  writeFileSync(join(dir, `wg0-1-00000000.os-journal`), `${JSON.stringify({ v: 1, type: 'journal', tunnel: 'wg0', createdAt: '' })}\n${JSON.stringify(step)}\n`, { mode: 0o600 });
}

test('attack: a store owned by a user, with a planted journal: the helper refuses to start and the journal never runs', async () => {
  const root = tempRoot();
  const store = join(root, 'store');
  const marker = join(root, 'ran-as-root');
  plantJournal(journalDirOf(store), marker);
  chownSync(store, NOBODY, NOBODY);
  const os = createOsConfigurator({ platform: 'linux', journalDir: journalDirOf(store), logger: silentLogger });
  await assert.rejects(startOn(root, { os }), /^Error: the store .*store is not safe for a root service: .*store is owned by uid 65534, not root$/);
  assert.equal(existsSync(marker), false);
  assert.equal(existsSync(join(root, 'run', 'helper.sock')), false);

  // The same store, root-owned but writable by its group: refused too.
  chownSync(store, 0, 0);
  chmodSync(store, 0o770);
  await assert.rejects(startOn(root, { os }), /store is writable by group or others \(mode 0770\)/);
  // A parent directory the user owns is as bad as the store itself.
  const userParent = join(root, 'home');
  mkdirSync(join(userParent, 'store'), { recursive: true });
  chownSync(userParent, NOBODY, NOBODY);
  await assert.rejects(startOn(root, { store: join(userParent, 'store'), os }), /home is owned by uid 65534/);
  // A symlink to a user's directory, from a safe place, is judged by where it leads.
  const { symlinkSync } = await import('node:fs');
  symlinkSync(userParent, join(root, 'link'));
  await assert.rejects(startOn(root, { store: join(root, 'link', 'store'), os }), /home is owned by uid 65534/);
  assert.equal(existsSync(marker), false);
});

test('attack: a socket directory a user can write (symlink race on chown/chmod): the helper refuses to start', async () => {
  const root = tempRoot();
  const socketDir = join(root, 'run');
  mkdirSync(socketDir);
  chownSync(socketDir, NOBODY, NOBODY);
  await assert.rejects(startOn(root), /^Error: the socket directory .*run is not safe for a root service: .*run is owned by uid 65534, not root$/);
  chownSync(socketDir, 0, 0);
  chmodSync(socketDir, 0o1777); // sticky, but the socket's own directory must not be shared at all
  await assert.rejects(startOn(root), /run is writable by group or others \(mode 1777\)/);
  // A root-owned sticky directory such as /tmp is a safe parent.
  chmodSync(root, 0o1777);
  chmodSync(socketDir, 0o755);
  const helper = await startOn(root);
  assert.ok(helper);
});

test('attack: a journal in a safe store that runs anything but the OS layer\'s own undo commands is refused whole and set aside', async () => {
  const root = tempRoot();
  const store = join(root, 'store');
  const dir = journalDirOf(store);
  const marker = join(root, 'ran-as-root');
  const os = createOsConfigurator({ platform: 'linux', journalDir: dir, logger: silentLogger, runner: async (file, args) => {
    // A runner that would carry out the planted step: the refusal must come before it.
    if (file === 'sh' || args.includes('exec')) writeFileSync(marker, 'ran');
    return { code: 0, stdout: '', stderr: '' };
  } });
  plantJournal(dir, marker);
  const journal = await Journal.create(dir, 'wg1');
  await journal.finish(await journal.begin('add address', [{ kind: 'run', command: { file: 'ip', args: ['netns', 'exec', 'x', 'sh', '-c', `touch ${marker}`] } }]), 'done');
  await journal.close();
  const other = await Journal.create(dir, 'wg2');
  await other.finish(await other.begin('write DNS', [{ kind: 'restore-file', path: join(root, 'passwd'), originalBase64: Buffer.from('root::0:0::/:/bin/sh\n').toString('base64') }]), 'done');
  await other.close();
  const helper = await startOn(root, { os });
  assert.equal(existsSync(marker), false);
  assert.equal(existsSync(join(root, 'passwd')), false);
  assert.equal(helper.recovered.undone.length, 0);
  assert.equal(helper.recovered.failures.length, 3);
  assert.match(helper.recovered.failures.map((f) => f.error).join('\n'), /running 'sh', not a command/);
  assert.match(helper.recovered.failures.map((f) => f.error).join('\n'), /running 'ip' with arguments/);
  assert.match(helper.recovered.failures.map((f) => f.error).join('\n'), /restoring .*passwd, a file the helper does not edit/);
  assert.equal(readdirSync(dir).filter((name) => name.endsWith(REFUSED_JOURNAL_SUFFIX)).length, 3);

  // A journal file that another user owns (or may write) is refused before it is read.
  await helper.stop();
  helpers.splice(helpers.indexOf(helper), 1);
  for (const name of readdirSync(dir)) rmSync(join(dir, name));
  plantJournal(dir, marker);
  const planted = join(dir, readdirSync(dir)[0]!);
  writeFileSync(planted, readFileSync(planted, 'utf8').replace('"sh"', '"ip"').replace(/"args":\[[^\]]*\]/, '"args":["link","del","dev","wg0"]'));
  chownSync(planted, NOBODY, NOBODY);
  const again = await startOn(root, { os });
  assert.match(again.recovered.failures[0]?.error ?? '', /owned by uid 65534, not root/);
});
