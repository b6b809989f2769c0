#!/usr/bin/env node
// Runs every test suite of the project: the renderer's component tests (vitest, happy-dom),
// then, from the compiled tree (dist/test), unit and fuzz tests and the interop and end-to-end
// tests, which need root and network namespaces and skip themselves with a reason where they
// cannot run. One `node --test` run, one file at a time, so the namespace tests never compete
// for the two cores with the rest. It prints each runner's own summary and, last, a plain
// "N passed, N failed" line totalling both.
//
// With CI=true a skipped test is a failure: CI runs as root with every tool installed (.ci/run),
// so a test that skips there means a missing install step, not a platform that cannot run it.
// The skipped tests are listed by name with their reason either way.
//
// Usage: node scripts/run-tests.js [renderer|unit|fuzz|interop|e2e ...] [--long]   (default: all)
//   --long  the fuzz tests at ten times their CI size (WIRELANE_FUZZ_SCALE=10): `npm run fuzz -- --long`
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const suiteArgs = args.filter((arg) => !arg.startsWith('--'));
const suites = suiteArgs.length ? suiteArgs : ['renderer', 'unit', 'fuzz', 'interop', 'e2e'];
if (args.includes('--long')) process.env['WIRELANE_FUZZ_SCALE'] ??= '10';
const unknownFlags = args.filter((arg) => arg.startsWith('--') && arg !== '--long');
if (unknownFlags.length > 0) {
  console.error(`unknown option ${unknownFlags.join(' ')} (known: --long)`);
  process.exit(2);
}

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

const scratch = mkdtempSync(join(tmpdir(), 'wirelane-tests-'));
let passed = 0;
let failed = 0;
let skipped = 0;
/** "file > test # reason" for every skipped test, for the closing list. */
const skippedNames = [];
const inCi = process.env['CI'] === 'true' || process.env['CI'] === '1';

// The renderer's component tests are .tsx and run in vitest, not in node's runner.
if (suites.includes('renderer')) {
  const report = join(scratch, 'vitest.json');
  const vitest = spawnSync(
    process.execPath,
    [join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', '--config', 'renderer/vitest.config.ts',
      '--reporter=default', '--reporter=json', `--outputFile.json=${report}`],
    { stdio: 'inherit', cwd: root },
  );
  if (existsSync(report)) {
    const totals = JSON.parse(readFileSync(report, 'utf8'));
    passed += totals.numPassedTests;
    failed += totals.numFailedTests;
    skipped += totals.numPendingTests + totals.numTodoTests;
    for (const file of totals.testResults ?? []) {
      for (const assertion of file.assertionResults ?? []) {
        if (assertion.status === 'pending' || assertion.status === 'skipped' || assertion.status === 'todo') {
          skippedNames.push(`${file.name} > ${assertion.fullName}`);
        }
      }
    }
  }
  if (vitest.status !== 0 && failed === 0) failed = 1;
}

const files = suites.flatMap((suite) => testFiles(join(root, 'dist', 'test', suite)));
if (files.length === 0 && suites.some((suite) => suite !== 'renderer')) {
  console.error('no compiled tests found under dist/test: run `npm run build` first');
  process.exit(1);
}

const tapFile = join(scratch, 'results.tap');
const result = files.length === 0 ? { status: 0 } : spawnSync(
  process.execPath,
  [
    '--test',
    '--test-concurrency=1',
    `--test-timeout=${args.includes('--long') ? 3 * 3600_000 : 900_000}`,
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    '--test-reporter=tap',
    `--test-reporter-destination=${tapFile}`,
    ...files,
  ],
  { stdio: 'inherit', cwd: root },
);

if (existsSync(tapFile)) {
  const tap = readFileSync(tapFile, 'utf8');
  // The last summary block of the TAP stream holds the totals of the whole run.
  const count = (name) => {
    const all = [...tap.matchAll(new RegExp(`^# ${name} (\\d+)$`, 'gm'))];
    return all.length ? Number(all[all.length - 1][1]) : 0;
  };
  passed += count('pass');
  failed += count('fail') + count('cancelled');
  skipped += count('skipped') + count('todo');
  // TAP marks a skipped test "ok N - name # SKIP reason" (and a todo "# TODO").
  for (const match of tap.matchAll(/^\s*ok \d+ - (.*?) # (SKIP|TODO)\b\s*(.*)$/gm)) {
    skippedNames.push(`${match[1]}${match[3] ? ` (${match[3]})` : ''}`);
  }
}
rmSync(scratch, { recursive: true, force: true });
if (files.length > 0 && result.status !== 0 && failed === 0) failed = 1; // the runner itself failed
if (skippedNames.length > 0) {
  console.log(`skipped${inCi ? ' (a failure with CI=true: install what the test needs in .ci/run)' : ''}:`);
  for (const name of skippedNames) console.log(`  - ${name}`);
}
const skipsFail = inCi && skipped > 0;
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped${skipsFail ? ' (CI=true: skips count as failures)' : ''}`);
process.exit(failed === 0 && !skipsFail ? 0 : 1);
