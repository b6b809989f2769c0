import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../engine/logger.js';
import { APP_SETTINGS_FILE, AppSettingsStore, DEFAULT_APP_SETTINGS, parseStoredAppSettings, writeFileAtomic } from '../../main/app-settings.js';
import { createDesktopSettings } from '../../main/desktop-settings.js';
import { registerIpcHandlers, type InvokeEventLike, type IpcMainLike } from '../../main/ipc-handlers.js';
import { channelOf, type AppSettings, type AppTheme } from '../../main/ipc-schema.js';
import {
  applyLaunchAtLogin,
  autostartEntry,
  autostartFolder,
  execArgument,
  launchCommand,
  loginItemSettingsFor,
  startsHidden,
  type LoginItemSettingsCall,
} from '../../main/launch-at-login.js';
import { createRelay } from '../../main/relay.js';
import { TunnelStoreView } from '../../main/tunnel-store-view.js';

function scratch(): { dir: string; [Symbol.dispose](): void } {
  const dir = mkdtempSync(join(tmpdir(), 'am-settings-'));
  return { dir, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}

// --- the file ------------------------------------------------------------------------------

test('a stored file is read field by field; garbled text or wrong fields fall back to the defaults', () => {
  assert.deepEqual(parseStoredAppSettings('{"launchAtLogin":true,"startHidden":false,"theme":"dark"}'), { launchAtLogin: true, startHidden: false, theme: 'dark' });
  assert.deepEqual(parseStoredAppSettings('not json'), DEFAULT_APP_SETTINGS);
  assert.deepEqual(parseStoredAppSettings('[1,2]'), DEFAULT_APP_SETTINGS);
  assert.deepEqual(parseStoredAppSettings('{"theme":"purple","launchAtLogin":"yes","startHidden":false,"extra":1}'), { ...DEFAULT_APP_SETTINGS, startHidden: false });
});

test('the defaults: no launch at login, start hidden, system theme', () => {
  assert.deepEqual(DEFAULT_APP_SETTINGS, { launchAtLogin: false, startHidden: true, theme: 'system' });
});

test('an atomic write replaces the file whole, 0600, and leaves no temporary file behind', async () => {
  using tmp = scratch();
  const file = join(tmp.dir, 'nested', 'app-settings.json');
  await writeFileAtomic(file, 'first\n');
  await writeFileAtomic(file, 'second\n');
  assert.equal(readFileSync(file, 'utf8'), 'second\n');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(join(tmp.dir, 'nested')), ['app-settings.json']);
});

test('a change is applied, then stored, and listeners hear it; the others stay', async () => {
  using tmp = scratch();
  const file = join(tmp.dir, APP_SETTINGS_FILE);
  const applied: [AppSettings, AppSettings][] = [];
  const store = new AppSettingsStore({ file, logger: silentLogger, apply: async (next, previous) => void applied.push([next, previous]) });
  assert.deepEqual(await store.load(), DEFAULT_APP_SETTINGS);
  const heard: AppSettings[] = [];
  store.onChange((settings) => heard.push(settings));
  const result = await store.change({ theme: 'dark' });
  assert.deepEqual(result, { ok: true, value: { ...DEFAULT_APP_SETTINGS, theme: 'dark' } });
  assert.deepEqual(applied, [[{ ...DEFAULT_APP_SETTINGS, theme: 'dark' }, DEFAULT_APP_SETTINGS]]);
  assert.deepEqual(heard, [{ ...DEFAULT_APP_SETTINGS, theme: 'dark' }]);
  assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { ...DEFAULT_APP_SETTINGS, theme: 'dark' });
  // A new store (the next start) reads it back.
  const again = new AppSettingsStore({ file, logger: silentLogger, apply: async () => {} });
  assert.deepEqual(await again.load(), { ...DEFAULT_APP_SETTINGS, theme: 'dark' });
});

test('a change that cannot be applied is not stored, and what it did is undone', async () => {
  using tmp = scratch();
  const file = join(tmp.dir, APP_SETTINGS_FILE);
  const applied: boolean[] = [];
  const store = new AppSettingsStore({
    file,
    logger: silentLogger,
    apply: async (next) => {
      applied.push(next.launchAtLogin);
      if (next.launchAtLogin) throw new Error('autostart folder is read-only');
    },
  });
  await store.load();
  const result = await store.change({ launchAtLogin: true });
  assert.equal(result.ok, false);
  assert.match(!result.ok ? result.error.message : '', /read-only/);
  assert.deepEqual(applied, [true, false]);
  assert.equal(existsSync(file), false);
  assert.equal(store.get().launchAtLogin, false);
});

test('changes run one at a time, in order', async () => {
  using tmp = scratch();
  const order: string[] = [];
  const store = new AppSettingsStore({
    file: join(tmp.dir, APP_SETTINGS_FILE),
    logger: silentLogger,
    apply: async (next) => {
      order.push(`start ${next.theme}`);
      await new Promise((resolve) => setTimeout(resolve, next.theme === 'dark' ? 30 : 1));
      order.push(`end ${next.theme}`);
    },
  });
  await Promise.all([store.change({ theme: 'dark' }), store.change({ theme: 'light' })]);
  assert.deepEqual(order, ['start dark', 'end dark', 'start light', 'end light']);
  assert.equal(store.get().theme, 'light');
});

// --- launch at login -----------------------------------------------------------------------

test('Linux: the autostart entry, exactly, with --hidden when start hidden is on', () => {
  assert.equal(
    autostartEntry(['/opt/Wirelane/wirelane'], true),
    [
      '[Desktop Entry]',
      'Type=Application',
      'Version=1.0',
      'Name=Wirelane',
      'Comment=WireGuard VPN client',
      'Exec=/opt/Wirelane/wirelane --hidden',
      'Icon=wirelane',
      'Terminal=false',
      'X-GNOME-Autostart-enabled=true',
      '',
    ].join('\n'),
  );
  assert.match(autostartEntry(['/opt/Wirelane/wirelane'], false), /^Exec=\/opt\/Wirelane\/wirelane$/m);
});

test('Linux: Exec arguments are quoted and escaped as the Desktop Entry Specification says', () => {
  assert.equal(execArgument('/home/ann/Apps/Wirelane-0.1.0-x86_64.AppImage'), '/home/ann/Apps/Wirelane-0.1.0-x86_64.AppImage');
  assert.equal(execArgument('/home/ann/My Apps/wirelane'), '"/home/ann/My Apps/wirelane"');
  assert.equal(execArgument('/home/ann/100%/wirelane'), '/home/ann/100%%/wirelane');
  // $ and " escaped for the quoting rule; the backslash doubled again for the string rule.
  assert.equal(execArgument('/tmp/a$b"c'), '"/tmp/a\\\\$b\\\\"c"');
  assert.equal(execArgument('/tmp/back\\slash'), '"/tmp/back\\\\\\\\slash"');
  assert.throws(() => execArgument('/tmp/a\nb'), /line break/);
});

test('Linux: the command is the AppImage when running from one, else the executable (and the app folder in development)', () => {
  assert.deepEqual(launchCommand('/tmp/.mount_Wirexyz/wirelane', { APPIMAGE: '/home/ann/Wirelane.AppImage' }, true, '/x'), ['/home/ann/Wirelane.AppImage']);
  assert.deepEqual(launchCommand('/opt/Wirelane/wirelane', {}, true, '/opt/Wirelane/resources/app.asar'), ['/opt/Wirelane/wirelane']);
  assert.deepEqual(launchCommand('/repo/node_modules/electron/dist/electron', {}, false, '/repo'), ['/repo/node_modules/electron/dist/electron', '/repo']);
});

test('Linux: the autostart folder follows XDG_CONFIG_HOME when it is absolute', () => {
  assert.equal(autostartFolder({}, '/home/ann'), '/home/ann/.config/autostart');
  assert.equal(autostartFolder({ XDG_CONFIG_HOME: '/home/ann/cfg' }, '/home/ann'), '/home/ann/cfg/autostart');
  assert.equal(autostartFolder({ XDG_CONFIG_HOME: 'relative' }, '/home/ann'), '/home/ann/.config/autostart');
});

test('Linux: on writes ~/.config/autostart/wirelane.desktop, start hidden rewrites it, off removes it', async () => {
  using tmp = scratch();
  const autostartDir = join(tmp.dir, '.config', 'autostart');
  const calls: LoginItemSettingsCall[] = [];
  const deps = { platform: 'linux' as const, command: ['/opt/Wirelane/wirelane'], autostartDir, setLoginItemSettings: (call: LoginItemSettingsCall) => void calls.push(call) };
  const file = join(autostartDir, 'wirelane.desktop');
  await applyLaunchAtLogin({ launchAtLogin: true, startHidden: false }, deps);
  assert.equal(readFileSync(file, 'utf8'), autostartEntry(['/opt/Wirelane/wirelane'], false));
  await applyLaunchAtLogin({ launchAtLogin: true, startHidden: true }, deps);
  assert.equal(readFileSync(file, 'utf8'), autostartEntry(['/opt/Wirelane/wirelane'], true));
  await applyLaunchAtLogin({ launchAtLogin: false, startHidden: true }, deps);
  assert.equal(existsSync(file), false);
  await applyLaunchAtLogin({ launchAtLogin: false, startHidden: true }, deps); // already off: no error
  assert.deepEqual(calls, [], 'Electron login items are not used on Linux');
});

test('macOS: login items with openAsHidden; Windows: the executable with --hidden among its arguments', async () => {
  assert.deepEqual(loginItemSettingsFor('darwin', { launchAtLogin: true, startHidden: true }, ['/Applications/Wirelane.app/Contents/MacOS/Wirelane']), { openAtLogin: true, openAsHidden: true });
  assert.deepEqual(loginItemSettingsFor('darwin', { launchAtLogin: true, startHidden: false }, ['/x']), { openAtLogin: true, openAsHidden: false });
  assert.deepEqual(loginItemSettingsFor('darwin', { launchAtLogin: false, startHidden: true }, ['/x']), { openAtLogin: false, openAsHidden: false });
  const exe = 'C:\\Program Files\\Wirelane\\Wirelane.exe';
  assert.deepEqual(loginItemSettingsFor('win32', { launchAtLogin: true, startHidden: true }, [exe]), { openAtLogin: true, path: exe, args: ['--hidden'] });
  assert.deepEqual(loginItemSettingsFor('win32', { launchAtLogin: true, startHidden: false }, [exe]), { openAtLogin: true, path: exe, args: [] });
  assert.deepEqual(loginItemSettingsFor('win32', { launchAtLogin: false, startHidden: true }, [exe]), { openAtLogin: false, path: exe, args: [] });

  for (const platform of ['darwin', 'win32'] as const) {
    const calls: LoginItemSettingsCall[] = [];
    await applyLaunchAtLogin({ launchAtLogin: true, startHidden: true }, { platform, command: [exe], autostartDir: '/nonexistent', setLoginItemSettings: (call) => void calls.push(call) });
    assert.deepEqual(calls, [loginItemSettingsFor(platform, { launchAtLogin: true, startHidden: true }, [exe])]);
  }
});

test('starting hidden: --hidden, or a macOS login start with start hidden on; a start by the person opens the window', () => {
  const settings = { ...DEFAULT_APP_SETTINGS, launchAtLogin: true };
  assert.equal(startsHidden({ platform: 'linux', argv: ['/opt/Wirelane/wirelane', '--hidden'], settings }), true);
  assert.equal(startsHidden({ platform: 'linux', argv: ['/opt/Wirelane/wirelane'], settings }), false);
  assert.equal(startsHidden({ platform: 'win32', argv: ['C:\\W\\Wirelane.exe', '--hidden'], settings }), true);
  assert.equal(startsHidden({ platform: 'darwin', argv: ['/A'], settings, loginItem: { wasOpenedAtLogin: true } }), true);
  assert.equal(startsHidden({ platform: 'darwin', argv: ['/A'], settings: { ...settings, startHidden: false }, loginItem: { wasOpenedAtLogin: true } }), false);
  assert.equal(startsHidden({ platform: 'darwin', argv: ['/A'], settings, loginItem: { wasOpenedAsHidden: true } }), true);
  assert.equal(startsHidden({ platform: 'darwin', argv: ['/A'], settings, loginItem: { wasOpenedAtLogin: false } }), false);
});

// --- the desktop store: system state, theme --------------------------------------------------

test('desktop settings: theme applied at load and on change; launch at login written to the autostart folder', async () => {
  using tmp = scratch();
  const themes: AppTheme[] = [];
  const autostartDir = join(tmp.dir, 'autostart');
  const options = {
    configDir: join(tmp.dir, 'config', 'Wirelane'),
    platform: 'linux' as const,
    command: ['/opt/Wirelane/wirelane'],
    autostartDir,
    setLoginItemSettings: () => assert.fail('not on Linux'),
    getLoginItemSettings: () => ({}),
    setThemeSource: (theme: AppTheme) => void themes.push(theme),
    logger: silentLogger,
  };
  const store = await createDesktopSettings(options);
  assert.deepEqual(themes, ['system']);
  assert.deepEqual((await store.change({ theme: 'light', launchAtLogin: true })).ok, true);
  assert.deepEqual(themes, ['system', 'light']);
  assert.match(readFileSync(join(autostartDir, 'wirelane.desktop'), 'utf8'), /^Exec=\/opt\/Wirelane\/wirelane --hidden$/m);
  assert.deepEqual(JSON.parse(readFileSync(join(options.configDir, 'app-settings.json'), 'utf8')), { launchAtLogin: true, startHidden: true, theme: 'light' });
  await store.change({ launchAtLogin: false });
  assert.equal(existsSync(join(autostartDir, 'wirelane.desktop')), false);
});

test('desktop settings: with no file yet, an existing login entry counts as launch at login', async () => {
  using tmp = scratch();
  const autostartDir = join(tmp.dir, 'autostart');
  mkdirSync(autostartDir);
  writeFileSync(join(autostartDir, 'wirelane.desktop'), autostartEntry(['/opt/Wirelane/wirelane'], true));
  const base = { configDir: tmp.dir, command: ['/x'], autostartDir, setLoginItemSettings: () => {}, setThemeSource: () => {}, logger: silentLogger };
  assert.equal((await createDesktopSettings({ ...base, platform: 'linux', getLoginItemSettings: () => ({}) })).get().launchAtLogin, true);
  assert.equal((await createDesktopSettings({ ...base, platform: 'darwin', getLoginItemSettings: () => ({ openAtLogin: true }) })).get().launchAtLogin, true);
  assert.equal((await createDesktopSettings({ ...base, platform: 'win32', getLoginItemSettings: () => ({ openAtLogin: false }) })).get().launchAtLogin, false);
});

// --- over IPC ---------------------------------------------------------------------------------

test('IPC: getAppSettings / setAppSettings reach the store; a bad theme or an unknown field is refused', async () => {
  const PAGE = 'file:///opt/Wirelane/resources/app.asar/renderer/dist/index.html';
  const registered = new Map<string, (event: InvokeEventLike, ...args: unknown[]) => Promise<unknown>>();
  const ipcMain: IpcMainLike = { handle: (channel, listener) => void registered.set(channel, listener), removeHandler: () => {} };
  const view = new TunnelStoreView({ state: 'connecting', socketPath: '/s' }, 'linux');
  const helperCalls: unknown[] = [];
  const client = { request: async (type: string, params: unknown) => (helperCalls.push([type, params]), { ok: true, value: { settings: { logLevel: 'debug' } } }) };
  const relay = createRelay({
    client: client as never,
    view,
    desktop: { pickImportFiles: async () => null, chooseSavePath: async () => null, writeFile: async () => {}, copyText: () => {} },
    requestedDisconnects: new Set(),
  });
  registerIpcHandlers(ipcMain, relay, { webContentsId: () => 1, pageUrl: PAGE }, silentLogger);
  const ours: InvokeEventLike = { sender: { id: 1 }, senderFrame: { url: PAGE, parent: null } };
  const call = (name: string, ...args: unknown[]) => registered.get(channelOf(name as never))!(ours, ...args);
  assert.deepEqual(await call('getAppSettings'), { ok: true, value: DEFAULT_APP_SETTINGS });
  assert.deepEqual(await call('setAppSettings', { theme: 'dark' }), { ok: true, value: { ...DEFAULT_APP_SETTINGS, theme: 'dark' } });
  assert.deepEqual(await call('getAppSettings'), { ok: true, value: { ...DEFAULT_APP_SETTINGS, theme: 'dark' } });
  for (const bad of [{ theme: 'purple' }, { launchAtLogin: 'yes' }, { autoUpdate: true }, null]) {
    const result = (await call('setAppSettings', bad)) as { ok: boolean; error?: { code: string } };
    assert.equal(result.error?.code, 'bad_arguments', JSON.stringify(bad));
  }
  // The log level is the helper's setting: relayed to getSettings / setSettings.
  await call('getHelperSettings');
  await call('setHelperSettings', { logLevel: 'debug' });
  assert.equal(((await call('setHelperSettings', { logLevel: 'loud' })) as { error: { code: string } }).error.code, 'bad_arguments');
  assert.deepEqual(helperCalls, [['getSettings', {}], ['setSettings', { logLevel: 'debug' }]]);
});
