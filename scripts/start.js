#!/usr/bin/env node
// `npm start` (after `npm run build`): starts Electron on dist/main/index.js.
//
// `npm ci` never downloads Electron's binary (package.json "allowScripts" denies its postinstall,
// so installs work offline). So when the binary is missing this first tries Electron's own
// installer, which works on a machine with internet access. Where that fails too (offline, as in
// CI), or with --browser, it runs the app in a browser instead: the same main-process core served
// on 127.0.0.1 to Debian's chromium in app mode (dist/main/browser-mode.js).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const args = process.argv.slice(2);

for (const built of [join('dist', 'main', 'index.js'), join('renderer', 'dist', 'index.html')]) {
  if (!existsSync(join(root, built))) {
    console.error(`${built} is missing: run \`npm run build\` first (npm start does it for you).`);
    process.exit(1);
  }
}

function electronDir() {
  try {
    return dirname(require.resolve('electron/package.json'));
  } catch {
    return null;
  }
}

/** The Electron binary, if installed (or pointed to by ELECTRON_OVERRIDE_DIST_PATH). */
function findElectron() {
  if (process.env.ELECTRON_OVERRIDE_DIST_PATH) {
    const candidate = join(process.env.ELECTRON_OVERRIDE_DIST_PATH, process.platform === 'win32' ? 'electron.exe' : 'electron');
    if (existsSync(candidate)) return candidate;
  }
  const dir = electronDir();
  if (!dir) return null;
  const pathFile = join(dir, 'path.txt');
  if (!existsSync(pathFile)) return null;
  const candidate = join(dir, 'dist', readFileSync(pathFile, 'utf8').trim());
  return existsSync(candidate) ? candidate : null;
}

/** Runs Electron's own installer (download, checksum, unpack); true when a binary is there after. */
function installElectron() {
  const dir = electronDir();
  if (!dir || !existsSync(join(dir, 'install.js'))) return false;
  console.log('Electron\'s binary is not installed; fetching it (node node_modules/electron/install.js)…');
  const env = { ...process.env };
  delete env.ELECTRON_SKIP_BINARY_DOWNLOAD;
  const result = spawnSync(process.execPath, [join(dir, 'install.js')], { cwd: dir, env, stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8', timeout: 10 * 60_000 });
  if (result.status === 0 && findElectron()) return true;
  const reason = (result.stderr ?? '').split('\n').find((line) => /error|ENOTFOUND|EAI_AGAIN|ECONN|ETIMEDOUT/i.test(line)) ?? `exit status ${result.status ?? result.signal}`;
  console.log(`Could not fetch Electron (${reason.trim()}).`);
  return false;
}

const forceBrowser = args.includes('--browser') || process.env.WIRELANE_BROWSER === '1';
const electronPath = forceBrowser ? null : findElectron() ?? (installElectron() ? findElectron() : null);

if (electronPath) {
  const result = spawnSync(electronPath, [root, ...args], { cwd: root, stdio: 'inherit' });
  process.exit(result.status ?? 1);
} else {
  if (!forceBrowser) {
    console.log('Starting Wirelane in a browser instead (the same app without Electron\'s tray and dialogs).');
    console.log('For the desktop app, run npm start again on a machine that can download Electron, or set');
    console.log('ELECTRON_OVERRIDE_DIST_PATH to an unpacked Electron of the version in node_modules/electron.');
  }
  const { runBrowserMode } = await import(pathToFileURL(join(root, 'dist', 'main', 'browser-mode.js')).href);
  await runBrowserMode().catch((error) => {
    console.error(`wirelane: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
