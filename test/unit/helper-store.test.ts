import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StoreError, TunnelStore } from '../../engine/helper/store.js';
import { silentLogger } from '../../engine/logger.js';

/** A hash of every name, mode and byte in the store directory. */
export function hashDir(dir: string): string {
  const hash = createHash('sha256');
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    const stat = statSync(path);
    hash.update(`${entry}\0${stat.mode}\0`);
    if (stat.isFile()) hash.update(readFileSync(path));
  }
  return hash.digest('hex');
}

function tempStore(): { dir: string; cleanup(): void } {
  const parent = mkdtempSync(join(tmpdir(), 'wirelane-store-'));
  return { dir: join(parent, 'store'), cleanup: () => rmSync(parent, { recursive: true, force: true }) };
}

test('the store is 0700 and each tunnel file 0600', () => {
  const t = tempStore();
  try {
    const store = TunnelStore.open(t.dir, silentLogger);
    store.create('office', 'text');
    assert.equal(statSync(t.dir).mode & 0o777, 0o700);
    assert.equal(statSync(join(t.dir, 'office.conf')).mode & 0o777, 0o600);
    assert.deepEqual(store.list(), ['office']);
    assert.equal(store.read('office'), 'text');
  } finally {
    t.cleanup();
  }
});

test('create refuses to overwrite; rename refuses to replace; both leave the store unchanged', () => {
  const t = tempStore();
  try {
    const store = TunnelStore.open(t.dir, silentLogger);
    store.create('a', 'A');
    store.create('b', 'B');
    const before = hashDir(t.dir);
    assert.throws(() => store.create('a', 'other'), (e: unknown) => e instanceof StoreError && e.refusal === 'already_exists');
    assert.throws(() => store.rename('a', 'b'), (e: unknown) => e instanceof StoreError && e.refusal === 'already_exists');
    assert.throws(() => store.rename('zz', 'c'), (e: unknown) => e instanceof StoreError && e.refusal === 'not_found');
    assert.throws(() => store.replace('zz', 'c'), (e: unknown) => e instanceof StoreError && e.refusal === 'not_found');
    assert.equal(hashDir(t.dir), before);
    store.rename('a', 'c');
    assert.deepEqual(store.list(), ['b', 'c']);
    assert.equal(store.read('c'), 'A');
  } finally {
    t.cleanup();
  }
});

test('names that could leave the directory are refused before any path is built', () => {
  const t = tempStore();
  try {
    const store = TunnelStore.open(t.dir, silentLogger);
    const before = hashDir(t.dir);
    for (const name of ['../x', '/etc/passwd', 'a/b', '..', '.', '', 'x'.repeat(16), 'nul\0']) {
      assert.throws(() => store.create(name, 'x'), (e: unknown) => e instanceof StoreError && e.refusal === 'invalid_name', name);
      assert.throws(() => store.read(name), (e: unknown) => e instanceof StoreError && e.refusal === 'invalid_name', name);
    }
    assert.equal(hashDir(t.dir), before);
    assert.deepEqual(readdirSync(join(t.dir, '..')), ['store']);
  } finally {
    t.cleanup();
  }
});

test('a failure mid-import or mid-update leaves the store exactly as before', () => {
  const t = tempStore();
  try {
    let fail = false;
    const store = TunnelStore.open(t.dir, silentLogger, {
      beforeCommit() {
        if (fail) throw new Error('disk full (simulated)');
      },
    });
    store.create('office', 'original');
    const before = hashDir(t.dir);
    fail = true;
    assert.throws(() => store.create('home', 'new'), /disk full/);
    assert.throws(() => store.replace('office', 'changed'), /disk full/);
    assert.equal(hashDir(t.dir), before);
    assert.equal(store.read('office'), 'original');
  } finally {
    t.cleanup();
  }
});

test('temp files left by a crash are removed at open and never listed', () => {
  const t = tempStore();
  try {
    TunnelStore.open(t.dir, silentLogger).create('office', 'x');
    writeFileSync(join(t.dir, '.home.conf.tmp-abcdef'), 'half');
    const store = TunnelStore.open(t.dir, silentLogger);
    assert.deepEqual(readdirSync(t.dir).sort(), ['office.conf']);
    assert.deepEqual(store.list(), ['office']);
  } finally {
    t.cleanup();
  }
});

test('settings.json of older helpers: its allowScripts switch is only noticed (to warn), never a way to run scripts', () => {
  const t = tempStore();
  try {
    const store = TunnelStore.open(t.dir, silentLogger);
    assert.equal(store.hasLegacyScriptsSwitch(), false);
    const path = join(t.dir, 'settings.json');
    writeFileSync(path, '{"allowScripts": true}', { mode: 0o600 });
    assert.equal(store.hasLegacyScriptsSwitch(), true);
    writeFileSync(path, '{"allowScripts": "yes"}');
    assert.equal(store.hasLegacyScriptsSwitch(), false);
    writeFileSync(path, 'not json');
    assert.equal(store.hasLegacyScriptsSwitch(), false);
    assert.deepEqual(store.list(), []);
  } finally {
    t.cleanup();
  }
});

test('a scripts approval is kept in the tunnel\'s metadata, moves with a rename, and a garbled one reads as none', () => {
  const t = tempStore();
  try {
    const store = TunnelStore.open(t.dir, silentLogger);
    store.create('office', 'x');
    const approval = { sha256: 'a'.repeat(64), by: 0, at: 1234 };
    store.updateMeta('office', { scriptsApproval: approval });
    assert.deepEqual(store.meta('office').scriptsApproval, approval);
    store.updateMeta('office', { killSwitch: true });
    assert.deepEqual(store.meta('office').scriptsApproval, approval, 'other changes keep it');
    store.rename('office', 'home');
    assert.deepEqual(store.meta('home').scriptsApproval, approval);
    store.updateMeta('home', { scriptsApproval: undefined });
    assert.equal(store.meta('home').scriptsApproval, undefined);
    writeFileSync(join(t.dir, 'home.json'), JSON.stringify({ on: true, scriptsApproval: { sha256: 'not hex', by: 0, at: 1 } }));
    assert.equal(store.meta('home').scriptsApproval, undefined);
    assert.equal(store.meta('home').on, true, 'the rest of the metadata still reads');
  } finally {
    t.cleanup();
  }
});
