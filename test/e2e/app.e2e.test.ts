/**
 * The window end to end, against the real helper: the production renderer build runs in Debian's
 * Chromium (playwright-core), served from 127.0.0.1, with `window.wirelane` built from the same
 * IPC schema as the preload and backed by main's own relay (HelperClient, TunnelStoreView,
 * createRelay, registerIpcHandlers with its sender and argument checks). Only Electron is absent.
 *
 *   ns "c": wirelane-helper (root) --veth 192.0.2.1 <-> 192.0.2.2-- ns "s": wireguard-go (wg-quick)
 *
 * Steps: import a tunnel by dropping its file, connect, see the handshake age and the byte
 * counters rise while a ping runs, disconnect; drop a broken file and see the helper's
 * line-numbered error with the store unchanged; stop the helper mid-session, see "not running",
 * start it again and see the window recover. Screenshots of each step go to test-results/e2e/.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import { type Server } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, type Page } from 'playwright-core';
import type { HelperClient } from '../../main/helper-client.js';
import { NetnsLab, netnsUnavailableReason, run, waitFor } from '../support/netns.js';
import { repoPath } from '../support/paths.js';
import { buildRenderer, CHROMIUM, dropFiles, openApp, serveRenderer } from './renderer-harness.js';

const skip =
  netnsUnavailableReason(['wg', 'wg-quick', 'wireguard-go', 'ping']) ?? (existsSync(CHROMIUM) ? null : `${CHROMIUM} is not installed`);
const compiled = fileURLToPath(import.meta.url).includes(`${'/'}dist${'/'}`);
const shots = repoPath('test-results', 'e2e');

const lab = new NetnsLab('e2e');
let clientNs = '';
let serverNs = '';
let work = '';
let socketPath = '';
let storeDir = '';
let helper: ChildProcess | null = null;
let helperLog = '';
let httpServer: Server | null = null;
let browser: BrowserContext | null = null;
let client: HelperClient | null = null;
let keys = { client: '', clientPub: '', server: '', serverPub: '' };

function helperCommand(): string[] {
  if (compiled) return [process.execPath, repoPath('engine', 'bin', 'wirelane-helper')];
  const wrapper = join(work, 'run-helper.mjs');
  writeFileSync(wrapper, `import(${JSON.stringify(repoPath('engine', 'cli', 'wirelane-helper.ts'))}).then((m) => m.main());\n`);
  return [process.execPath, '--import', 'tsx', wrapper];
}

async function startHelper(): Promise<void> {
  const [file, ...rest] = helperCommand();
  helperLog = '';
  const child = lab.spawn(clientNs, file!, [...rest, '--socket', socketPath, '--store', storeDir]);
  child.stderr?.on('data', (c: Buffer) => (helperLog += c.toString()));
  child.stdout?.on('data', (c: Buffer) => (helperLog += c.toString()));
  helper = child;
  await waitFor('the helper socket', () => existsSync(socketPath), 30_000, 100).catch((error: Error) => {
    throw new Error(`${error.message}\nhelper log:\n${helperLog}`);
  });
}

async function stopHelper(): Promise<void> {
  const child = helper;
  helper = null;
  if (!child?.pid || child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.kill(child.pid, 'SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
  if (child.exitCode === null) process.kill(child.pid, 'SIGKILL');
}

/** Every file of the store with its bytes, to prove a refused import changed nothing. */
function storeContents(): string {
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
      const path = join(dir, entry.name);
      return entry.isDirectory() ? walk(path) : [`${path}:${readFileSync(path).toString('base64')}`];
    });
  return existsSync(storeDir) ? walk(storeDir).sort().join('\n') : '';
}

async function shot(p: Page, name: string): Promise<void> {
  await p.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

/** "1.50 KiB received" -> 1536. */
function bytesOf(text: string): number {
  const match = /([\d.]+)\s*(B|KiB|MiB|GiB)/.exec(text);
  assert.ok(match, `no byte count in "${text}"`);
  const scale = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 }[match[2] as 'B'];
  return Number(match[1]) * scale;
}

before(async () => {
  if (skip) return;
  work = mkdtempSync(join(tmpdir(), 'wirelane-e2e-'));
  socketPath = join(work, 'run', 'helper.sock');
  storeDir = join(work, 'store');
  mkdirSync(shots, { recursive: true });
  clientNs = lab.addNamespace('c');
  serverNs = lab.addNamespace('s');
  lab.connect(clientNs, serverNs, { nameA: 'ec0', nameB: 'es0', addressesA: ['192.0.2.1/24'], addressesB: ['192.0.2.2/24'] });
  keys = { client: run('wg', ['genkey']).trim(), clientPub: '', server: run('wg', ['genkey']).trim(), serverPub: '' };
  keys.clientPub = run('wg', ['pubkey'], { input: keys.client }).trim();
  keys.serverPub = run('wg', ['pubkey'], { input: keys.server }).trim();
  const serverConf = join(work, 'esrv.conf');
  writeFileSync(serverConf, `[Interface]\nPrivateKey = ${keys.server}\nAddress = 10.0.0.2/24\nListenPort = 51820\n\n[Peer]\nPublicKey = ${keys.clientPub}\nAllowedIPs = 10.0.0.1/32\n`, { mode: 0o600 });
  lab.exec(serverNs, 'wg-quick', ['up', serverConf], {
    env: { ...process.env, WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1', WG_QUICK_USERSPACE_IMPLEMENTATION: 'wireguard-go' },
  });
  buildRenderer();
  await startHelper();
});

after(async () => {
  client?.stop();
  await browser?.close().catch(() => {});
  await new Promise<void>((resolve) => (httpServer ? httpServer.close(() => resolve()) : resolve()));
  await stopHelper().catch(() => {});
  lab.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('the window against the real helper: import, connect with live numbers, disconnect, broken import, helper restart', { skip: skip ?? false, timeout: 240_000 }, async () => {
  const served = await serveRenderer();
  httpServer = served.server;
  const app = await openApp({ pageUrl: served.pageUrl, socketPath, profileDir: join(work, 'chromium') });
  browser = app.context;
  client = app.client;
  const p = app.page;
  const hint = () => `\nhelper log:\n${helperLog.slice(-3000)}\npage log:\n${app.log().slice(-3000)}`;
  try {
    await steps(p, hint);
  } catch (error) {
    await shot(p, 'failure').catch(() => {});
    throw new Error(`${(error as Error).message}${hint()}`, { cause: error });
  }
});

async function steps(p: Page, hint: () => string): Promise<void> {
  // 1. A fresh store: the empty state.
  await p.getByRole('heading', { name: 'No tunnels yet' }).waitFor({ timeout: 20_000 });
  await shot(p, '01-empty');

  // 2. Import by dropping a .conf: the tunnel page opens, disconnected, with its public key.
  const conf = `[Interface]\nPrivateKey = ${keys.client}\nAddress = 10.0.0.1/32\n\n[Peer]\nPublicKey = ${keys.serverPub}\nEndpoint = 192.0.2.2:51820\nAllowedIPs = 10.0.0.2/32\nPersistentKeepalive = 5\n`;
  await dropFiles(p, [{ name: 'office.conf', text: conf }]);
  await p.getByRole('heading', { name: 'office', level: 2 }).waitFor({ timeout: 15_000 });
  assert.equal(await p.getByTestId('tunnel-state').textContent(), 'Disconnected');
  assert.equal(await p.getByTestId('public-key').textContent(), keys.clientPub);
  await p.getByRole('option', { name: /office/ }).waitFor();
  await shot(p, '02-imported');

  // 3. Connect: connected, a handshake seconds ago, rx/tx rising while a ping runs.
  await p.getByRole('button', { name: 'Connect office' }).click();
  await waitFor('Connected', async () => (await p.getByTestId('tunnel-state').textContent()) === 'Connected', 60_000, 200).catch((e: Error) => {
    throw new Error(e.message + hint());
  });
  const ping = lab.spawn(clientNs, 'ping', ['-i', '0.2', '-c', '150', '-W', '1', '10.0.0.2']);
  await waitFor('a handshake age', async () => /(just now|\d+ seconds? ago)/.test((await p.getByTestId('handshake-age').textContent()) ?? ''), 30_000, 250);
  const rx1 = bytesOf((await p.getByTestId('rx').textContent()) ?? '');
  const tx1 = bytesOf((await p.getByTestId('tx').textContent()) ?? '');
  await waitFor(
    'rx and tx to rise',
    async () => bytesOf((await p.getByTestId('rx').textContent()) ?? '') > rx1 && bytesOf((await p.getByTestId('tx').textContent()) ?? '') > tx1,
    20_000,
    250,
  );
  await waitFor('the peer’s endpoint', async () => (await p.getByTestId('peer-endpoint').textContent()) === '192.0.2.2:51820', 10_000, 200);
  await new Promise((r) => setTimeout(r, 3000)); // a few graph samples
  await shot(p, '03-connected');
  ping.kill('SIGKILL');

  // 4. Disconnect.
  await p.getByRole('button', { name: 'Disconnect office' }).click();
  await waitFor('Disconnected', async () => (await p.getByTestId('tunnel-state').textContent()) === 'Disconnected', 30_000, 200);
  await shot(p, '04-disconnected');

  // 4b. Edit and save back: the editor gets the full text, and the helper accepts it unchanged.
  await p.getByRole('button', { name: 'Edit' }).click();
  await p.getByRole('heading', { name: 'Edit office' }).waitFor({ timeout: 10_000 });
  const loaded = (await p.locator('.cm-content').textContent()) ?? '';
  assert.match(loaded, /PersistentKeepalive = 5/);
  assert.match(loaded, /PrivateKey = \(hidden\)/);
  assert.ok(!loaded.includes(keys.client), 'the private key never reaches the window for editing');
  // Live validation: a bad line is reported by the helper while typing, before any save.
  await p.locator('.cm-content').click();
  await p.keyboard.press('Control+End');
  await p.keyboard.type('Bogus = 1');
  const live = p.getByRole('alert', { name: 'Problems in this configuration' });
  await live.waitFor({ timeout: 10_000 });
  assert.match((await live.textContent()) ?? '', /Line 10:.*Bogus/);
  await shot(p, '04b-live-validation');
  for (let i = 0; i < 'Bogus = 1'.length; i++) await p.keyboard.press('Backspace');
  await live.waitFor({ state: 'detached', timeout: 10_000 });
  await p.getByRole('button', { name: 'Save' }).click();
  await p.getByText('Saved office.').waitFor({ timeout: 10_000 });

  // 5. A broken file: the helper's line-numbered problem in the editor, the store unchanged.
  const before = storeContents();
  const broken = `[Interface]\nPrivateKey = ${keys.client}\nAddres = 10.0.0.9/32\n\n[Peer]\nPublicKey = ${keys.serverPub}\nAllowedIPs = 10.0.0.300/32\n`;
  await dropFiles(p, [{ name: 'broken.conf', text: broken }]);
  const problems = p.getByRole('alert', { name: 'Problems in this configuration' });
  await problems.waitFor({ timeout: 15_000 });
  const problemText = (await problems.textContent()) ?? '';
  assert.match(problemText, /Line 3:/, problemText);
  assert.match(problemText, /Line 7:/, problemText);
  await p.locator('.cm-lintRange-error').first().waitFor({ timeout: 5000 });
  assert.equal(storeContents(), before, 'a refused import leaves the store byte for byte as it was');
  await shot(p, '05-broken-import');
  // The refused file is unsaved work: leaving it asks first.
  await p.getByRole('button', { name: 'Cancel' }).click();
  await p.getByRole('alertdialog', { name: /Discard/ }).getByRole('button', { name: 'Discard' }).click();

  // 6. The helper stops mid-session: the window says so and what to do.
  await stopHelper();
  const helperState = p.getByTestId('helper-state');
  await helperState.waitFor({ timeout: 15_000 });
  assert.equal(await helperState.getAttribute('data-state'), 'not_running');
  assert.match((await helperState.textContent()) ?? '', /not running/);
  await shot(p, '06-helper-stopped');

  // 7. It starts again: the window recovers by itself with the stored tunnel.
  await startHelper();
  await p.getByRole('option', { name: /office/ }).waitFor({ timeout: 20_000 });
  await p.getByRole('heading', { name: 'office', level: 2 }).waitFor({ timeout: 5000 });
  assert.equal(await p.getByTestId('helper-state').count(), 0);
  await shot(p, '07-helper-back');
}
