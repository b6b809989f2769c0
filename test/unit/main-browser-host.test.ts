/**
 * The browser host (npm start without Electron): only our page, on 127.0.0.1, with the per-run
 * token, same Host and same Origin, may load the app or call the helper; calls go through main's
 * real relay to a helper socket (a protocol-speaking stand-in here), pushes arrive as server-sent
 * events.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../engine/logger.js';
import { createAppCore, type AppCore } from '../../main/app-core.js';
import { pageBridgeScript, pageHtml, startBrowserHost, type BrowserHost } from '../../main/browser-host.js';
import { chromiumAppArgs } from '../../main/browser-mode.js';
import { invokeNames, type IpcResult } from '../../main/ipc-schema.js';
import { BROWSER_HOST_CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY } from '../../main/window-security.js';
import { FakeHelper } from '../e2e/fake-helper.js';

const TOKEN = 'test-token-0123456789abcdef';
const CONF = '[Interface]\nPrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\nAddress = 10.0.0.2/32\n';

let work = '';
let fake: FakeHelper;
let core: AppCore;
let host: BrowserHost;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'wirelane-browser-host-'));
  const rendererDir = join(work, 'renderer');
  mkdirSync(join(rendererDir, 'assets'), { recursive: true });
  writeFileSync(
    join(rendererDir, 'index.html'),
    `<!doctype html>\n<html>\n  <head>\n    <meta charset="utf-8" />\n    <meta\n      http-equiv="Content-Security-Policy"\n      content="default-src 'none'; connect-src 'none'"\n    />\n    <script type="module" crossorigin src="./assets/app.js"></script>\n  </head>\n  <body><div id="root"></div></body>\n</html>\n`,
  );
  writeFileSync(join(rendererDir, 'assets', 'app.js'), 'console.log("app");\n');
  writeFileSync(join(rendererDir, 'assets', 'app.js.map'), '{}');
  writeFileSync(join(work, 'secret.txt'), 'outside the renderer');
  fake = new FakeHelper(join(work, 'helper.sock'));
  await fake.listen();
  let pushTo: BrowserHost | null = null;
  core = createAppCore({
    socketPath: fake.socketPath,
    logger: silentLogger,
    platform: 'linux',
    isInstalled: () => true,
    desktop: { pickImportFiles: async () => null, chooseSavePath: async () => null, writeFile: async () => {}, copyText: () => {} },
    push: (name, payload) => pushTo?.push(name, payload),
  });
  host = await startBrowserHost({ rendererDir, handlers: core.relay, logger: silentLogger, token: TOKEN });
  pushTo = host;
  core.client.start();
  const deadline = Date.now() + 5000;
  while (core.client.availability.state !== 'running' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(core.client.availability.state, 'running');
});

after(async () => {
  core?.client.stop();
  await host?.close();
  await fake?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

interface Reply {
  status: number;
  headers: IncomingMessage['headers'];
  body: string;
}

/** A raw HTTP request with exactly the headers given (plus Host unless overridden). */
function send(method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port: host.port, method, path, headers: { host: `127.0.0.1:${host.port}`, ...headers }, setHost: false },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A call's reply body, in main's IPC result shape. */
const resultOf = (reply: Reply) => JSON.parse(reply.body) as IpcResult<unknown>;

const origin = () => `http://127.0.0.1:${host.port}`;
const call = (name: string, args: unknown[], headers: Record<string, string> = {}) =>
  send('POST', `/${TOKEN}/api/invoke/${name}`, { origin: origin(), 'content-type': 'application/json', 'sec-fetch-site': 'same-origin', ...headers }, JSON.stringify(args));

test('listens on 127.0.0.1 only, and the URL it opens carries the token', () => {
  assert.equal(host.url, `http://127.0.0.1:${host.port}/${TOKEN}/index.html`);
});

test('the page loads with the token, with the bridge first and the window CSP (connecting to itself only)', async () => {
  const page = await send('GET', `/${TOKEN}/index.html`, { 'sec-fetch-site': 'none' });
  assert.equal(page.status, 200);
  assert.match(page.body, /<head>\s*<script src="\.\/wirelane-bridge\.js"><\/script>/);
  assert.doesNotMatch(page.body, /connect-src 'none'/, 'the page’s own meta CSP, which forbids the bridge, is gone');
  assert.equal(page.headers['content-security-policy'], BROWSER_HOST_CONTENT_SECURITY_POLICY);
  assert.equal(BROWSER_HOST_CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY.replace("connect-src 'none'", "connect-src 'self'"));
  const asset = await send('GET', `/${TOKEN}/assets/app.js`, { origin: origin() });
  assert.equal(asset.status, 200);
  assert.equal(asset.body, 'console.log("app");\n');
  const bridge = await send('GET', `/${TOKEN}/wirelane-bridge.js`);
  assert.equal(bridge.body, pageBridgeScript());
});

test('without the token, or with a wrong one, nothing is served and no call is made', async () => {
  const before = fake.received.length;
  for (const path of ['/', '/index.html', '/assets/app.js', `/${TOKEN.slice(0, -1)}x/index.html`, `/${TOKEN}x/index.html`, `/x/${TOKEN}/index.html`]) {
    assert.equal((await send('GET', path)).status, 403, path);
  }
  assert.equal((await send('POST', '/api/invoke/getSnapshot', { origin: origin(), 'content-type': 'application/json' }, '[]')).status, 403);
  assert.equal((await send('POST', `/wrong-token-0123456789abcd/api/invoke/importTunnel`, { origin: origin(), 'content-type': 'application/json' }, JSON.stringify(['evil', CONF]))).status, 403);
  assert.equal(fake.received.length, before);
});

test('another origin, a missing Origin on a call, another Host name or a cross-site fetch are refused', async () => {
  const before = fake.received.length;
  assert.equal((await call('importTunnel', ['evil', CONF], { origin: 'http://localhost:8080' })).status, 403);
  assert.equal((await call('importTunnel', ['evil', CONF], { origin: 'null' })).status, 403);
  assert.equal((await call('importTunnel', ['evil', CONF], { origin: `http://127.0.0.1:${host.port + 1}` })).status, 403);
  assert.equal((await send('POST', `/${TOKEN}/api/invoke/importTunnel`, { 'content-type': 'application/json' }, JSON.stringify(['evil', CONF]))).status, 403);
  // DNS rebinding: a name that resolves to 127.0.0.1 still carries its own Host.
  assert.equal((await call('importTunnel', ['evil', CONF], { host: `rebind.example:${host.port}` })).status, 403);
  assert.equal((await call('importTunnel', ['evil', CONF], { 'sec-fetch-site': 'cross-site' })).status, 403);
  assert.equal((await send('GET', `/${TOKEN}/index.html`, { origin: 'http://evil.example' })).status, 403);
  assert.equal((await send('GET', `/${TOKEN}/api/events`, { 'sec-fetch-site': 'same-site' })).status, 403);
  // A form post or simple request (no JSON content type) cannot call either.
  assert.equal((await call('importTunnel', ['evil', CONF], { 'content-type': 'text/plain' })).status, 415);
  assert.equal(fake.received.length, before, 'the helper never saw any of them');
});

test('files outside the renderer build and source maps are not served', async () => {
  assert.equal((await send('GET', `/${TOKEN}/..%2fsecret.txt`)).status, 404);
  assert.equal((await send('GET', `/${TOKEN}/assets/..%2f..%2fsecret.txt`)).status, 404);
  assert.equal((await send('GET', `/${TOKEN}/assets/app.js.map`)).status, 404);
});

test('a call is relayed to the helper socket through main’s relay, arguments checked first', async () => {
  const reply = await call('importTunnel', ['office', CONF]);
  assert.equal(reply.status, 200);
  assert.deepEqual(JSON.parse(reply.body), { ok: true, value: { name: 'office', hasScripts: false, fullTunnel: false } });
  const seen = fake.received.find((r) => r.type === 'import');
  assert.ok(seen && seen.type === 'import');
  assert.equal(seen.name, 'office');
  assert.equal(seen.confText, CONF);

  const bad = await call('importTunnel', ['../etc', CONF]);
  const badResult = resultOf(bad);
  assert.ok(!badResult.ok);
  assert.equal(badResult.error.code, 'bad_arguments');
  assert.equal(fake.received.filter((r) => r.type === 'import').length, 1, 'a bad name never reaches the helper');
  assert.equal((await call('noSuchCall', [])).status, 404);
  assert.equal(resultOf(await call('getSnapshot', [], {})).ok, true);
});

test('pushes reach the page as server-sent events: a helper event becomes onStatus', async () => {
  const events: { event: string; data: unknown }[] = [];
  const stream = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: host.port, path: `/${TOKEN}/api/events`, headers: { accept: 'text/event-stream' } }, resolve);
    req.on('error', reject);
    req.end();
  });
  try {
    assert.equal(stream.statusCode, 200);
    assert.match(String(stream.headers['content-type']), /^text\/event-stream/);
    let buffer = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      buffer += chunk;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(frame)?.[1];
        const data = /^data: (.*)$/m.exec(frame)?.[1];
        if (event && data) events.push({ event, data: JSON.parse(data) });
      }
    });
    const deadline = Date.now() + 3000;
    while (host.pageCount === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const status = { name: 'office', status: { state: 'connected', since: 1 }, latestHandshake: 2, rxBytes: 300, txBytes: 400, endpoint: '192.0.2.1:51820' } as const;
    fake.broadcast({ event: 'status', tunnels: [status] });
    while (!events.some((e) => e.event === 'wirelane:onStatus') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const pushed = events.find((e) => e.event === 'wirelane:onStatus');
    assert.ok(pushed, `no onStatus push among ${JSON.stringify(events)}`);
    assert.deepEqual(pushed.data, [status]);

    // Bytes (a picked file) survive the trip as bytes.
    host.push('onImportFiles', [{ fileName: 'a.conf', bytes: new Uint8Array([1, 2, 255]) }]);
    while (!events.some((e) => e.event === 'wirelane:onImportFiles') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(events.find((e) => e.event === 'wirelane:onImportFiles')?.data, [{ fileName: 'a.conf', bytes: { $bytes: 'AQL/' } }]);
  } finally {
    stream.destroy();
  }
});

test('the page bridge declares every invoke and push of the schema', () => {
  const script = pageBridgeScript();
  for (const name of invokeNames) assert.ok(script.includes(JSON.stringify(name)), name);
  assert.match(script, /new EventSource\(base \+ 'api\/events'\)/);
  assert.equal(pageHtml('<html><head><title>x</title></head></html>'), '<html><head>\n    <script src="./wirelane-bridge.js"></script><title>x</title></head></html>');
});

test('chromium opens the launcher file as an app window with its own profile, never with --no-sandbox', () => {
  const args = chromiumAppArgs('/tmp/p/open.html', '/tmp/p');
  assert.ok(args.includes('--app=file:///tmp/p/open.html'));
  assert.ok(args.includes('--user-data-dir=/tmp/p'));
  assert.ok(!args.includes('--no-sandbox'));
});
