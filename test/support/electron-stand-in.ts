/**
 * A recording stand-in for the `electron` module, so the real main/index.ts (compiled) can run
 * under plain Node: Electron's binary cannot be downloaded here. test/support/electron-hook.ts
 * resolves the specifier 'electron' to this file; a test imports `standIn` from it to see what
 * main did (windows, tray images and menus, notifications, IPC handlers, session hooks) and to
 * act as the person would (click a menu item, click the tray icon).
 *
 * It implements the parts of Electron's API main/ uses, with Electron's documented behaviour
 * where main depends on it (whenReady resolves once, Menu.buildFromTemplate keeps the click
 * handlers, Notification.show records, webContents ids are unique); nothing is drawn.
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

type Listener = (...args: unknown[]) => unknown;

/** One menu item as main built it; `click` is main's own handler. */
export interface StandInMenuItem {
  label?: string;
  type?: string;
  role?: string;
  checked?: boolean;
  enabled?: boolean;
  accelerator?: string;
  click?: (...args: unknown[]) => void;
  submenu?: StandInMenuItem[];
}

export class Menu {
  constructor(readonly items: StandInMenuItem[]) {}

  static buildFromTemplate(template: StandInMenuItem[]): Menu {
    return new Menu(template.map((item) => ({ ...item, ...(Array.isArray(item.submenu) ? { submenu: [...item.submenu] } : {}) })));
  }

  static setApplicationMenu(menu: Menu | null): void {
    standIn.applicationMenu = menu;
    standIn.record('Menu.setApplicationMenu', menu ? menu.items.length : null);
  }

  static getApplicationMenu(): Menu | null {
    return standIn.applicationMenu;
  }
}

export interface StandInImage {
  path: string | null;
  template: boolean;
  setTemplateImage(template: boolean): void;
  isTemplateImage(): boolean;
  isEmpty(): boolean;
}

function image(path: string | null): StandInImage {
  return {
    path,
    template: false,
    setTemplateImage(template: boolean) {
      this.template = template;
    },
    isTemplateImage() {
      return this.template;
    },
    isEmpty() {
      return path === null;
    },
  };
}

export const nativeImage = {
  createEmpty: () => image(null),
  createFromPath: (path: string) => image(path),
};

export class Tray extends EventEmitter {
  image: StandInImage;
  tooltip = '';
  contextMenu: Menu | null = null;
  /** Every image and menu set, oldest first. */
  readonly history: { image?: StandInImage; menu?: Menu }[] = [];

  constructor(initial: StandInImage) {
    super();
    this.image = initial;
    standIn.trays.push(this);
  }

  setImage(next: StandInImage): void {
    this.image = next;
    this.history.push({ image: next });
  }

  setToolTip(text: string): void {
    this.tooltip = text;
  }

  setContextMenu(menu: Menu | null): void {
    this.contextMenu = menu;
    if (menu) this.history.push({ menu });
  }

  destroy(): void {}
}

let nextWebContentsId = 1;

export class WebContents extends EventEmitter {
  readonly id = nextWebContentsId++;
  readonly sent: { channel: string; args: unknown[] }[] = [];
  windowOpenHandler: ((details: unknown) => unknown) | null = null;
  destroyed = false;

  send(channel: string, ...args: unknown[]): void {
    this.sent.push({ channel, args });
  }

  setWindowOpenHandler(handler: (details: unknown) => unknown): void {
    this.windowOpenHandler = handler;
  }

  isDestroyed(): boolean {
    return this.destroyed;
  }
}

export class BrowserWindow extends EventEmitter {
  readonly webContents = new WebContents();
  readonly loaded: string[] = [];
  visible = false;
  focused = false;
  destroyed = false;

  constructor(readonly options: Record<string, unknown>) {
    super();
    standIn.windows.push(this);
    standIn.app.emit('web-contents-created', {}, this.webContents);
  }

  async loadFile(path: string): Promise<void> {
    this.loaded.push(path);
    // Electron emits ready-to-show once the page first painted.
    setImmediate(() => this.emit('ready-to-show'));
  }

  show(): void {
    this.visible = true;
  }

  focus(): void {
    this.focused = true;
  }

  hide(): void {
    this.visible = false;
  }

  close(): void {
    this.destroyed = true;
    this.webContents.destroyed = true;
    this.emit('closed');
  }

  isDestroyed(): boolean {
    return this.destroyed;
  }

  static getAllWindows(): BrowserWindow[] {
    return standIn.windows.filter((w) => !w.destroyed);
  }
}

export class Notification extends EventEmitter {
  constructor(readonly options: { title: string; body?: string }) {
    super();
  }

  show(): void {
    standIn.notifications.push({ title: this.options.title, body: this.options.body ?? '', shown: this });
  }

  static isSupported(): boolean {
    return true;
  }
}

type InvokeListener = (event: unknown, ...args: unknown[]) => Promise<unknown>;

export const ipcMain = {
  handle(channel: string, listener: InvokeListener): void {
    if (standIn.ipcHandlers.has(channel)) throw new Error(`Attempted to register a second handler for '${channel}'`);
    standIn.ipcHandlers.set(channel, listener);
  },
  removeHandler(channel: string): void {
    standIn.ipcHandlers.delete(channel);
  },
  on(): void {},
};

export const dialog = {
  async showOpenDialog(...args: unknown[]): Promise<{ canceled: boolean; filePaths: string[] }> {
    standIn.record('dialog.showOpenDialog', args.length);
    return standIn.openDialogAnswer;
  },
  async showSaveDialog(...args: unknown[]): Promise<{ canceled: boolean; filePath?: string }> {
    standIn.record('dialog.showSaveDialog', args.length);
    return { canceled: true };
  },
  async showMessageBox(...args: unknown[]): Promise<{ response: number }> {
    standIn.record('dialog.showMessageBox', args.length);
    return { response: 1 };
  },
  showErrorBox(title: string, content: string): void {
    standIn.errorBoxes.push({ title, content });
  },
};

type HeadersCallback = (details: { url: string; responseHeaders?: Record<string, string[]> }, callback: (response: { responseHeaders?: Record<string, string[]> }) => void) => void;
type RequestCallback = (details: { url: string }, callback: (response: { cancel?: boolean }) => void) => void;

export const session = {
  defaultSession: {
    permissionRequestHandler: null as ((wc: unknown, permission: string, callback: (granted: boolean) => void) => void) | null,
    beforeRequest: null as RequestCallback | null,
    headersReceived: null as HeadersCallback | null,
    setPermissionRequestHandler(handler: (wc: unknown, permission: string, callback: (granted: boolean) => void) => void): void {
      this.permissionRequestHandler = handler;
    },
    webRequest: {
      onBeforeRequest(listener: RequestCallback): void {
        session.defaultSession.beforeRequest = listener;
      },
      onHeadersReceived(listener: HeadersCallback): void {
        session.defaultSession.headersReceived = listener;
      },
    },
  },
};

export const clipboard = {
  writeText(text: string): void {
    standIn.clipboard.push(text);
  },
};

export const nativeTheme = new (class extends EventEmitter {
  themeSource: 'system' | 'light' | 'dark' = 'system';
  shouldUseDarkColors = false;
})();

class App extends EventEmitter {
  readonly loginItemCalls: unknown[] = [];
  private userData: string | null = null;
  private ready: Promise<void> | null = null;
  quitRequested = false;
  exitCode: number | null = null;

  /** Read when main asks (the test sets the environment before it boots main). */
  get isPackaged(): boolean {
    return process.env['WIRELANE_STAND_IN_PACKAGED'] === '1';
  }

  requestSingleInstanceLock(): boolean {
    return true;
  }

  whenReady(): Promise<void> {
    this.ready ??= new Promise((resolve) => setImmediate(resolve));
    return this.ready;
  }

  getPath(name: string): string {
    this.userData ??= process.env['WIRELANE_STAND_IN_USER_DATA'] ?? mkdtempSync(join(tmpdir(), 'wirelane-stand-in-'));
    return name === 'userData' ? this.userData : join(this.userData, name);
  }

  getAppPath(): string {
    return process.cwd();
  }

  /** As the system reports it; a test sets WIRELANE_STAND_IN_LOGIN_ITEM (JSON) to play a start at login. */
  getLoginItemSettings(): { openAtLogin: boolean; wasOpenedAtLogin: boolean; wasOpenedAsHidden: boolean } {
    const played = process.env['WIRELANE_STAND_IN_LOGIN_ITEM'];
    return { openAtLogin: false, wasOpenedAtLogin: false, wasOpenedAsHidden: false, ...(played ? (JSON.parse(played) as object) : {}) };
  }

  setLoginItemSettings(settings: unknown): void {
    this.loginItemCalls.push(settings);
  }

  quit(): void {
    if (this.quitRequested) return;
    this.quitRequested = true;
    this.emit('before-quit', { preventDefault() {} });
    this.emit('will-quit', { preventDefault() {} });
  }

  exit(code = 0): void {
    this.exitCode = code;
    this.quit();
  }
}

export const app = new App();

/** What the test reads and drives. */
export const standIn = {
  app,
  windows: [] as BrowserWindow[],
  trays: [] as Tray[],
  notifications: [] as { title: string; body: string; shown: Notification }[],
  errorBoxes: [] as { title: string; content: string }[],
  clipboard: [] as string[],
  ipcHandlers: new Map<string, InvokeListener>(),
  applicationMenu: null as Menu | null,
  openDialogAnswer: { canceled: true, filePaths: [] as string[] },
  calls: [] as { what: string; detail: unknown }[],
  record(what: string, detail: unknown): void {
    this.calls.push({ what, detail });
  },
  /** Flattens a menu (submenus included). */
  itemsOf(menu: Menu | null): StandInMenuItem[] {
    const walk = (items: StandInMenuItem[]): StandInMenuItem[] => items.flatMap((item) => [item, ...(item.submenu ? walk(item.submenu) : [])]);
    return menu ? walk(menu.items) : [];
  },
};

// Electron's module has more; these are the names main/ imports.
export const contextBridge = { exposeInMainWorld(): void {} };
export const ipcRenderer = { invoke: async () => undefined, on(): void {}, removeListener(): void {} };
export type { Listener };
export default { app, BrowserWindow, clipboard, contextBridge, dialog, ipcMain, ipcRenderer, Menu, nativeImage, nativeTheme, Notification, session, Tray };
