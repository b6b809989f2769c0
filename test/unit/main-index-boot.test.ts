/**
 * The real main/index.ts, compiled, booted under Node with the recording Electron stand-in, with
 * no helper running: what a person sees before the service is up. (test/interop/main-boot.test.ts
 * boots it against a real helper and a wireguard-go server.)
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { bootMain } from '../support/boot-main.js';
import { nativeTheme, session } from '../support/electron-stand-in.js';
import { waitFor } from '../support/netns.js';
import { repoPath } from '../support/paths.js';

const work = mkdtempSync(join(tmpdir(), 'am-boot-'));
mkdirSync(join(work, 'run'));
const standIn = await bootMain({
  socketPath: join(work, 'run', 'helper.sock'),
  userData: join(work, 'userData'),
  configHome: join(work, 'config'),
  packaged: true,
});
const pageUrl = pathToFileURL(repoPath('renderer', 'dist', 'index.html')).href;

after(() => {
  standIn.app.quit();
  rmSync(work, { recursive: true, force: true });
});

test('no helper: the tray shows the helper-down icon and says so; the menu still imports and quits', async () => {
  const tray = standIn.trays[0]!;
  await waitFor('the helper-down icon', () => tray.image.path?.endsWith('tray-helper-down.png') === true, 10_000, 20);
  assert.ok(existsSync(tray.image.path!), tray.image.path!);
  assert.equal(tray.tooltip, 'Wirelane: Wirelane service not running');
  const labels = standIn.itemsOf(tray.contextMenu).map((i) => i.label ?? `(${i.type})`);
  assert.deepEqual(labels, ['Wirelane service not running', '(separator)', 'Import tunnel from file…', 'Manage tunnels…', '(separator)', 'Launch at login', 'Quit Wirelane']);
});

test('the window: secure preferences, our preload and page, no developer tools, the CSP on every response', async () => {
  await waitFor('the window', () => standIn.windows.length === 1 && standIn.windows[0]!.visible, 10_000, 20);
  const window = standIn.windows[0]!;
  const prefs = window.options['webPreferences'] as Record<string, unknown>;
  assert.equal(prefs['contextIsolation'], true);
  assert.equal(prefs['sandbox'], true);
  assert.equal(prefs['nodeIntegration'], false);
  assert.equal(prefs['webviewTag'], false);
  assert.equal(prefs['devTools'], false);
  assert.equal(prefs['preload'], repoPath('dist', 'preload', 'preload.cjs'));
  assert.ok(existsSync(prefs['preload']), 'the preload is built');
  assert.deepEqual(window.loaded, [repoPath('renderer', 'dist', 'index.html')]);
  assert.equal(window.options['autoHideMenuBar'], true);

  const onHeaders = session.defaultSession;
  let headers: Record<string, string[]> | undefined;
  onHeaders.headersReceived!({ url: pageUrl, responseHeaders: { 'Content-Type': ['text/html'] } }, (response) => (headers = response.responseHeaders));
  assert.match(headers?.['Content-Security-Policy']?.[0] ?? '', /^default-src 'none'; script-src 'self'/);
  const cancelled = (url: string) => {
    let cancel: boolean | undefined;
    onHeaders.beforeRequest!({ url }, (response) => (cancel = response.cancel));
    return cancel;
  };
  assert.equal(cancelled(pageUrl), false);
  assert.equal(cancelled('https://example.com/tracker.js'), true);
  assert.equal(cancelled('devtools://devtools/bundled/inspector.html'), true);
  let granted: boolean | undefined;
  onHeaders.permissionRequestHandler!({}, 'media', (answer) => (granted = answer));
  assert.equal(granted, false);
  // Navigation and new windows are refused.
  assert.deepEqual(window.webContents.windowOpenHandler?.({ url: 'https://example.com' }), { action: 'deny' });
  let prevented = false;
  window.webContents.emit('will-navigate', { preventDefault: () => (prevented = true) }, 'https://example.com');
  assert.equal(prevented, true);
});

test('the production application menu has no developer tools or reload', () => {
  const roles = standIn.itemsOf(standIn.applicationMenu).map((i) => i.role).filter(Boolean);
  assert.ok(roles.includes('copy') && roles.includes('paste') && roles.includes('quit'));
  for (const role of ['toggleDevTools', 'reload', 'forceReload']) assert.ok(!roles.includes(role), role);
});

test('IPC: our window is answered, a foreign sender is refused', async () => {
  const window = standIn.windows[0]!;
  const invoke = standIn.ipcHandlers.get('wirelane:getSnapshot')!;
  const ours = { sender: { id: window.webContents.id }, senderFrame: { url: pageUrl, parent: null } };
  const snapshot = (await invoke(ours)) as { ok: boolean; value: { helper: { state: string } } };
  assert.equal(snapshot.ok, true);
  assert.equal(snapshot.value.helper.state, 'not_running');
  const foreign = { sender: { id: window.webContents.id + 100 }, senderFrame: { url: pageUrl, parent: null } };
  assert.deepEqual(await invoke(foreign), { ok: false, error: { code: 'forbidden', message: 'only the Wirelane window may call this' } });
});

test('app settings over IPC: launch at login writes the autostart entry, theme reaches nativeTheme, the tray follows', async () => {
  const window = standIn.windows[0]!;
  const ours = { sender: { id: window.webContents.id }, senderFrame: { url: pageUrl, parent: null } };
  const set = standIn.ipcHandlers.get('wirelane:setAppSettings')!;
  const result = (await set(ours, { launchAtLogin: true, theme: 'dark' })) as { ok: boolean; value: unknown };
  assert.deepEqual(result, { ok: true, value: { launchAtLogin: true, startHidden: true, theme: 'dark' } });
  assert.equal(nativeTheme.themeSource, 'dark');
  const entry = readFileSync(join(work, 'config', 'autostart', 'wirelane.desktop'), 'utf8');
  assert.match(entry, new RegExp(`^Exec=${process.execPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} --hidden$`, 'm'));
  assert.deepEqual(JSON.parse(readFileSync(join(work, 'userData', 'app-settings.json'), 'utf8')), { launchAtLogin: true, startHidden: true, theme: 'dark' });
  const launch = standIn.itemsOf(standIn.trays[0]!.contextMenu).find((i) => i.label === 'Launch at login');
  assert.equal(launch?.checked, true);
  assert.ok(window.webContents.sent.some((s) => s.channel === 'wirelane:onAppSettings'), 'the window hears of the change');
  // Off from the tray: the entry goes.
  launch?.click?.();
  await waitFor('the autostart entry to go', () => !existsSync(join(work, 'config', 'autostart', 'wirelane.desktop')), 5000, 20);
});

test('a left click on the tray icon opens the window again after it was closed', async () => {
  standIn.windows[0]!.close();
  standIn.trays[0]!.emit('click');
  await waitFor('a new window', () => standIn.windows.length === 2 && standIn.windows[1]!.visible, 5000, 20);
});

test('a second start shows the window; a second start by the login entry (--hidden) does not', async () => {
  const open = () => standIn.windows.filter((w) => !w.destroyed);
  for (const w of open()) w.close();
  standIn.app.emit('second-instance', {}, ['/opt/Wirelane/wirelane', '--hidden'], '/');
  // showWindow creates its BrowserWindow synchronously, so had it been called it would be here.
  assert.equal(open().length, 0);
  standIn.app.emit('second-instance', {}, ['/opt/Wirelane/wirelane'], '/');
  await waitFor('the window', () => open().length === 1 && open()[0]!.visible, 5000, 20);
  assert.equal(open().length, 1);
});
