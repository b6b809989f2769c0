/**
 * The window without Electron: a small HTTP host on 127.0.0.1 that serves the production renderer
 * build to a local browser (Debian's chromium in app mode) and gives the page `window.wirelane`
 * through a tiny script of ours, backed by main's own relay — the same handlers, the same
 * argument checks (registerIpcHandlers), the same helper client. `npm start` falls back to it
 * where Electron's binary cannot be installed.
 *
 * A local web server is something any other page in any browser on this machine can reach, and
 * this one drives a root helper. So every request must prove it comes from the page we opened:
 *   - the listening address is 127.0.0.1 only, on a random port;
 *   - on Linux, a TCP connection from any user but the one who started it (or, under sudo, the
 *     user chromium runs as) is closed unread: its owner comes from /proc/net/tcp;
 *   - every path starts with a random per-run token (/<token>/index.html, /<token>/api/...), which
 *     only the URL we print or open carries; relative URLs in the page keep it without help;
 *   - Host must be exactly 127.0.0.1:<port> (a DNS-rebound name fails this);
 *   - Origin, where the browser sends one, must be exactly http://127.0.0.1:<port>, and a call
 *     (POST) without it is refused; Sec-Fetch-Site, where sent, must be same-origin or none;
 *   - a call's body is JSON with content-type application/json, so a foreign page's form post
 *     or simple request cannot pass, and it is size-limited.
 * Refusals are a bare 403 that tells nothing. The page gets the Electron window's CSP, except
 * that it may connect to its own origin (its bridge is fetch and server-sent events).
 */
import { timingSafeEqual, randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import type { Logger } from '../engine/logger.js';
import { registerIpcHandlers, type InvokeEventLike } from './ipc-handlers.js';
import { channelOf, invokeNames, pushNames, type InvokeName, type IpcHandlers, type PushName, type PushPayload } from './ipc-schema.js';
import { BROWSER_HOST_CONTENT_SECURITY_POLICY } from './window-security.js';
import { loopbackPeerCheck } from './loopback-peer.js';

/** The only address the host ever binds. */
export const BROWSER_HOST_ADDRESS = '127.0.0.1';

/** Largest call body: an update carries at most 256 K characters of .conf, JSON-escaped. */
const MAX_CALL_BODY_BYTES = 4 * 1024 * 1024;
/** A comment line on every event stream this often, so a dead page is noticed and dropped. */
const KEEPALIVE_MS = 15_000;

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.woff2': 'font/woff2',
};

export interface BrowserHostOptions {
  /** The production renderer build (renderer/dist). */
  rendererDir: string;
  /** main's relay: one function per invoke channel (createRelay). */
  handlers: IpcHandlers;
  logger: Logger;
  /** Fixed token for tests; a fresh random one otherwise. */
  token?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  /**
   * The uids whose connections are served (Linux: checked on every TCP connection through
   * /proc/net/tcp, see loopback-peer.ts); default: this process's own uid. Anyone else's
   * connection is closed before a byte of it is read.
   */
  allowedUids?: ReadonlySet<number>;
}

export interface BrowserHost {
  /** The page to open: http://127.0.0.1:<port>/<token>/index.html */
  readonly url: string;
  readonly port: number;
  readonly token: string;
  /** Sends a push (onSnapshot, onStatus, onLog, onImportFiles) to every open page. */
  push<K extends PushName>(name: K, payload: PushPayload<K>): void;
  /** How many pages listen for pushes now. */
  readonly pageCount: number;
  close(): Promise<void>;
}

export async function startBrowserHost(options: BrowserHostOptions): Promise<BrowserHost> {
  const token = options.token ?? randomBytes(24).toString('base64url');
  if (!/^[A-Za-z0-9_-]{16,}$/.test(token)) throw new Error('the browser host token must be 16 or more URL-safe characters');
  const tokenBytes = Buffer.from(token);
  const eventStreams = new Set<ServerResponse>();
  let port = 0;
  let origin = '';

  // The same registration as the Electron window's, so argument validation is main's own code.
  // The sender check there is moot here (the HTTP checks below are this window's sender check):
  // every call that reaches it is presented as our page's top frame.
  const channels = new Map<string, (event: InvokeEventLike, ...args: unknown[]) => Promise<unknown>>();
  registerIpcHandlers(
    { handle: (channel, listener) => void channels.set(channel, listener), removeHandler: (channel) => void channels.delete(channel) },
    options.handlers,
    { webContentsId: () => 1, pageUrl: 'http://127.0.0.1/index.html' },
    options.logger,
  );
  const ourPage: InvokeEventLike = { sender: { id: 1 }, senderFrame: { url: 'http://127.0.0.1/index.html', parent: null } };
  const bridgeScript = pageBridgeScript();

  const tokenMatches = (candidate: string | undefined): boolean => {
    if (candidate === undefined) return false;
    const bytes = Buffer.from(candidate);
    return bytes.length === tokenBytes.length && timingSafeEqual(bytes, tokenBytes);
  };

  /** Whether the request comes from our page (or is the first load of it), before any path is read. */
  const isOurs = (request: IncomingMessage, method: string, path: string): boolean => {
    if (request.headers.host !== `${BROWSER_HOST_ADDRESS}:${port}`) return false;
    const requestOrigin = request.headers.origin;
    if (requestOrigin !== undefined && requestOrigin !== origin) return false;
    if (method === 'POST' && requestOrigin === undefined) return false;
    const site = request.headers['sec-fetch-site'];
    // The first load of the page comes from the launcher file chromium opens (file://, so
    // "cross-site"): a top-level navigation to the page itself, which shows it and nothing more.
    const firstLoad =
      method === 'GET' && (path === '' || path === 'index.html') && request.headers['sec-fetch-mode'] === 'navigate' && request.headers['sec-fetch-dest'] === 'document';
    if (site !== undefined && site !== 'same-origin' && site !== 'none' && !firstLoad) return false;
    return true;
  };

  const allowedUids = options.allowedUids ?? new Set([process.getuid?.() ?? 0]);
  const peerCheck = loopbackPeerCheck(allowedUids);
  if (!peerCheck) options.logger.warn('browser host: this system cannot tell which user a TCP connection is from; the token is the only check');

  const server: Server = createServer((request, response) => {
    void handle(request, response).catch((error: unknown) => {
      options.logger.error(`browser host: ${String(error)}`);
      if (!response.headersSent) response.writeHead(500).end();
      else response.destroy();
    });
  });

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const method = request.method ?? 'GET';
    const rawPath = (request.url ?? '/').split('?')[0] ?? '/';
    const [, first, ...rest] = rawPath.split('/');
    if (!isOurs(request, method, rest.join('/')) || !tokenMatches(first)) {
      request.resume();
      response.writeHead(403, { 'content-type': 'text/plain', 'cache-control': 'no-store' }).end('forbidden\n');
      return;
    }
    const path = rest.join('/');
    if (method === 'POST' && path.startsWith('api/invoke/')) return invoke(path.slice('api/invoke/'.length), request, response);
    if (method !== 'GET' && method !== 'HEAD') {
      request.resume();
      response.writeHead(405, { allow: 'GET, HEAD, POST' }).end();
      return;
    }
    if (path === 'api/events') return openEventStream(request, response);
    if (path === 'wirelane-bridge.js') return send(response, 200, MIME['.js']!, bridgeScript);
    if (path === '' || path === 'index.html') {
      const html = await readFile(join(options.rendererDir, 'index.html'), 'utf8');
      return send(response, 200, MIME['.html']!, pageHtml(html));
    }
    return serveFile(path, response);
  }

  function send(response: ServerResponse, status: number, type: string, body: string | Buffer): void {
    response.writeHead(status, {
      'content-type': type,
      'content-security-policy': BROWSER_HOST_CONTENT_SECURITY_POLICY,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-resource-policy': 'same-origin',
      'x-frame-options': 'DENY',
      'cache-control': 'no-store',
    });
    response.end(body);
  }

  async function serveFile(relative: string, response: ServerResponse): Promise<void> {
    let decoded: string;
    try {
      decoded = decodeURIComponent(relative);
    } catch {
      return send(response, 404, 'text/plain', 'not found\n');
    }
    const root = normalize(options.rendererDir + sep);
    const file = normalize(join(root, decoded));
    // Source maps stay out: nothing but what the page runs is served.
    if (!file.startsWith(root) || extname(file) === '.map' || decoded.includes('\0')) return send(response, 404, 'text/plain', 'not found\n');
    const info = await stat(file).catch(() => null);
    if (!info?.isFile()) return send(response, 404, 'text/plain', 'not found\n');
    return send(response, 200, MIME[extname(file)] ?? 'application/octet-stream', await readFile(file));
  }

  async function invoke(name: string, request: IncomingMessage, response: ServerResponse): Promise<void> {
    const channel = channels.get(channelOf(name as InvokeName));
    const type = request.headers['content-type'] ?? '';
    if (!channel || !(invokeNames as string[]).includes(name)) {
      request.resume();
      return send(response, 404, 'application/json', JSON.stringify({ ok: false, error: { code: 'bad_arguments', message: `no call named ${name}` } }));
    }
    if (!/^application\/json(;|$)/i.test(type)) {
      request.resume();
      return send(response, 415, 'text/plain', 'calls are application/json\n');
    }
    const body = await readBody(request, MAX_CALL_BODY_BYTES);
    if (body === null) return send(response, 413, 'text/plain', 'too large\n');
    let args: unknown;
    try {
      args = JSON.parse(body);
    } catch {
      args = undefined;
    }
    if (!Array.isArray(args)) {
      return send(response, 400, 'application/json', JSON.stringify({ ok: false, error: { code: 'bad_arguments', message: `${name}: the arguments are not a JSON array` } }));
    }
    const result = await channel(ourPage, ...(args as unknown[]));
    return send(response, 200, 'application/json', JSON.stringify(result, (_key, value: unknown) => (value instanceof Uint8Array ? { $bytes: Buffer.from(value).toString('base64') } : value)));
  }

  function openEventStream(request: IncomingMessage, response: ServerResponse): void {
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      connection: 'keep-alive',
    });
    response.write(': wirelane\n\n');
    eventStreams.add(response);
    const keepalive = setInterval(() => response.write(': keepalive\n\n'), KEEPALIVE_MS);
    keepalive.unref();
    const drop = () => {
      clearInterval(keepalive);
      eventStreams.delete(response);
    };
    request.on('close', drop);
    response.on('error', drop);
  }

  // Before HTTP parsing: a connection from another local user is closed unread, so a URL (or
  // token) that leaked to them is worth nothing.
  server.on('connection', (socket) => {
    if (!peerCheck) return;
    const verdict = socket.remotePort === undefined ? { allowed: false, uid: null } : peerCheck(port, socket.remotePort);
    if (!verdict.allowed) {
      options.logger.warn(`browser host: refused a connection from ${verdict.uid === null ? 'an unknown user' : `uid ${verdict.uid}`}: only ${[...allowedUids].join(', ')} may use this window`);
      socket.destroy();
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: options.port ?? 0, host: BROWSER_HOST_ADDRESS, exclusive: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (!address || typeof address === 'string' || address.address !== BROWSER_HOST_ADDRESS) {
    server.close();
    throw new Error('the browser host did not bind 127.0.0.1');
  }
  port = address.port;
  origin = `http://${BROWSER_HOST_ADDRESS}:${port}`;
  const pageUrl = `${origin}/${token}/index.html`;

  return {
    url: pageUrl,
    port,
    token,
    get pageCount() {
      return eventStreams.size;
    },
    push(name, payload) {
      const channel = channelOf(name);
      const frame = `event: ${channel}\ndata: ${JSON.stringify(payload, (_key, value: unknown) => (value instanceof Uint8Array ? { $bytes: Buffer.from(value).toString('base64') } : value))}\n\n`;
      for (const stream of eventStreams) stream.write(frame);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const stream of eventStreams) stream.end();
        eventStreams.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Reads a request body up to a limit; null when it is larger. */
function readBody(request: IncomingMessage, limit: number): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) over = true;
      else chunks.push(chunk);
    });
    request.on('end', () => resolve(over ? null : Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

/**
 * The renderer's index.html for this host: its own CSP meta (which forbids any connection) is
 * dropped in favour of the header, and the bridge script loads before the app's module.
 */
export function pageHtml(html: string): string {
  const withoutMeta = html.replace(/<meta\s+http-equiv="Content-Security-Policy"[\s\S]*?\/?>\s*/i, '');
  return withoutMeta.replace(/<head>/i, '<head>\n    <script src="./wirelane-bridge.js"></script>');
}

/**
 * `window.wirelane` in the page, shaped by the same IPC schema as the preload's: each invoke is a
 * POST to api/invoke/<name>, each push an event of one server-sent event stream. Two calls run
 * in the page because they need it: picking files (a file input; the host has no dialogs) and
 * copying a key (the page's clipboard; the host checks the key first). Plain JavaScript text.
 */
export function pageBridgeScript(): string {
  return `'use strict';
(() => {
  const invokes = ${JSON.stringify(invokeNames)};
  const pushes = ${JSON.stringify(pushNames)};
  const base = new URL('./', location.href).href;
  const revive = (_key, value) => (value && typeof value === 'object' && typeof value.$bytes === 'string'
    ? Uint8Array.from(atob(value.$bytes), (c) => c.charCodeAt(0)) : value);
  const call = async (name, args) => {
    // JSON has no undefined: a left-out optional argument must not arrive as null.
    while (args.length > 0 && args[args.length - 1] === undefined) args = args.slice(0, -1);
    try {
      const response = await fetch(base + 'api/invoke/' + name, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(args),
        credentials: 'omit', cache: 'no-store', redirect: 'error',
      });
      const text = await response.text();
      if (!response.ok && !text.startsWith('{')) return { ok: false, error: { code: 'internal', message: 'the app refused the call (' + response.status + ')' } };
      return JSON.parse(text, revive);
    } catch {
      return { ok: false, error: { code: 'helper_unavailable', message: 'the Wirelane app is not running (npm start ended)' } };
    }
  };
  const listeners = new Map();
  const events = new EventSource(base + 'api/events');
  for (const name of pushes) {
    const channel = 'wirelane:' + name;
    listeners.set(channel, new Set());
    events.addEventListener(channel, (event) => {
      let payload;
      try { payload = JSON.parse(event.data, revive); } catch { return; }
      for (const listener of [...listeners.get(channel)]) listener(payload);
    });
  }
  const pickFiles = () => new Promise((resolve) => {
    const input = document.createElement('input');
    input.type = 'file';
    input.multiple = true;
    input.accept = '.conf,.zip,.png,.jpg,.jpeg,.gif,.webp,.bmp';
    input.addEventListener('cancel', () => resolve({ ok: false, error: { code: 'cancelled', message: 'cancelled' } }));
    input.addEventListener('change', async () => {
      const files = await Promise.all([...(input.files ?? [])].map(async (file) => ({ fileName: file.name, bytes: new Uint8Array(await file.arrayBuffer()) })));
      resolve(files.length ? { ok: true, value: files } : { ok: false, error: { code: 'cancelled', message: 'cancelled' } });
    });
    input.click();
  });
  const api = {};
  for (const name of invokes) api[name] = (...args) => call(name, args);
  api.pickImportFiles = pickFiles;
  api.copyPublicKey = async (key) => {
    const checked = await call('copyPublicKey', [key]);
    if (!checked.ok) return checked;
    try {
      await navigator.clipboard.writeText(key);
      return checked;
    } catch {
      return { ok: false, error: { code: 'internal', message: 'the browser did not allow copying' } };
    }
  };
  for (const name of pushes) {
    api[name] = (listener, options) => {
      if (typeof listener !== 'function') throw new TypeError(name + ' needs a listener function');
      if (options && options.signal && options.signal.aborted) return () => {};
      const set = listeners.get('wirelane:' + name);
      const wrapped = (payload) => listener(payload);
      set.add(wrapped);
      const stop = () => set.delete(wrapped);
      if (options && options.signal) options.signal.addEventListener('abort', stop, { once: true });
      return stop;
    };
  }
  Object.defineProperty(window, 'wirelane', { value: Object.freeze(api), writable: false, configurable: false, enumerable: true });
})();
`;
}
