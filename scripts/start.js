#!/usr/bin/env node
// `npm start`: builds the renderer and the preload, then starts Electron on dist/main/index.js.
// Electron's binary is downloaded by its own install step; where that was skipped (as on
// machines without internet access, ELECTRON_SKIP_BINARY_DOWNLOAD=1) this says what to do
// instead of failing with a stack trace.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

function run(command, args) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

if (!existsSync(join(root, 'dist', 'main', 'index.js'))) {
  console.error('dist/main/index.js is missing: run `npm run build` first (npm start does it for you).');
  process.exit(1);
}
const vite = join(root, 'node_modules', 'vite', 'bin', 'vite.js');
run(process.execPath, [vite, 'build', '--config', 'renderer/vite.config.ts', '--logLevel', 'warn']);
run(process.execPath, [vite, 'build', '--config', 'main/preload.vite.config.ts', '--logLevel', 'warn']);

let electronPath = null;
try {
  const electronDir = dirname(require.resolve('electron/package.json'));
  const pathFile = join(electronDir, 'path.txt');
  if (existsSync(pathFile)) {
    const candidate = join(electronDir, 'dist', readFileSync(pathFile, 'utf8').trim());
    if (existsSync(candidate)) electronPath = candidate;
  }
  if (process.env.ELECTRON_OVERRIDE_DIST_PATH) {
    const candidate = join(process.env.ELECTRON_OVERRIDE_DIST_PATH, process.platform === 'win32' ? 'electron.exe' : 'electron');
    if (existsSync(candidate)) electronPath = candidate;
  }
} catch {
  electronPath = null;
}

if (!electronPath) {
  console.error(`
Wirelane's window needs Electron, and its binary is not installed here.
(npm installed the electron package without downloading its binary, e.g. because
ELECTRON_SKIP_BINARY_DOWNLOAD=1 was set or this machine cannot reach Electron's downloads.)

To run the app, either:
  - on a machine with internet access: unset ELECTRON_SKIP_BINARY_DOWNLOAD and run
      node node_modules/electron/install.js
    then npm start again; or
  - point ELECTRON_OVERRIDE_DIST_PATH at a folder holding an unpacked Electron ${require('electron/package.json').version}
    and run npm start again.

Without Electron you can still use everything else:
  - the renderer is built in renderer/dist; the end-to-end test runs it in Chromium:
      npm test (see test/e2e/app.e2e.test.ts)
  - the command line: engine/bin/wirelane --help`);
  process.exit(1);
}

const result = spawnSync(electronPath, [root, ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' });
process.exit(result.status ?? 1);
