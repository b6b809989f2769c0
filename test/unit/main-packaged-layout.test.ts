/**
 * electron-builder's --dir target, run offline against a stand-in Electron distribution
 * (electronDist: a folder with an `electron` script where Electron's binary would be), packs the
 * app as a release does. The test then checks the packaged layout holds every path main/index.ts
 * and the helper service expect:
 *   - the executable where the systemd unit and the deb's scripts call it;
 *   - in app.asar: package.json naming dist/main/index.js, the page and everything it links,
 *     the preload, and every module reachable by import from main/index.ts and from the helper,
 *     CLI and engine entries (engine/bin/*), node_modules packages included;
 *   - unpacked beside it (app.asar.unpacked), as the service needs native code outside the
 *     archive: dist/engine, engine/bin, the TUN addon (wirelane_io.node) at the path the engine
 *     looks in, sodium-native's prebuilt addon;
 *   - resources/tray with every icon the tray can show, resources/service with the unit the
 *     deb installs, whose ExecStart names the helper entry inside app.asar.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { repoPath } from '../support/paths.js';
import { TRAY_ICON_NAMES } from '../../scripts/tray-icons.js';

const require = createRequire(import.meta.url);
interface AsarEntry {
  unpacked?: boolean;
  files?: Record<string, unknown>;
}
const asar = require('@electron/asar') as {
  listPackage(archive: string, options: { isPack: boolean }): string[];
  statFile(archive: string, filename: string, followLinks?: boolean): AsarEntry;
  extractFile(archive: string, filename: string): Buffer;
};

let work = '';
let appOutDir = '';
let archive = '';
let listed = new Set<string>();
let builderLog = '';

before(() => {
  work = mkdtempSync(join(tmpdir(), 'am-package-'));
  // The stand-in distribution: what electron-builder copies and renames to the app's executable.
  const electronDist = join(work, 'electron-dist');
  mkdirSync(electronDist);
  writeFileSync(join(electronDist, 'electron'), '#!/bin/sh\necho "stand-in for Electron"\n');
  chmodSync(join(electronDist, 'electron'), 0o755);
  const electronVersion = (JSON.parse(readFileSync(repoPath('node_modules', 'electron', 'package.json'), 'utf8')) as { version: string }).version;
  writeFileSync(join(electronDist, 'version'), electronVersion);
  const output = join(work, 'release');
  const result = spawnSync(
    process.execPath,
    [
      repoPath('node_modules', 'electron-builder', 'cli.js'),
      '--linux',
      'dir',
      // In CI electron-builder would otherwise consider publishing.
      '--publish',
      'never',
      `-c.electronDist=${electronDist}`,
      `-c.electronVersion=${electronVersion}`,
      // Rebuilding the addon against Electron's headers needs them downloaded: not offline.
      '-c.npmRebuild=false',
      `-c.directories.output=${output}`,
    ],
    { cwd: repoPath(), encoding: 'utf8', timeout: 240_000, env: { ...process.env, ELECTRON_BUILDER_OFFLINE: 'true' } },
  );
  builderLog = `${result.stdout}\n${result.stderr}`;
  assert.equal(result.status, 0, builderLog);
  const unpackedDir = readdirSync(output).find((name) => /^linux(-\w+)?-unpacked$/.test(name));
  assert.ok(unpackedDir, `no linux-unpacked folder in ${readdirSync(output).join(', ')}`);
  appOutDir = join(output, unpackedDir);
  archive = join(appOutDir, 'resources', 'app.asar');
  listed = new Set(asar.listPackage(archive, { isPack: false }).map((path) => path.replace(/^[/\\]/, '').split('\\').join('/')));
});

after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Whether the packaged app has the file at `path` (inside app.asar), and whether it is unpacked to disk. */
function packaged(path: string): { inArchive: boolean; unpacked: boolean } {
  if (!listed.has(path)) return { inArchive: false, unpacked: false };
  const entry = asar.statFile(archive, path);
  const unpacked = entry.unpacked === true;
  if (unpacked) assert.ok(existsSync(join(`${archive}.unpacked`, path)), `${path} is marked unpacked but not in app.asar.unpacked`);
  return { inArchive: true, unpacked };
}

function readPackaged(path: string): string {
  return asar.extractFile(archive, path).toString('utf8');
}

/** Import specifiers in a module's text: static imports/exports and literal dynamic imports. */
function specifiers(source: string): string[] {
  const found: string[] = [];
  // Statements start a line in tsc's output; a word "import" inside a string does not.
  for (const match of source.matchAll(/^(?:import|export)\s[^;]*?\sfrom\s*['"]([^'"]+)['"]/gm)) found.push(match[1]!);
  for (const match of source.matchAll(/^import\s*['"]([^'"]+)['"]/gm)) found.push(match[1]!);
  for (const match of source.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) found.push(match[1]!);
  return found;
}

/** The package a bare specifier names: 'zod', '@noble/curves/ed25519.js' -> '@noble/curves'. */
function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/** Walks the import graph from `entry` inside the archive; returns what is missing. */
function missingImports(entries: string[]): string[] {
  const missing: string[] = [];
  const seen = new Set<string>();
  const queue = [...entries];
  while (queue.length > 0) {
    const file = queue.shift()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const specifier of specifiers(readPackaged(file))) {
      if (specifier.startsWith('node:') || specifier === 'electron') continue;
      if (specifier.startsWith('.')) {
        const target = posix.normalize(posix.join(posix.dirname(file), specifier));
        if (!listed.has(target)) missing.push(`${target} (imported by ${file})`);
        else if (target.endsWith('.js') || target.endsWith('.mjs')) queue.push(target);
        continue;
      }
      const name = packageOf(specifier);
      if (!listed.has(`node_modules/${name}/package.json`)) missing.push(`node_modules/${name} (imported by ${file})`);
    }
  }
  assert.ok(seen.size > 20, `walked only ${seen.size} modules`);
  return missing;
}

test('the executable is the stand-in Electron renamed to the executableName', () => {
  const executable = join(appOutDir, 'wirelane');
  assert.ok(existsSync(executable));
  assert.ok((statSync(executable).mode & 0o111) !== 0, 'executable');
  assert.match(readFileSync(executable, 'utf8'), /stand-in for Electron/);
});

test('app.asar: package.json names dist/main/index.js, and main/index.ts finds its page and preload where it computes them', () => {
  const manifest = JSON.parse(readPackaged('package.json')) as { main: string; type: string };
  assert.equal(manifest.main, 'dist/main/index.js');
  assert.equal(manifest.type, 'module', 'dist/ is ES modules');
  // main/index.ts: appRoot = dist/main/../.. (the archive's root).
  for (const path of ['dist/main/index.js', 'dist/preload/preload.cjs', 'renderer/dist/index.html']) assert.ok(packaged(path).inArchive, path);
  // Everything the page links: scripts and stylesheets under renderer/dist.
  const page = readPackaged('renderer/dist/index.html');
  const linked = [...page.matchAll(/(?:src|href)="\.?\/?([^"]+)"/g)].map((m) => m[1]!).filter((p) => !p.startsWith('data:') && !p.includes('://'));
  assert.ok(linked.length > 0, 'the page links its bundle');
  for (const path of linked) assert.ok(packaged(posix.join('renderer/dist', path)).inArchive, `renderer/dist/${path}`);
  // No source maps and no TypeScript in the app.
  assert.deepEqual([...listed].filter((path) => path.endsWith('.map') && !path.startsWith('node_modules/')), []);
});

test('every module main/index.ts and the engine entries import is packaged, node_modules included', () => {
  const entries = ['dist/main/index.js', 'engine/bin/wirelane-helper', 'engine/bin/wirelane', 'engine/bin/wirelane-engine'];
  for (const entry of entries) assert.ok(packaged(entry).inArchive, entry);
  assert.deepEqual(missingImports(entries), []);
});

test('the helper service: dist/engine, engine/bin and the TUN addon unpacked, at the path the engine loads it from', () => {
  for (const path of ['engine/bin/wirelane-helper', 'dist/engine/cli/wirelane-helper.js', 'dist/engine/native/addon.js']) {
    assert.deepEqual(packaged(path), { inArchive: true, unpacked: true }, path);
  }
  // engine/native/addon.ts looks in dist/engine/native/../../../engine/native/build/Release.
  const addon = posix.normalize(posix.join('dist/engine/native', '..', '..', '..', 'engine/native/build/Release/wirelane_io.node')).replace(/^\.\.\//, '');
  assert.equal(addon, 'engine/native/build/Release/wirelane_io.node');
  assert.deepEqual(packaged(addon), { inArchive: true, unpacked: true });
  // sodium-native's prebuilt addon for this platform is unpacked too (a .node cannot load from inside an archive).
  const sodium = [...listed].filter((path) => path.startsWith('node_modules/sodium-native/prebuilds/linux-') && path.endsWith('.node'));
  assert.ok(sodium.length > 0, 'sodium-native prebuilds for Linux');
  for (const path of sodium) assert.equal(packaged(path).unpacked, true, path);
});

test('resources: every tray icon the tray can show, and the systemd unit whose ExecStart names the packaged helper entry', () => {
  for (const name of TRAY_ICON_NAMES) {
    for (const suffix of ['', '@2x', 'Template', 'Template@2x']) assert.ok(existsSync(join(appOutDir, 'resources', 'tray', `tray-${name}${suffix}.png`)), `${name}${suffix}`);
  }
  const unit = readFileSync(join(appOutDir, 'resources', 'service', 'wirelane-helper.service'), 'utf8');
  const execStart = /^ExecStart=(\S+) (\S+)/m.exec(unit);
  assert.ok(execStart, 'ExecStart');
  // The deb installs appOutDir as /opt/Wirelane.
  const toPackage = (path: string) => path.replace(/^\/opt\/Wirelane\//, '');
  assert.equal(toPackage(execStart[1]!), 'wirelane');
  assert.ok(existsSync(join(appOutDir, toPackage(execStart[1]!))));
  const helperEntry = toPackage(execStart[2]!);
  assert.match(helperEntry, /^resources\/app\.asar\//);
  assert.ok(packaged(helperEntry.replace(/^resources\/app\.asar\//, '')).inArchive, helperEntry);
  for (const file of ['com.wirelane.helper.plist', 'install-service.ps1']) assert.ok(existsSync(join(appOutDir, 'resources', 'service', file)), file);
  assert.ok(existsSync(dirname(archive)));
});
