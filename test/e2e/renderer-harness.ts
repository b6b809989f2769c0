/**
 * What every window e2e test needs: the production renderer build, a static server for it with
 * the app's Content-Security-Policy, and Chromium (playwright-core) with `window.wirelane` built
 * from the same IPC schema as the preload and backed by main's own relay (HelperClient,
 * TunnelStoreView, createRelay, registerIpcHandlers with its sender and argument checks).
 * Only Electron is absent. The helper behind `socketPath` is the caller's: the real one or
 * the FakeHelper.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname, join, normalize } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { silentLogger } from '../../engine/logger.js';
import { HelperClient } from '../../main/helper-client.js';
import { registerIpcHandlers, type InvokeEventLike } from '../../main/ipc-handlers.js';
import { channelOf, invokeNames, pushNames, type PushName, type PushPayload } from '../../main/ipc-schema.js';
import { createRelay, type DesktopServices } from '../../main/relay.js';
import { TunnelStoreView } from '../../main/tunnel-store-view.js';
import { CONTENT_SECURITY_POLICY } from '../../main/window-security.js';
import { repoPath } from '../support/paths.js';

export const CHROMIUM = '/usr/bin/chromium';

export function buildRenderer(): void {
  const vite = repoPath('node_modules', 'vite', 'bin', 'vite.js');
  const built = spawnSync(process.execPath, [vite, 'build', '--config', repoPath('renderer', 'vite.config.ts'), '--logLevel', 'warn'], {
    cwd: repoPath(),
    encoding: 'utf8',
    timeout: 300_000,
  });
  if (built.status !== 0) throw new Error(`vite build of the renderer failed:\n${built.stderr}`);
}

const mime: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.map': 'application/json', '.png': 'image/png' };

/** Serves renderer/dist on 127.0.0.1; returns the page's address and the server to close. */
export async function serveRenderer(): Promise<{ pageUrl: string; server: Server }> {
  const root = repoPath('renderer', 'dist');
  const server = createServer((request, response) => {
    const path = normalize(join(root, decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname)));
    const file = path === root || path === `${root}/` ? join(root, 'index.html') : path;
    if (!file.startsWith(root) || !existsSync(file) || !statSync(file).isFile()) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': mime[extname(file)] ?? 'application/octet-stream', 'content-security-policy': CONTENT_SECURITY_POLICY });
    response.end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  return { pageUrl: `http://127.0.0.1:${address.port}/index.html`, server };
}

export interface OpenedApp {
  page: Page;
  context: BrowserContext;
  client: HelperClient;
  /** Console messages and page errors so far, for failure messages. */
  log(): string;
}

export interface OpenAppOptions {
  pageUrl: string;
  socketPath: string;
  /** A fresh Chromium profile directory (Playwright passes it as --user-data-dir). */
  profileDir: string;
  colorScheme?: 'light' | 'dark';
  /** The window's size; default 1100x860. */
  viewport?: { width: number; height: number };
  /** What main's native dialogs and clipboard do; default: every dialog cancelled, copies dropped. */
  desktop?: Partial<DesktopServices>;
}

/**
 * Opens the page with `window.wirelane` wired to main's relay: invokes go through the real
 * registerIpcHandlers (sender = this page's frame), pushes come from the real TunnelStoreView.
 */
export async function openApp(options: OpenAppOptions): Promise<OpenedApp> {
  const context = await chromium.launchPersistentContext(options.profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: options.viewport ?? { width: 1100, height: 860 },
    colorScheme: options.colorScheme ?? 'light',
  });
  let pageLog = '';
  const p = context.pages()[0] ?? (await context.newPage());
  p.on('console', (message) => (pageLog += `${message.type()}: ${message.text()}\n`));
  p.on('pageerror', (error) => (pageLog += `page error: ${error.message}\n`));

  const helperClient = new HelperClient({ socketPath: options.socketPath, logger: silentLogger, reconnectDelaysMs: [200, 500, 1000], isInstalled: () => true, subscribe: { logs: true } });
  const view = new TunnelStoreView(helperClient.availability, 'linux');
  const push = <K extends PushName>(name: K, payload: PushPayload<K>) =>
    void p.evaluate(`window.__wirelanePush?.(${JSON.stringify(channelOf(name))}, ${JSON.stringify(payload)})`).catch(() => {});
  helperClient.onAvailability((availability) => {
    view.setHelper(availability);
    if (availability.state !== 'running') return;
    helperClient.request('list', {}).then(
      (listed) => {
        if (listed.ok) view.setTunnels(listed.value.tunnels);
      },
      // The connection dropped before the reply; the next 'running' lists again.
      () => {},
    );
  });
  helperClient.onEvent((event) => {
    view.applyEvent(event);
    if (event.event === 'log') push('onLog', { name: event.name, entry: event.entry });
  });
  view.onChange((change) => (change.kind === 'snapshot' ? push('onSnapshot', change.snapshot) : push('onStatus', change.next)));

  const relay = createRelay({
    client: helperClient,
    view,
    requestedDisconnects: new Set(),
    desktop: {
      pickImportFiles: async () => null,
      chooseSavePath: async () => null,
      writeFile: async () => {},
      copyText: () => {},
      ...options.desktop,
    },
  });
  const handlers = new Map<string, (event: InvokeEventLike, ...args: unknown[]) => Promise<unknown>>();
  registerIpcHandlers({ handle: (c, l) => void handlers.set(c, l), removeHandler: (c) => void handlers.delete(c) }, relay, { webContentsId: () => 1, pageUrl: options.pageUrl }, silentLogger);

  await p.exposeBinding('__wirelaneInvoke', async (source, channel: string, args: unknown[]) => {
    const handler = handlers.get(channel);
    if (!handler) return { ok: false, error: { code: 'forbidden', message: `no such channel ${channel}` } };
    return handler({ sender: { id: 1 }, senderFrame: { url: source.frame.url(), parent: source.frame.parentFrame() } }, ...args);
  });
  // The page-side half, as the preload's buildBridge makes it: one method per schema entry.
  // Plain JavaScript text, so no transpiler helper (tsx's __name) leaks into the page.
  await p.addInitScript({
    content: `(() => {
      const invokes = ${JSON.stringify(invokeNames)};
      const pushes = ${JSON.stringify(pushNames)};
      const listeners = new Map();
      window.__wirelanePush = (channel, payload) => {
        for (const listener of listeners.get(channel) ?? []) listener(payload);
      };
      const api = {};
      for (const name of invokes) api[name] = (...args) => window.__wirelaneInvoke('wirelane:' + name, args);
      for (const name of pushes) {
        api[name] = (listener, options) => {
          const channel = 'wirelane:' + name;
          if (!listeners.has(channel)) listeners.set(channel, new Set());
          listeners.get(channel).add(listener);
          const stop = () => listeners.get(channel).delete(listener);
          options?.signal?.addEventListener('abort', stop, { once: true });
          return stop;
        };
      }
      window.wirelane = Object.freeze(api);
    })();`,
  });
  helperClient.start();
  await p.goto(options.pageUrl);
  return { page: p, context, client: helperClient, log: () => pageLog };
}

/** Drops files on the window as a person dragging them from a file manager would. */
export async function dropFiles(p: Page, files: { name: string; text: string }[]): Promise<void> {
  await p.evaluate(`(() => {
    const transfer = new DataTransfer();
    for (const f of ${JSON.stringify(files)}) transfer.items.add(new File([f.text], f.name, { type: 'text/plain' }));
    window.dispatchEvent(new DragEvent('dragover', { dataTransfer: transfer, bubbles: true, cancelable: true }));
    window.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
  })()`);
}

/** Pastes into the window as Ctrl+V would: text, or an image file (a QR code from the clipboard). */
export async function pasteIntoWindow(p: Page, content: { text?: string; image?: { name: string; type: string; base64: string } }): Promise<void> {
  await p.evaluate(`(() => {
    const content = ${JSON.stringify(content)};
    const transfer = new DataTransfer();
    if (content.text !== undefined) transfer.setData('text/plain', content.text);
    if (content.image) {
      const bytes = Uint8Array.from(atob(content.image.base64), (c) => c.charCodeAt(0));
      transfer.items.add(new File([bytes], content.image.name, { type: content.image.type }));
    }
    document.body.dispatchEvent(new ClipboardEvent('paste', { clipboardData: transfer, bubbles: true, cancelable: true }));
  })()`);
}
