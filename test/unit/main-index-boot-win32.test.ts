/**
 * The compiled main/index.ts booted as on Windows (process.platform played, the stand-in for
 * Electron): colour tray icons, a left click opens the window, and launch at login goes to the
 * login items with the executable and --hidden.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { bootMain } from '../support/boot-main.js';
import { waitFor } from '../support/netns.js';
import { repoPath } from '../support/paths.js';

const work = mkdtempSync(join(tmpdir(), 'am-boot-win32-'));
mkdirSync(join(work, 'run'));
const standIn = await bootMain({
  socketPath: join(work, 'run', 'helper.sock'),
  userData: join(work, 'userData'),
  configHome: join(work, 'config'),
  packaged: true,
  platform: 'win32',
  argv: ['--hidden'],
});

after(() => {
  standIn.app.quit();
  rmSync(work, { recursive: true, force: true });
});

test('Windows, started with --hidden: no window; colour icons; a left click opens the window', async () => {
  const tray = standIn.trays[0]!;
  await waitFor('the helper-down icon', () => tray.image.path?.endsWith('tray-helper-down.png') === true, 10_000, 20);
  assert.equal(tray.image.isTemplateImage(), false);
  assert.equal(standIn.windows.length, 0);
  tray.emit('click');
  await waitFor('the window', () => standIn.windows.length === 1 && standIn.windows[0]!.visible, 5000, 20);
});

test('Windows: launch at login from the tray is a login item with the executable and --hidden; off removes it', async () => {
  const launch = () => standIn.itemsOf(standIn.trays[0]!.contextMenu).find((i) => i.label === 'Launch at login');
  launch()?.click?.();
  await waitFor('launch at login to be on', () => launch()?.checked === true, 5000, 20);
  launch()?.click?.();
  await waitFor('launch at login to be off', () => launch()?.checked === false, 5000, 20);
  assert.deepEqual(standIn.app.loginItemCalls, [
    { openAtLogin: true, path: process.execPath, args: ['--hidden'] },
    { openAtLogin: false, path: process.execPath, args: [] },
  ]);
  const window = standIn.windows[0]!;
  const ours = { sender: { id: window.webContents.id }, senderFrame: { url: pathToFileURL(repoPath('renderer', 'dist', 'index.html')).href, parent: null } };
  assert.deepEqual(await standIn.ipcHandlers.get('wirelane:getAppSettings')!(ours), { ok: true, value: { launchAtLogin: false, startHidden: true, theme: 'system' } });
});
