/**
 * Electron main process: wiring only. Every decision lives in a plain module tested under Node
 * (app-core, helper-client, tunnel-store-view, tray-model, notifications, ipc-handlers, relay,
 * window-security, helper-install-darwin); this file connects them to Electron's objects.
 */
import { app, BrowserWindow, clipboard, dialog, ipcMain, Menu, nativeImage, nativeTheme, Notification, session, Tray } from 'electron';
import type { MenuItemConstructorOptions } from 'electron';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { applicationMenuTemplate } from './app-menu.js';
import { createAppCore } from './app-core.js';
import { consoleLogger as logger } from './console-logger.js';
import { createDesktopSettings } from './desktop-settings.js';
import { appBundleOf, installCommand, installWasCancelled } from './helper-install-darwin.js';
import { defaultHelperSocket, helperLooksInstalled } from './helper-location.js';
import { QR_IMAGE_EXTENSIONS } from '../engine/conf/import-bundle.js';
import { autostartFolder, HIDDEN_ARGUMENT, launchCommand, startsHidden } from './launch-at-login.js';
import { registerIpcHandlers } from './ipc-handlers.js';
import { channelOf, type PickedFile, type PushName, type PushPayload } from './ipc-schema.js';
import { helperNotificationFor, NotificationGate, notificationsFor } from './notifications.js';
import type { DesktopServices } from './relay.js';
import { createTrayActions } from './tray-actions.js';
import { trayModel, trayStatesChanged, type TrayAction, type TrayItem } from './tray-model.js';
import { CONTENT_SECURITY_POLICY, isAllowedRequestUrl, secureWebPreferences } from './window-security.js';

const here = fileURLToPath(new URL('.', import.meta.url));
// Compiled: dist/main/index.js; the repository (or app.asar) root is two folders up.
const appRoot = join(here, '..', '..');
const rendererIndex = join(appRoot, 'renderer', 'dist', 'index.html');
const preloadPath = join(appRoot, 'dist', 'preload', 'preload.cjs');
const trayIconDir = app.isPackaged ? join(process.resourcesPath, 'tray') : join(appRoot, 'build', 'tray');
const pageUrl = pathToFileURL(rendererIndex).href;
// Reload and developer tools are for an unpackaged app (npm start) only.
const development = !app.isPackaged;

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  void app.whenReady().then(start).catch((error: unknown) => {
    logger.error(`Wirelane could not start: ${String(error)}`);
    app.exit(1);
  });
}

async function start(): Promise<void> {
  const settings = await createDesktopSettings({
    configDir: app.getPath('userData'),
    platform: process.platform,
    command: launchCommand(process.execPath, process.env, app.isPackaged, app.getAppPath()),
    autostartDir: autostartFolder(process.env, homedir()),
    setLoginItemSettings: (call) => app.setLoginItemSettings(call),
    getLoginItemSettings: () => app.getLoginItemSettings(),
    setThemeSource: (theme) => {
      nativeTheme.themeSource = theme;
    },
    logger,
  });
  const socketPath = process.env['WIRELANE_HELPER_SOCKET'] ?? defaultHelperSocket(process.platform);
  let window: BrowserWindow | null = null;
  const pushToWindow = <K extends PushName>(name: K, payload: PushPayload<K>) => {
    if (window && !window.isDestroyed()) window.webContents.send(channelOf(name), payload);
  };
  // The dialogs below read `window`; the core only needs them once a call comes in.
  const desktop: DesktopServices = {
    pickImportFiles: () => pickImportFilesWithDialog(),
    chooseSavePath: (defaultFileName, kind) => chooseSavePathWithDialog(defaultFileName, kind),
    // The export holds a private key: readable by this user only.
    writeFile: (path, bytes) => writeFile(path, bytes, { mode: 0o600 }),
    copyText: (text) => clipboard.writeText(text),
  };
  const { client, view, relay, requestedDisconnects } = createAppCore({
    socketPath,
    logger,
    platform: process.platform,
    isInstalled: () => helperLooksInstalled(process.platform, socketPath, process.env),
    desktop,
    push: pushToWindow,
    appSettings: settings,
  });

  // --- tray -----------------------------------------------------------------------------------
  const tray = new Tray(nativeImage.createEmpty());
  let clickOpensWindow = false;
  const renderTray = () => {
    const model = trayModel({
      helper: view.snapshot().helper,
      tunnels: view.snapshot().tunnels,
      launchAtLogin: settings.get().launchAtLogin,
      platform: process.platform,
    });
    const image = nativeImage.createFromPath(join(trayIconDir, model.iconFile));
    if (process.platform === 'darwin') image.setTemplateImage(true);
    tray.setImage(image);
    tray.setToolTip(model.tooltip);
    tray.setContextMenu(Menu.buildFromTemplate(model.items.map((item) => menuItem(item, onTrayAction))));
    clickOpensWindow = model.clickOpensWindow;
  };
  tray.on('click', () => {
    if (clickOpensWindow) void showWindow();
  });

  const notifications = new NotificationGate((note) => {
    if (!Notification.isSupported()) return;
    const shown = new Notification({ title: note.title, body: note.body });
    // Clicking a notification is asking to see the tunnel: open the window.
    shown.on('click', () => void showWindow());
    shown.show();
  });
  let lastHelper = view.snapshot().helper;
  view.onChange((change) => {
    if (change.kind === 'snapshot') {
      renderTray();
      const note = helperNotificationFor(lastHelper, change.snapshot.helper);
      lastHelper = change.snapshot.helper;
      if (note) notifications.offer(note);
      return;
    }
    if (trayStatesChanged(change.previous, change.next)) renderTray();
    for (const note of notificationsFor(change.previous, change.next, requestedDisconnects)) notifications.offer(note);
  });

  // --- window ---------------------------------------------------------------------------------
  const showWindow = async (): Promise<BrowserWindow> => {
    if (window && !window.isDestroyed()) {
      window.show();
      window.focus();
      return window;
    }
    const created = new BrowserWindow({
      width: 960,
      height: 680,
      minWidth: 640,
      minHeight: 480,
      title: 'Wirelane',
      show: false,
      // Windows and Linux: the menu bar appears with Alt, so the window's whole height is the app's.
      autoHideMenuBar: process.platform !== 'darwin',
      webPreferences: secureWebPreferences(preloadPath, { development }),
    });
    window = created;
    created.webContents.on('will-navigate', (event) => event.preventDefault());
    created.webContents.on('will-redirect', (event) => event.preventDefault());
    created.webContents.setWindowOpenHandler(() => ({ action: 'deny' }));
    created.once('ready-to-show', () => created.show());
    created.on('closed', () => {
      if (window === created) window = null;
    });
    await created.loadFile(rendererIndex);
    return created;
  };

  async function pickImportFilesWithDialog(): Promise<PickedFile[] | null> {
    const parent = window && !window.isDestroyed() ? window : undefined;
    const options = {
      title: 'Import tunnels',
      properties: ['openFile', 'multiSelections'] as ('openFile' | 'multiSelections')[],
      filters: [
        { name: 'WireGuard configurations and QR codes', extensions: ['conf', 'zip', ...QR_IMAGE_EXTENSIONS] },
        { name: 'WireGuard configurations', extensions: ['conf', 'zip'] },
      ],
    };
    const chosen = parent ? await dialog.showOpenDialog(parent, options) : await dialog.showOpenDialog(options);
    if (chosen.canceled) return null;
    return Promise.all(chosen.filePaths.map(async (path): Promise<PickedFile> => ({ fileName: basename(path), bytes: new Uint8Array(await readFile(path)) })));
  }

  async function chooseSavePathWithDialog(defaultFileName: string, kind: 'conf' | 'zip' | 'log'): Promise<string | null> {
    const filter =
      kind === 'zip' ? { name: 'Zip archive', extensions: ['zip'] } : kind === 'log' ? { name: 'Log', extensions: ['log', 'txt'] } : { name: 'WireGuard configuration', extensions: ['conf'] };
    const options = { title: kind === 'log' ? 'Save log' : 'Export', defaultPath: defaultFileName, filters: [filter] };
    const chosen = window ? await dialog.showSaveDialog(window, options) : await dialog.showSaveDialog(options);
    return chosen.canceled || !chosen.filePath ? null : chosen.filePath;
  }

  registerIpcHandlers(ipcMain, relay, { webContentsId: () => (window && !window.isDestroyed() ? window.webContents.id : null), pageUrl }, logger);

  const onTrayAction = createTrayActions({
    relay,
    settings,
    notifications,
    showWindow: async () => void (await showWindow()),
    pickImportFiles: () => desktop.pickImportFiles(),
    importInWindow: async (files) => {
      const shown = await showWindow();
      shown.webContents.send(channelOf('onImportFiles'), files);
    },
    showError: (title, body) => dialog.showErrorBox(title, body),
    quit: () => app.quit(),
  });

  Menu.setApplicationMenu(
    Menu.buildFromTemplate(
      applicationMenuTemplate({
        platform: process.platform,
        development,
        onImport: () => void onTrayAction({ type: 'import' }),
        onShowWindow: () => void showWindow(),
      }),
    ),
  );

  // --- session hardening ----------------------------------------------------------------------
  const appRootUrl = pathToFileURL(join(appRoot, 'renderer', 'dist') + '/').href;
  session.defaultSession.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));
  session.defaultSession.webRequest.onBeforeRequest((details, callback) => {
    callback({ cancel: !isAllowedRequestUrl(details.url, appRootUrl, { development }) });
  });
  session.defaultSession.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [CONTENT_SECURITY_POLICY] } });
  });
  app.on('web-contents-created', (_event, contents) => {
    contents.on('will-attach-webview', (event) => event.preventDefault());
    contents.setWindowOpenHandler(() => ({ action: 'deny' }));
  });

  // Started again by the person: show the window. Started again by the login entry (--hidden)
  // while already running: nothing to do.
  app.on('second-instance', (_event, argv) => {
    if (!argv.includes(HIDDEN_ARGUMENT)) void showWindow();
  });
  app.on('activate', () => void showWindow());
  // A tray app keeps running with no window; quitting is in the tray menu.
  app.on('window-all-closed', () => {});
  app.on('before-quit', () => client.stop());

  settings.onChange((changed) => {
    renderTray();
    pushToWindow('onAppSettings', changed);
  });

  renderTray();
  client.start();
  if (process.platform === 'darwin' && app.isPackaged && !helperLooksInstalled('darwin', socketPath, process.env)) {
    void offerHelperInstallDarwin();
  }
  // Started at login with "start hidden": the tray icon only, no window.
  const hidden = startsHidden({ platform: process.platform, argv: process.argv, settings: settings.get(), loginItem: process.platform === 'darwin' ? app.getLoginItemSettings() : {} });
  if (!hidden) void showWindow();
}

/**
 * macOS first run: the helper is not installed yet (no /var/run/wirelane). Ask, then install it
 * as a launchd daemon through the system's administrator prompt (main/helper-install-darwin.ts).
 */
async function offerHelperInstallDarwin(): Promise<void> {
  const answer = await dialog.showMessageBox({
    type: 'info',
    message: 'Wirelane needs to install its helper',
    detail: 'The helper is a small background service that creates the VPN tunnels. macOS will ask for an administrator password.',
    buttons: ['Install Helper', 'Not Now'],
    defaultId: 0,
    cancelId: 1,
  });
  if (answer.response !== 0) return;
  const command = installCommand(appBundleOf(process.execPath));
  execFile(command.file, command.args, (error, _stdout, stderr) => {
    if (!error) return logger.info('installed the helper as a launchd daemon');
    if (installWasCancelled(String(stderr))) return;
    logger.error(`installing the helper failed: ${String(stderr || error.message)}`);
    dialog.showErrorBox('The helper was not installed', String(stderr || error.message).trim());
  });
}

function menuItem(item: TrayItem, onAction: (action: TrayAction) => Promise<void>): MenuItemConstructorOptions {
  const run = (action: TrayAction) => () => void onAction(action).catch((error: unknown) => logger.error(`tray action failed: ${String(error)}`));
  switch (item.kind) {
    case 'separator':
      return { type: 'separator' };
    case 'label':
      return { label: item.label, enabled: false };
    case 'checkbox':
      return { type: 'checkbox', label: item.label, checked: item.checked, enabled: item.enabled, click: run(item.action) };
    case 'action':
      return { label: item.label, click: run(item.action) };
  }
}
