#!/usr/bin/env node
// Runs every test suite of the project from the compiled tree (dist/test): unit and fuzz tests,
// then the interop and end-to-end tests, which need root and network namespaces and skip
// themselves with a reason where they cannot run. One `node --test` run, one file at a time,
// so the namespace tests never compete for the two cores with the rest. It prints node's own
// summary and, last, a plain "N passed, N failed" line.
//
// Usage: node scripts/run-tests.js [unit|fuzz|interop|e2e ...]   (default: all)
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const suites = process.argv.slice(2).length ? process.argv.slice(2) : ['unit', 'fuzz', 'interop', 'e2e'];

function testFiles(dir) {
  if (!existsSync(dir)) return [];
  const found = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...testFiles(path));
    else if (entry.name.endsWith('.test.js')) found.push(path);
  }
  return found.sort();
}

const files = suites.flatMap((suite) => testFiles(join(root, 'dist', 'test', suite)));
if (files.length === 0) {
  console.error('no compiled tests found under dist/test: run `npm run build` first');
  process.exit(1);
}

const scratch = mkdtempSync(join(tmpdir(), 'wirelane-tests-'));
const tapFile = join(scratch, 'results.tap');
const result = spawnSync(
  process.execPath,
  [
    '--test',
    '--test-concurrency=1',
    '--test-timeout=900000',
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    '--test-reporter=tap',
    `--test-reporter-destination=${tapFile}`,
    ...files,
  ],
  { stdio: 'inherit', cwd: root },
);

let passed = 0;
let failed = 0;
let skipped = 0;
if (existsSync(tapFile)) {
  const tap = readFileSync(tapFile, 'utf8');
  // The last summary block of the TAP stream holds the totals of the whole run.
  const count = (name) => {
    const all = [...tap.matchAll(new RegExp(`^# ${name} (\\d+)$`, 'gm'))];
    return all.length ? Number(all[all.length - 1][1]) : 0;
  };
  passed = count('pass');
  failed = count('fail') + count('cancelled');
  skipped = count('skipped');
}
rmSync(scratch, { recursive: true, force: true });
if (result.status !== 0 && failed === 0) failed = 1; // the runner itself failed
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed === 0 && result.status === 0 ? 0 : 1);
