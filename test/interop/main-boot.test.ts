/**
 * The real main/index.ts (compiled), booted under Node with the recording Electron stand-in,
 * against a real helper and a wireguard-go server, as root in namespaces this file creates:
 *
 *   client ns (wirelane-helper, 192.0.2.1) --veth-- server ns (wireguard-go via wg-quick, 192.0.2.2, 10.0.0.2)
 *
 * The app itself runs in this process (outside the namespaces): it reaches the helper over its
 * Unix socket, as the desktop app does. What is checked is what a person sees: the tray lists the
 * helper's tunnels, clicking one connects it and the menu and icon follow, the window is locked
 * down, a foreign IPC sender is refused, and one notification each for connected, dropped (the
 * server goes away) and failed (an endpoint that cannot be resolved).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { bootMain, type StandIn } from '../support/boot-main.js';
import type { StandInMenuItem } from '../support/electron-stand-in.js';
import { NetnsLab, netnsUnavailableReason, run, waitFor } from '../support/netns.js';
import { repoPath } from '../support/paths.js';

const skip = netnsUnavailableReason(['wg', 'wg-quick', 'wireguard-go', 'ping']);
const lab = new NetnsLab('amb');
let client = '';
let server = '';
let work = '';
let socket = '';
let helper: ChildProcess | null = null;
let helperLog = '';
let standIn: StandIn;
const serverInterface = 'ambsrv';
const pageUrl = pathToFileURL(repoPath('renderer', 'dist', 'index.html')).href;

function wirelane(...args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [repoPath('engine', 'bin', 'wirelane'), '--socket', socket, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

function trayItems(): StandInMenuItem[] {
  return standIn.itemsOf(standIn.trays[0]!.contextMenu);
}

function trayItem(prefix: string): StandInMenuItem | undefined {
  return trayItems().find((item) => item.label?.startsWith(prefix));
}

const trayIcon = () => standIn.trays[0]!.image.path ?? '';
const notesAbout = (name: string) => standIn.notifications.filter((n) => n.title.includes(name));
/** Notifications without the stand-in object, for messages. */
const noteTexts = () => standIn.notifications.map(({ title, body }) => ({ title, body }));

/** Why a wait failed, with what the app and the helper showed. */
function picture(): string {
  return `tray: ${trayItems().map((i) => i.label ?? '-').join(' | ')}\nicon: ${trayIcon()}\nnotifications: ${JSON.stringify(noteTexts())}\nhelper log tail:\n${helperLog.split('\n').slice(-20).join('\n')}`;
}

async function waitShowing(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  await waitFor(what, check, timeoutMs, 50).catch((error: Error) => {
    throw new Error(`${error.message}\n${picture()}`);
  });
}

before(async () => {
  if (skip) return;
  work = mkdtempSync(join(tmpdir(), 'am-main-boot-'));
  socket = join(work, 'run', 'helper.sock');
  mkdirSync(join(work, 'run'));
  client = lab.addNamespace('c');
  server = lab.addNamespace('s');
  lab.connect(client, server, { nameA: 'ambc0', nameB: 'ambs0', addressesA: ['192.0.2.1/24'], addressesB: ['192.0.2.2/24'] });
  // A resolver nobody answers on: the "broken" tunnel's host name fails at once.
  const etcNetns = join('/etc/netns', client);
  mkdirSync(etcNetns, { recursive: true });
  writeFileSync(join(etcNetns, 'resolv.conf'), 'nameserver 127.0.0.1\n');
  lab.onCleanup(() => rmSync(etcNetns, { recursive: true, force: true }));

  const key = () => run('wg', ['genkey']).trim();
  const pub = (k: string) => run('wg', ['pubkey'], { input: k }).trim();
  const [clientKey, serverKey, brokenKey] = [key(), key(), key()];
  const serverConf = join(work, `${serverInterface}.conf`);
  writeFileSync(serverConf, `[Interface]\nPrivateKey = ${serverKey}\nAddress = 10.0.0.2/24\nListenPort = 51820\n\n[Peer]\nPublicKey = ${pub(clientKey)}\nAllowedIPs = 10.0.0.1/32\n`, { mode: 0o600 });
  lab.exec(server, 'wg-quick', ['up', serverConf], {
    env: { ...process.env, WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1', WG_QUICK_USERSPACE_IMPLEMENTATION: 'wireguard-go' },
  });

  helper = lab.spawn(client, process.execPath, [repoPath('engine', 'bin', 'wirelane-helper'), '--socket', socket, '--store', join(work, 'store')]);
  helper.stderr?.on('data', (chunk: Buffer) => (helperLog += chunk.toString()));
  await waitFor('the helper to listen', () => wirelane('list').status === 0, 30_000, 250);

  const office = join(work, 'office.conf');
  writeFileSync(office, `[Interface]\nPrivateKey = ${clientKey}\nAddress = 10.0.0.1/32\n\n[Peer]\nPublicKey = ${pub(serverKey)}\nEndpoint = 192.0.2.2:51820\nAllowedIPs = 10.0.0.2/32\n`, { mode: 0o600 });
  const broken = join(work, 'broken.conf');
  writeFileSync(broken, `[Interface]\nPrivateKey = ${brokenKey}\nAddress = 10.9.0.1/32\n\n[Peer]\nPublicKey = ${pub(serverKey)}\nEndpoint = vpn.invalid:51820\nAllowedIPs = 10.9.0.2/32\n`, { mode: 0o600 });
  for (const file of [office, broken]) {
    const imported = wirelane('import', file);
    assert.equal(imported.status, 0, imported.stderr);
  }

  standIn = await bootMain({ socketPath: socket, userData: join(work, 'userData'), configHome: join(work, 'config'), packaged: true });
});

after(() => {
  standIn?.app.quit();
  if (helper?.pid && helper.exitCode === null) {
    try {
      process.kill(helper.pid, 'SIGTERM');
    } catch {
      // gone
    }
  }
  lab.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('main/index.ts against a real helper: tray, window, IPC and notifications', { skip: skip ?? false, timeout: 240_000 }, async () => {
  // The tray lists the helper's tunnels, both off.
  await waitShowing('the tray to list both tunnels', () => trayItem('broken — off') !== undefined && trayItem('office — off') !== undefined, 20_000);
  assert.match(trayIcon(), /tray-disconnected\.png$/);
  assert.deepEqual(
    trayItems().map((i) => i.label ?? `(${i.type})`),
    ['broken — off', 'office — off', '(separator)', 'Import tunnel from file…', 'Manage tunnels…', '(separator)', 'Launch at login', 'Quit Wirelane'],
  );

  // The window: created at start, with the secure preferences; the page's responses carry the CSP.
  await waitShowing('the window', () => standIn.windows.length === 1 && standIn.windows[0]!.visible, 10_000);
  const window = standIn.windows[0]!;
  const prefs = window.options['webPreferences'] as Record<string, unknown>;
  assert.deepEqual([prefs['contextIsolation'], prefs['sandbox'], prefs['nodeIntegration'], prefs['devTools']], [true, true, false, false]);
  const { session } = await import('../support/electron-stand-in.js');
  let headers: Record<string, string[]> | undefined;
  session.defaultSession.headersReceived!({ url: pageUrl, responseHeaders: {} }, (response) => (headers = response.responseHeaders));
  assert.match(headers?.['Content-Security-Policy']?.[0] ?? '', /default-src 'none'; script-src 'self'/);

  // IPC: our window sees the helper's tunnels; a foreign sender is refused and changes nothing.
  const ours = { sender: { id: window.webContents.id }, senderFrame: { url: pageUrl, parent: null } };
  const foreign = { sender: { id: window.webContents.id + 1000 }, senderFrame: { url: 'https://attacker.example/', parent: null } };
  const snapshot = (await standIn.ipcHandlers.get('wirelane:getSnapshot')!(ours)) as { ok: true; value: { tunnels: { name: string }[] } };
  assert.deepEqual(snapshot.value.tunnels.map((t) => t.name), ['broken', 'office']);
  const refused = (await standIn.ipcHandlers.get('wirelane:connectTunnel')!(foreign, 'office')) as { ok: boolean; error: { code: string } };
  assert.deepEqual([refused.ok, refused.error.code], [false, 'forbidden']);
  assert.match(wirelane('show', 'office').stdout, /state: disconnected|^$/m);

  // Clicking the tunnel's item connects it (a real handshake with wireguard-go); menu and icon follow.
  trayItem('office — off')!.click!();
  await waitShowing('office to show connected in the tray', () => trayItem('office — connected')?.checked === true && /tray-connected\.png$/.test(trayIcon()), 30_000);
  assert.equal(standIn.trays[0]!.tooltip, 'Wirelane: connected to office');
  await waitShowing('the connected notification', () => notesAbout('office').length > 0, 10_000);
  assert.deepEqual(notesAbout('office').map((n) => n.title), ['Connected to office']);
  assert.equal(standIn.errorBoxes.length, 0);
  assert.ok(window.webContents.sent.some((s) => s.channel === 'wirelane:onStatus'), 'the window hears the status');
  // Clicking the notification with the window closed opens it again.
  window.close();
  notesAbout('office')[0]!.shown.emit('click');
  await waitShowing('the window to reopen from the notification', () => standIn.windows.length === 2 && standIn.windows[1]!.visible, 10_000);

  // A drop: traffic flows, then the wireguard-go server goes away; the helper sees its handshakes
  // go unanswered and calls the tunnel reconnecting.
  lab.spawn(client, 'ping', ['-n', '-q', '-i', '0.5', '10.0.0.2']);
  lab.exec(server, 'ip', ['link', 'del', serverInterface]);
  await waitShowing('office to drop', () => notesAbout('office').length === 2 && trayItem('office — reconnecting…') !== undefined, 120_000);
  assert.deepEqual(notesAbout('office').map((n) => n.title), ['Connected to office', 'office dropped']);
  assert.match(trayIcon(), /tray-reconnecting\.png$/);

  // A failure from the tray: one notification, though the reply and the state both report it.
  trayItem('broken — off')!.click!();
  await waitShowing('broken to fail', () => notesAbout('broken').length > 0 && trayItem('broken — failed') !== undefined, 30_000);
  // One more round trip to the helper: whichever report came second has arrived by its answer.
  const current = { sender: { id: standIn.windows[1]!.webContents.id }, senderFrame: { url: pageUrl, parent: null } };
  const tunnel = (await standIn.ipcHandlers.get('wirelane:getTunnel')!(current, 'broken')) as { ok: boolean };
  assert.equal(tunnel.ok, true);
  assert.equal(notesAbout('broken').length, 1, JSON.stringify(noteTexts()));
  assert.match(notesAbout('broken')[0]!.body, /cannot resolve the endpoint host 'vpn\.invalid'/);
  // Still reconnecting outranks failed in the icon: office is the one that may leak.
  assert.match(trayIcon(), /tray-reconnecting\.png$/);

  // Off from the tray: no notification for a disconnect the person asked for.
  const before = standIn.notifications.length;
  trayItem('office — reconnecting…')!.click!();
  await waitShowing('office to be off', () => trayItem('office — off') !== undefined, 30_000);
  assert.equal(standIn.notifications.length, before);
});
