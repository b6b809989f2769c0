/**
 * The compiled main/index.ts booted as on macOS (process.platform played, the stand-in for
 * Electron), started at login with start hidden: template tray icons, the menu on click, login
 * items with openAsHidden, the app menu first, and no window at login.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { bootMain } from '../support/boot-main.js';
import { waitFor } from '../support/netns.js';
import { repoPath } from '../support/paths.js';

const work = mkdtempSync(join(tmpdir(), 'am-boot-darwin-'));
// No socket folder: the helper is not installed, as on a first run.
mkdirSync(join(work, 'userData'));
writeFileSync(join(work, 'userData', 'app-settings.json'), JSON.stringify({ launchAtLogin: true, startHidden: true, theme: 'light' }));
const standIn = await bootMain({
  socketPath: join(work, 'run', 'helper.sock'),
  userData: join(work, 'userData'),
  configHome: join(work, 'config'),
  packaged: true,
  platform: 'darwin',
  loginItem: { openAtLogin: true, wasOpenedAtLogin: true },
});

after(() => {
  standIn.app.quit();
  rmSync(work, { recursive: true, force: true });
});

test('macOS, started at login with start hidden: the tray only, template icons, the menu on click', async () => {
  const tray = standIn.trays[0]!;
  await waitFor('the helper-down icon', () => tray.image.path?.endsWith('tray-helper-downTemplate.png') === true, 10_000, 20);
  assert.equal(tray.image.isTemplateImage(), true);
  assert.equal(standIn.windows.length, 0, 'no window at a hidden login start');
  tray.emit('click');
  assert.equal(standIn.windows.length, 0, 'a click opens the menu on macOS, not the window');
  assert.equal(standIn.applicationMenu?.items[0]?.label, 'Wirelane');
  const { nativeTheme } = await import('../support/electron-stand-in.js');
  assert.equal(nativeTheme.themeSource, 'light');
  // No helper installed (no socket folder): the packaged app offers to install it.
  await waitFor('the install offer', () => standIn.calls.some((c) => c.what === 'dialog.showMessageBox'), 5000, 20);
});

test('macOS: start hidden off goes to the login item as openAsHidden false; the window opens from "Manage tunnels…"', async () => {
  const item = standIn.itemsOf(standIn.trays[0]!.contextMenu).find((i) => i.label === 'Manage tunnels…');
  item?.click?.();
  await waitFor('the window', () => standIn.windows.length === 1, 5000, 20);
  const window = standIn.windows[0]!;
  const ours = { sender: { id: window.webContents.id }, senderFrame: { url: pathToFileURL(repoPath('renderer', 'dist', 'index.html')).href, parent: null } };
  const result = await standIn.ipcHandlers.get('wirelane:setAppSettings')!(ours, { startHidden: false });
  assert.deepEqual(result, { ok: true, value: { launchAtLogin: true, startHidden: false, theme: 'light' } });
  assert.deepEqual(standIn.app.loginItemCalls, [{ openAtLogin: true, openAsHidden: false }]);
  assert.equal(window.options['autoHideMenuBar'], false);
});
