/**
 * The renderer's boundary: it takes its types from one contract file (renderer/src/contract.ts,
 * type-only re-exports of the helper protocol and main's IPC schema) and no runtime code from
 * main/. The only code it shares with the rest of the app is the import reader, which lives in
 * engine/conf/import-bundle.ts (packaged with dist/engine, pure, free of Node).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { repoPath } from '../support/paths.js';

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return /\.(ts|tsx)$/.test(entry.name) ? [path] : [];
  });
}

const importPattern = /^\s*(import|export)\s+(type\s+)?[^'"]*?from\s+'([^']+)'/gm;

test('renderer/src reaches outside renderer/ only through contract.ts (types) and the shared import reader', () => {
  const root = repoPath('renderer', 'src');
  const found: string[] = [];
  for (const file of sources(root)) {
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(importPattern)) {
      const [, , typeOnly, specifier] = match;
      if (!specifier?.startsWith('.')) continue;
      const target = relative(repoPath(), join(file, '..', specifier));
      if (target.startsWith('renderer/')) continue;
      const name = relative(root, file);
      if (name === 'contract.ts' && typeOnly && /^(engine\/helper\/protocol|main\/ipc-schema)\.js$/.test(target)) continue;
      if (target === 'engine/conf/import-bundle.js' && !typeOnly) continue;
      found.push(`${name}: ${typeOnly ? 'import type' : 'import'} ${target}`);
    }
  }
  assert.deepEqual(found, [], 'imports from outside renderer/ other than the contract file and the shared import reader');
});

test('main/ holds no module the renderer needs: the import reader lives in engine/ and is packaged with it', () => {
  const builder = readFileSync(repoPath('electron-builder.yml'), 'utf8');
  assert.match(builder, /^\s*- dist\/engine\/\*\*$/m);
  // main/ keeps no import reader of its own: whichever of its modules reads import files takes it from engine/.
  const mainSources = readdirSync(repoPath('main')).filter((name) => name.endsWith('.ts'));
  assert.ok(!mainSources.includes('import-bundle.ts'), 'main/import-bundle.ts must not come back');
  const readers = mainSources.filter((name) => /import-bundle\.js'/.test(readFileSync(repoPath('main', name), 'utf8')));
  assert.ok(readers.length > 0, 'some main/ module reads import files');
  for (const name of readers) {
    assert.match(readFileSync(repoPath('main', name), 'utf8'), /from '\.\.\/engine\/conf\/import-bundle\.js'/, name);
  }
});
