/**
 * The window's behaviour that people tripped over (issue 9), each as a check a person would make,
 * in Debian's Chromium against the real helper and a wireguard-go server, at the default window
 * size (960x680):
 *
 *   ns "c": wirelane-helper (root) --veth 192.0.2.1 <-> 192.0.2.2-- ns "s": wireguard-go (wg-quick)
 *
 * Tunnels: office (two peers: the wireguard-go server, and a spare peer nobody answers for),
 * dead (its server does not exist) and clash (same listen port as dead, so its connect fails
 * while dead is on). Screenshots of the states that matter go to test-results/e2e/screens.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { type Server } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { unzipSync, strFromU8 } from 'fflate';
import { type Page } from 'playwright-core';
import type { PickedFile } from '../../main/ipc-schema.js';
import { NetnsLab, netnsUnavailableReason, run, waitFor } from '../support/netns.js';
import { repoPath } from '../support/paths.js';
import { buildRenderer, CHROMIUM, dropFiles, openApp, pasteIntoWindow, serveRenderer, type OpenedApp } from './renderer-harness.js';

const skip = netnsUnavailableReason(['wg', 'wg-quick', 'wireguard-go', 'ping']) ?? (existsSync(CHROMIUM) ? null : `${CHROMIUM} is not installed`);
const compiled = fileURLToPath(import.meta.url).includes(`${'/'}dist${'/'}`);
const screens = repoPath('test-results', 'e2e', 'screens');
const VIEWPORT = { width: 960, height: 680 };

const require = createRequire(import.meta.url);
const qrcode = require('qrcode-generator') as (typeNumber: number, level: 'L' | 'M') => { addData(text: string): void; make(): void; createDataURL(cell: number, margin: number): string };

const lab = new NetnsLab('wn');
let clientNs = '';
let serverNs = '';
let work = '';
let socketPath = '';
let storeDir = '';
let helper: ChildProcess | null = null;
let helperLog = '';
let httpServer: Server | null = null;
let app: OpenedApp | null = null;
let p: Page;
const keys = { client: '', clientPub: '', server: '', serverPub: '', spare: '', dead: '' };
/** What main's dialogs and clipboard were asked to do. */
const desktop = { picked: [] as PickedFile[], pickCalls: 0, copied: [] as string[], written: new Map<string, Uint8Array>() };

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

/** The viewport as it is, light and dark (the settings' theme pinned for the shot). */
async function shot(name: string): Promise<void> {
  const theme = await p.evaluate<string | undefined>('document.documentElement.dataset.theme');
  for (const scheme of ['light', 'dark'] as const) {
    await p.evaluate(`document.documentElement.dataset.theme = ${JSON.stringify(scheme)}`);
    await p.screenshot({ path: join(screens, `window-${name}-${VIEWPORT.width}x${VIEWPORT.height}-${scheme}.png`) });
  }
  await p.evaluate(`document.documentElement.dataset.theme = ${JSON.stringify(theme ?? 'light')}`);
}

const hint = () => `\nhelper log:\n${helperLog.slice(-3000)}\npage log:\n${app?.log().slice(-3000) ?? ''}`;

/** Runs a step; on failure, a screenshot and the logs. */
async function step(name: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (error) {
    await p.screenshot({ path: join(screens, `failure-${name}.png`) }).catch(() => {});
    throw new Error(`${(error as Error).message}${hint()}`, { cause: error });
  }
}

function conf(privateKey: string, address: string, peers: { key: string; endpoint: string; allowed: string; keepalive?: number }[], listenPort?: number): string {
  return (
    `[Interface]\nPrivateKey = ${privateKey}\nAddress = ${address}\n${listenPort ? `ListenPort = ${listenPort}\n` : ''}` +
    peers.map((peer) => `\n[Peer]\nPublicKey = ${peer.key}\nEndpoint = ${peer.endpoint}\nAllowedIPs = ${peer.allowed}\n${peer.keepalive ? `PersistentKeepalive = ${peer.keepalive}\n` : ''}`).join('')
  );
}

interface Label {
  text: string;
  left: number;
  right: number;
}

const pub = (key: string) => run('wg', ['pubkey'], { input: key }).trim();
const content = () => p.locator('main.content');
const notice = () => p.getByTestId('notice');

before(async () => {
  if (skip) return;
  work = mkdtempSync(join(tmpdir(), 'wirelane-wn-'));
  socketPath = join(work, 'run', 'helper.sock');
  storeDir = join(work, 'store');
  mkdirSync(screens, { recursive: true });
  clientNs = lab.addNamespace('c');
  serverNs = lab.addNamespace('s');
  lab.connect(clientNs, serverNs, { nameA: 'wnc0', nameB: 'wns0', addressesA: ['192.0.2.1/24'], addressesB: ['192.0.2.2/24'] });
  for (const name of ['client', 'server', 'spare', 'dead'] as const) keys[name] = run('wg', ['genkey']).trim();
  keys.clientPub = pub(keys.client);
  keys.serverPub = pub(keys.server);
  const serverConf = join(work, 'wnsrv.conf');
  writeFileSync(serverConf, `[Interface]\nPrivateKey = ${keys.server}\nAddress = 10.0.0.2/24\nListenPort = 51820\n\n[Peer]\nPublicKey = ${keys.clientPub}\nAllowedIPs = 10.0.0.1/32\n`, { mode: 0o600 });
  lab.exec(serverNs, 'wg-quick', ['up', serverConf], {
    env: { ...process.env, WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1', WG_QUICK_USERSPACE_IMPLEMENTATION: 'wireguard-go' },
  });
  buildRenderer();
  await startHelper();
  const served = await serveRenderer();
  httpServer = served.server;
  app = await openApp({
    pageUrl: served.pageUrl,
    socketPath,
    profileDir: join(work, 'chromium'),
    viewport: VIEWPORT,
    desktop: {
      pickImportFiles: async () => {
        desktop.pickCalls++;
        return desktop.picked.length > 0 ? desktop.picked.splice(0) : null;
      },
      chooseSavePath: async (name) => join(work, `saved-${name}`),
      writeFile: async (path, bytes) => void desktop.written.set(path, bytes),
      copyText: (text) => void desktop.copied.push(text),
    },
  });
  p = app.page;
});

after(async () => {
  app?.client.stop();
  await app?.context.close().catch(() => {});
  await new Promise<void>((resolve) => (httpServer ? httpServer.close(() => resolve()) : resolve()));
  await stopHelper().catch(() => {});
  lab.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
});

const opts = { skip: skip ?? false, timeout: 90_000 };

test('the empty window offers its main action; an import’s notice does not follow to another tunnel', opts, async () => {
  await step('empty', async () => {
    await p.getByRole('heading', { name: 'No tunnels yet' }).waitFor({ timeout: 20_000 });
    const main = p.getByRole('button', { name: 'Import tunnel from file…' });
    assert.match((await main.getAttribute('class')) ?? '', /primary/);
    assert.equal(await p.getByTestId('protection-title').textContent(), 'Not protected');
    await shot('empty');

    const office = conf(keys.client, '10.0.0.1/32', [
      { key: keys.serverPub, endpoint: '192.0.2.2:51820', allowed: '10.0.0.2/32', keepalive: 5 },
      { key: pub(keys.spare), endpoint: '192.0.2.3:51820', allowed: '10.0.0.3/32' },
    ]);
    await dropFiles(p, [{ name: 'office.conf', text: office }]);
    await p.getByRole('heading', { name: 'office', level: 2 }).waitFor({ timeout: 15_000 });
    await dropFiles(p, [{ name: 'dead.conf', text: conf(keys.dead, '10.9.0.1/32', [{ key: pub(keys.spare), endpoint: '192.0.2.9:51820', allowed: '10.9.0.0/24' }], 51999) }]);
    await p.getByRole('heading', { name: 'dead', level: 2 }).waitFor({ timeout: 15_000 });
    assert.equal(await notice().textContent(), 'Imported dead.×');
    await p.getByRole('option', { name: /office/ }).click();
    await p.getByRole('heading', { name: 'office', level: 2 }).waitFor();
    assert.equal(await notice().count(), 0, 'the notice about dead stays with dead');
  });
});

test('connect: Connect is the filled main action, Disconnect the secondary one; state, "connected for" and each peer’s own handshake and transfer', opts, async () => {
  await step('connect', async () => {
    const connect = p.getByRole('button', { name: 'Connect office' });
    assert.match((await connect.getAttribute('class')) ?? '', /\bprimary\b/);
    await connect.click();
    await waitFor('Connected', async () => (await p.getByTestId('tunnel-state').textContent()) === 'Connected', 30_000, 200);
    assert.match((await p.getByRole('button', { name: 'Disconnect office' }).getAttribute('class')) ?? '', /\bsecondary\b/);
    assert.match((await p.getByTestId('state-detail').textContent()) ?? '', /^Connected for \d+ s$/);
    assert.match((await p.getByTestId('protection-title').textContent()) ?? '', /^Protected for office$/);
    const ping = lab.spawn(clientNs, 'ping', ['-i', '0.2', '-c', '60', '-W', '1', '10.0.0.2']);
    try {
      const rows = p.getByTestId('peer-row');
      await waitFor('the server peer’s own handshake and transfer', async () => {
        const server = rows.filter({ hasText: keys.serverPub.slice(0, 8) });
        return /(just now|seconds? ago)/.test((await server.getByTestId('peer-handshake').textContent()) ?? '') && (await server.getByTestId('peer-rx').textContent()) !== '0 B';
      }, 20_000, 250);
      const spare = rows.filter({ hasText: pub(keys.spare).slice(0, 8) });
      assert.equal(await spare.getByTestId('peer-handshake').textContent(), 'Never');
      assert.equal(await spare.getByTestId('peer-rx').textContent(), '0 B');
      assert.equal(await spare.getByTestId('peer-endpoint').textContent(), '192.0.2.3:51820');
      // A few graph samples, then its axes: every label inside the graph, none equal, none touching.
      await waitFor('graph samples', async () => ((await p.locator('.graph-rx').getAttribute('d')) ?? '').split('L').length > 4, 15_000, 250);
      const layout = await p.evaluate<{ svg: { left: number; right: number }; y: Label[]; x: Label[]; legend: string }>(`(() => {
        const svg = document.querySelector('[data-testid="graph-svg"]').getBoundingClientRect();
        const label = (e) => ({ text: e.textContent ?? '', left: e.getBoundingClientRect().left, right: e.getBoundingClientRect().right });
        return {
          svg: { left: svg.left, right: svg.right },
          y: [...document.querySelectorAll('.graph-y-label')].map(label),
          x: [...document.querySelectorAll('.graph-x-label')].map(label),
          legend: document.querySelector('.graph-legend')?.textContent ?? '',
        };
      })()`);
      for (const label of [...layout.y, ...layout.x]) assert.ok(label.left >= layout.svg.left - 0.5 && label.right <= layout.svg.right + 0.5, `label "${label.text}" is cut off: ${JSON.stringify(layout)}`);
      assert.equal(new Set(layout.y.map((l) => l.text)).size, layout.y.length, `y labels repeat: ${layout.y.map((l) => l.text).join(', ')}`);
      for (let i = 1; i < layout.x.length; i++) assert.ok(layout.x[i]!.left > layout.x[i - 1]!.right, `x labels overlap: ${JSON.stringify(layout.x)}`);
      assert.deepEqual(layout.x.map((l) => l.text).at(-1), 'now');
      assert.match(layout.legend.replace(/\s+/g, ' ').trim(), /^Received [\d.]+ (bit|kbit|Mbit)\/s Sent [\d.]+ (bit|kbit|Mbit)\/s$/);
      assert.doesNotMatch(layout.legend, /Time|--/);
      await shot('connected');
    } finally {
      ping.kill('SIGKILL');
    }
  });
});

test('at 960x680 the state, the main action and every action are in view without scrolling', opts, async () => {
  await step('in-view', async () => {
    for (const testId of ['protection', 'tunnel-state', 'state-detail']) {
      const box = await p.getByTestId(testId).boundingBox();
      assert.ok(box && box.y >= 0 && box.y + box.height <= VIEWPORT.height, `${testId} is out of view`);
    }
    for (const name of ['Disconnect office', 'Edit', 'Rename', 'Export…', 'Log', 'Delete…']) {
      const box = await p.getByRole('button', { name, exact: true }).boundingBox();
      assert.ok(box && box.y >= 0 && box.y + box.height <= VIEWPORT.height, `${name} is out of view`);
    }
    const stateSize = await p.evaluate<number>(`parseFloat(getComputedStyle(document.querySelector('[data-testid="tunnel-state"]')).fontSize)`);
    assert.ok(stateSize >= 22, `the state reads in large type (${stateSize}px)`);
    assert.equal(await p.evaluate<number>(`document.querySelector('main.content').scrollTop`), 0);
  });
});

test('the live theme switch recolours the graph; settings apply the theme, the log level and the kill switch', opts, async () => {
  await step('settings', async () => {
    const stroke = () => p.evaluate<string>(`getComputedStyle(document.querySelector('.graph-rx')).stroke`);
    const light = await stroke();
    await p.getByRole('button', { name: 'Settings' }).click();
    await p.getByRole('heading', { name: 'Settings' }).waitFor();
    await p.getByRole('radio', { name: 'Dark' }).click();
    await waitFor('the dark theme', async () => (await p.evaluate<string>('document.documentElement.dataset.theme')) === 'dark', 5000, 100);
    await p.getByRole('combobox', { name: /Log level/ }).selectOption('debug');
    await waitFor('the helper’s log level', async () => {
      const settings = await app!.client.request('getSettings', {});
      return settings.ok && settings.value.settings.logLevel === 'debug';
    }, 5000, 100);
    await p.getByRole('checkbox', { name: 'dead' }).click();
    await waitFor('dead’s kill switch', async () => {
      const listed = await app!.client.request('list', {});
      return listed.ok && listed.value.tunnels.find((t) => t.name === 'dead')?.killSwitch === true;
    }, 5000, 100);
    await shot('settings');
    await p.getByRole('checkbox', { name: 'dead', checked: true }).click();
    await p.getByRole('checkbox', { name: 'dead', checked: false }).waitFor();
    await p.getByRole('combobox', { name: /Log level/ }).selectOption('info');
    await p.keyboard.press('Escape');
    await p.getByRole('heading', { name: 'office', level: 2 }).waitFor();
    assert.notEqual(await stroke(), light, 'the graph changed colour with the theme, without a reload');
    await p.getByRole('button', { name: 'Settings' }).click();
    await p.getByRole('radio', { name: 'Light' }).click();
    await p.getByRole('button', { name: 'Back' }).click();
    await waitFor('the light theme', async () => (await p.evaluate<string>('document.documentElement.dataset.theme')) === 'light', 5000, 100);
  });
});

test('the helper log: the whole helper’s lines, copied and saved as text', opts, async () => {
  await step('helper-log', async () => {
    await p.getByRole('button', { name: 'Helper log' }).click();
    const lines = p.getByTestId('log-lines');
    await lines.filter({ hasText: /listening on/ }).waitFor({ timeout: 10_000 });
    assert.match((await lines.textContent()) ?? '', /office\s+INFO|INFO\s+office/);
    await shot('helper-log');
    await p.getByRole('button', { name: 'Copy' }).click();
    await notice().filter({ hasText: 'Log copied.' }).waitFor();
    assert.match(desktop.copied.at(-1) ?? '', /INFO {2}helper: helper .* listening on/);
    assert.match(desktop.copied.at(-1) ?? '', /office: connected/);
    await p.getByRole('button', { name: 'Save…' }).click();
    await notice().filter({ hasText: /Log saved to .*wirelane-helper\.log/ }).waitFor();
    assert.match(strFromU8(desktop.written.get(join(work, 'saved-wirelane-helper.log'))!), /office: connected/);
    await p.keyboard.press('Escape');
    await p.getByRole('heading', { name: 'office', level: 2 }).waitFor();
  });
});

test('a server that does not answer: Connecting, never Connected, and the connect can be cancelled', opts, async () => {
  await step('not-answering', async () => {
    await p.getByRole('option', { name: /dead/ }).click();
    await p.getByRole('button', { name: 'Connect dead' }).click();
    await waitFor('Connecting…', async () => (await p.getByTestId('tunnel-state').textContent()) === 'Connecting…', 15_000, 100);
    await waitFor('a few seconds unanswered', async () => /not answered yet \(\d+ s\)/.test((await p.getByTestId('state-detail').textContent()) ?? ''), 15_000, 200);
    assert.doesNotMatch((await p.locator('.hero').textContent()) ?? '', /Connected/);
    assert.doesNotMatch((await p.getByRole('option', { name: /dead/ }).textContent()) ?? '', /Connected/);
    assert.doesNotMatch((await p.getByTestId('protection').textContent()) ?? '', /All traffic goes through dead|Protected for dead/);
    await shot('server-not-answering');
  });
});

test('a failed connect is said once', opts, async () => {
  await step('failed', async () => {
    // clash wants dead's listen port while dead holds it.
    await dropFiles(p, [{ name: 'clash.conf', text: conf(run('wg', ['genkey']).trim(), '10.8.0.1/32', [{ key: pub(keys.spare), endpoint: '192.0.2.9:51821', allowed: '10.8.0.0/24' }], 51999) }]);
    await p.getByRole('heading', { name: 'clash', level: 2 }).waitFor({ timeout: 15_000 });
    await p.getByRole('button', { name: 'Connect clash' }).click();
    await waitFor('Failed', async () => (await p.getByTestId('tunnel-state').textContent()) === 'Failed', 30_000, 200);
    const reason = ((await p.getByTestId('failure-reason').textContent()) ?? '').trim();
    assert.ok(reason.length > 5, 'the reason is shown');
    await new Promise((r) => setTimeout(r, 500));
    const text = (await content().textContent()) ?? '';
    assert.equal(text.split(reason).length - 1, 1, `the reason appears once, not also as a notice: ${text}`);
    await shot('failed');
  });
});

test('the connect in progress is cancelled with its main action', opts, async () => {
  await step('cancel', async () => {
    await p.getByRole('option', { name: /dead/ }).click();
    await p.getByRole('button', { name: 'Cancel connecting dead' }).click();
    await waitFor('Disconnected', async () => (await p.getByTestId('tunnel-state').textContent()) === 'Disconnected', 15_000, 100);
  });
});

test('rename: an invalid name is explained in words before anything is sent, a taken one as it is typed; Escape closes; focus comes back', opts, async () => {
  await step('rename', async () => {
    await p.getByRole('button', { name: 'Rename' }).click();
    const dialog = p.getByRole('dialog', { name: 'Rename dead' });
    await dialog.waitFor();
    const input = dialog.getByRole('textbox', { name: 'New name' });
    assert.equal(await p.evaluate<boolean>(`document.activeElement === document.querySelector('dialog input')`), true, 'focus is in the name field');
    await input.fill('my dead one!');
    await p.keyboard.press('Enter');
    const help = await dialog.locator('#rename-help').textContent();
    assert.match(help ?? '', /^Use 1–15 letters, digits or _ = \+ \. - \(no spaces\)$/);
    assert.doesNotMatch((await dialog.textContent()) ?? '', /renameTunnel|: 1:/);
    await input.fill('office');
    assert.match((await dialog.locator('#rename-help').textContent()) ?? '', /A tunnel named office exists already/);
    await shot('rename-dialog');
    await p.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    assert.equal(await p.evaluate<string>('document.activeElement?.id'), 'action-rename');
    // F2 opens it from the keyboard too, and a good name renames.
    await p.keyboard.press('F2');
    await dialog.waitFor();
    await input.fill('deadend');
    await p.keyboard.press('Enter');
    await p.getByRole('heading', { name: 'deadend', level: 2 }).waitFor({ timeout: 10_000 });
  });
});

test('lost work: the editor keeps its text while the helper is away, asks before Cancel or another tunnel drops it; a drop while the helper is down says so at once', opts, async () => {
  await step('lost-work', async () => {
    // Nothing typed: Cancel goes straight back, with focus on Edit again (not on the page).
    await p.getByRole('button', { name: 'Edit' }).click();
    await p.getByRole('heading', { name: 'Edit deadend' }).waitFor({ timeout: 10_000 });
    await p.getByRole('button', { name: 'Cancel' }).click();
    await p.getByRole('heading', { name: 'deadend', level: 2 }).waitFor();
    assert.equal(await p.evaluate<string>('document.activeElement?.id'), 'action-edit', 'focus is back on Edit after Cancel');
    await p.getByRole('button', { name: 'Edit' }).click();
    await p.getByRole('heading', { name: 'Edit deadend' }).waitFor({ timeout: 10_000 });
    assert.equal(await p.evaluate<boolean>(`!!document.activeElement?.closest('.cm-editor')`), true, 'focus is in the editor, not on the page');
    await p.keyboard.press('Control+End');
    await p.keyboard.type('# kept while the helper restarts\n');

    // Cancel asks first; Keep editing keeps the text.
    await p.getByRole('button', { name: 'Cancel' }).click();
    const discard = p.getByRole('alertdialog', { name: /Discard your changes to deadend/ });
    await discard.waitFor();
    await shot('discard-dialog');
    await discard.getByRole('button', { name: 'Keep editing' }).click();
    // Another tunnel clicked: asks too.
    await p.getByRole('option', { name: /office/ }).click();
    await discard.waitFor();
    await p.keyboard.press('Escape');
    assert.match((await p.locator('.cm-content').textContent()) ?? '', /# kept while the helper restarts/);

    // The helper goes away: the text stays, Save waits.
    await stopHelper();
    await p.getByTestId('helper-state').waitFor({ timeout: 15_000 });
    assert.match((await p.locator('.cm-content').textContent()) ?? '', /# kept while the helper restarts/);
    assert.equal(await p.getByRole('button', { name: 'Save' }).getAttribute('aria-disabled'), 'true');
    await shot('editor-helper-down');

    // A file dropped meanwhile: said at once, nothing left to go stale.
    await dropFiles(p, [{ name: 'late.conf', text: conf(run('wg', ['genkey']).trim(), '10.7.0.1/32', [{ key: keys.serverPub, endpoint: '192.0.2.2:51820', allowed: '10.7.0.0/24' }]) }]);
    await discard.waitFor();
    await discard.getByRole('button', { name: 'Keep editing' }).click();
    await p.getByRole('option', { name: /office/ }).count();

    await startHelper();
    await p.getByTestId('helper-state').waitFor({ state: 'detached', timeout: 20_000 });
    await p.keyboard.press('Control+S');
    await notice().filter({ hasText: 'Saved deadend.' }).waitFor({ timeout: 10_000 });
    assert.equal(await p.evaluate<string>('document.activeElement?.id'), 'primary-action', 'focus lands on the tunnel’s main action after Save');
    const stored = await app!.client.request('get', { name: 'deadend' });
    assert.ok(stored.ok && stored.value.confText.includes('# kept while the helper restarts'));

    // Now a drop with the helper down and no editor: an immediate answer, then nothing stale.
    await stopHelper();
    await p.getByTestId('helper-state').waitFor({ timeout: 15_000 });
    await dropFiles(p, [{ name: 'late.conf', text: conf(run('wg', ['genkey']).trim(), '10.7.0.1/32', [{ key: keys.serverPub, endpoint: '192.0.2.2:51820', allowed: '10.7.0.0/24' }]) }]);
    await p.getByRole('alert').filter({ hasText: /Nothing was imported: the Wirelane service is not answering/ }).waitFor({ timeout: 3000 });
    await shot('drop-helper-down');
    await startHelper();
    await p.getByRole('option', { name: /office/ }).waitFor({ timeout: 20_000 });
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(await p.getByRole('heading', { name: 'Import', exact: true }).count(), 0, 'no stale import report');
    assert.equal(await notice().count(), 0, 'the notice went once the helper was back');
  });
});

test('keyboard: Ctrl+N a new tunnel (a taken name said while typing), Escape asks, Ctrl+O a QR image from the file dialog, a QR image pasted, Delete a modal confirmation', opts, async () => {
  await step('keyboard', async () => {
    await p.keyboard.press('Control+N');
    await p.getByRole('heading', { name: 'New tunnel' }).waitFor({ timeout: 10_000 });
    assert.equal(await p.evaluate<boolean>(`document.activeElement === document.querySelector('[data-testid="tunnel-name"]')`), true, 'focus is in the name field');
    await p.keyboard.type('office');
    assert.match((await p.locator('#name-help').textContent()) ?? '', /A tunnel named office exists already/);
    await shot('editor-new');
    await p.keyboard.press('Escape');
    const discard = p.getByRole('alertdialog', { name: /Discard this new configuration/ });
    await discard.waitFor();
    await discard.getByRole('button', { name: 'Discard' }).click();
    await p.getByRole('heading', { name: 'New tunnel' }).waitFor({ state: 'detached' });

    // Ctrl+O: the file dialog, which takes QR images too.
    const qrText = conf(run('wg', ['genkey']).trim(), '10.6.0.1/32', [{ key: keys.serverPub, endpoint: '192.0.2.2:51820', allowed: '10.6.0.0/24' }]);
    const qr = qrcode(0, 'L');
    qr.addData(qrText);
    qr.make();
    const gif = Buffer.from(qr.createDataURL(4, 8).split(',')[1]!, 'base64');
    desktop.picked = [{ fileName: 'phone.gif', bytes: new Uint8Array(gif) }];
    await p.keyboard.press('Control+O');
    await p.getByRole('heading', { name: 'phone', level: 2 }).waitFor({ timeout: 15_000 });
    assert.equal(desktop.pickCalls, 1);

    // A QR image from the clipboard.
    const qr2 = qrcode(0, 'L');
    qr2.addData(qrText.replace('10.6.0', '10.5.0'));
    qr2.make();
    await pasteIntoWindow(p, { image: { name: 'image.gif', type: 'image/gif', base64: qr2.createDataURL(4, 8).split(',')[1]! } });
    await p.getByRole('heading', { name: 'image', level: 2 }).waitFor({ timeout: 15_000 });

    // Delete: a confirmation that really is modal.
    await p.locator('h2#page-title').click();
    await p.keyboard.press('Delete');
    const confirm = p.getByRole('alertdialog', { name: 'Delete image?' });
    await confirm.waitFor();
    const behind = await p.getByRole('button', { name: 'New tunnel' }).boundingBox();
    await p.mouse.click(behind!.x + behind!.width / 2, behind!.y + behind!.height / 2);
    assert.equal(await p.getByRole('heading', { name: 'New tunnel' }).count(), 0, 'a click behind the dialog does nothing');
    for (let i = 0; i < 6; i++) {
      await p.keyboard.press('Tab');
      assert.equal(await p.evaluate<boolean>(`!!document.activeElement?.closest('dialog')`), true, 'Tab stays in the dialog');
    }
    await shot('delete-dialog');
    await confirm.getByRole('button', { name: 'Delete' }).click();
    await confirm.waitFor({ state: 'detached' });
    await p.getByRole('option', { name: /^image/ }).waitFor({ state: 'detached', timeout: 10_000 });
    assert.notEqual(await p.evaluate<string>('document.activeElement?.tagName'), 'BODY');
  });
});

test('export: the "Saved to" notice is in view; Export all writes every tunnel, keys included, into one zip', opts, async () => {
  await step('export', async () => {
    await p.getByRole('option', { name: /office/ }).click();
    await p.evaluate(`(() => { const e = document.querySelector('main.content'); e.scrollTop = e.scrollHeight; })()`);
    await p.getByRole('button', { name: 'Export…' }).click();
    const saved = notice().filter({ hasText: /Saved office to .*saved-office\.conf/ });
    await saved.waitFor();
    const box = await saved.boundingBox();
    assert.ok(box && box.y >= 0 && box.y + box.height <= VIEWPORT.height, 'the notice is in view');
    await p.getByRole('button', { name: 'Export all…' }).click();
    await notice().filter({ hasText: /Saved \d+ tunnels to .*saved-wirelane-tunnels\.zip/ }).waitFor();
    const zip = unzipSync(desktop.written.get(join(work, 'saved-wirelane-tunnels.zip'))!);
    const listed = await app!.client.request('list', {});
    assert.ok(listed.ok);
    assert.deepEqual(Object.keys(zip).sort(), listed.value.tunnels.map((t) => `${t.name}.conf`).sort());
    assert.match(strFromU8(zip['office.conf']!), new RegExp(`PrivateKey = ${keys.client.replace(/[+/]/g, '\\$&')}`));
  });
});

test('a server that stops answering: Reconnecting, with for how long; Connected again once it answers', { ...opts, timeout: 120_000 }, async () => {
  await step('reconnecting', async () => {
    // One peer only (office's spare peer never answers, which the helper counts as not answering).
    if ((await p.getByTestId('tunnel-state').textContent()) !== 'Disconnected') {
      await p.getByRole('button', { name: 'Disconnect office' }).click();
      await waitFor('office off', async () => (await p.getByTestId('tunnel-state').textContent()) === 'Disconnected', 15_000, 200);
    }
    await dropFiles(p, [{ name: 'solo.conf', text: conf(keys.client, '10.0.0.1/32', [{ key: keys.serverPub, endpoint: '192.0.2.2:51820', allowed: '10.0.0.2/32', keepalive: 5 }]) }]);
    await p.getByRole('heading', { name: 'solo', level: 2 }).waitFor({ timeout: 15_000 });
    await p.getByRole('button', { name: 'Connect solo' }).click();
    await waitFor('solo connected', async () => (await p.getByTestId('tunnel-state').textContent()) === 'Connected', 30_000, 200);
    const ping = lab.spawn(clientNs, 'ping', ['-i', '0.5', '-W', '1', '10.0.0.2']);
    try {
      lab.exec(serverNs, 'ip', ['link', 'set', 'wns0', 'down']);
      await waitFor('Reconnecting…', async () => (await p.getByTestId('tunnel-state').textContent()) === 'Reconnecting…', 60_000, 250);
      await waitFor('some seconds unanswered', async () => /^Not answering for ([3-9]|\d\d+) s/.test((await p.getByTestId('state-detail').textContent()) ?? ''), 20_000, 250);
      assert.match((await p.getByTestId('protection-title').textContent()) ?? '', /^Reconnecting solo$/);
      await shot('reconnecting');
      lab.exec(serverNs, 'ip', ['link', 'set', 'wns0', 'up']);
      await waitFor('Connected again', async () => (await p.getByTestId('tunnel-state').textContent()) === 'Connected', 40_000, 250);
    } finally {
      ping.kill('SIGKILL');
      lab.tryExec(serverNs, 'ip', ['link', 'set', 'wns0', 'up']);
    }
    await p.getByRole('button', { name: 'Disconnect solo' }).click();
    await waitFor('Disconnected', async () => (await p.getByTestId('tunnel-state').textContent()) === 'Disconnected', 15_000, 200);
    assert.ok(readFileSync(join(screens, 'window-reconnecting-960x680-light.png')).length > 0);
  });
});

test('a tunnel with scripts says they are kept but not run, and how an administrator allows them', opts, async () => {
  await step('scripts', async () => {
    const text = conf(run('wg', ['genkey']).trim(), '10.4.0.1/32', [{ key: keys.serverPub, endpoint: '192.0.2.2:51820', allowed: '10.4.0.0/24' }]).replace('[Peer]', 'PostUp = logger wirelane-e2e\n\n[Peer]');
    await dropFiles(p, [{ name: 'hooks.conf', text }]);
    await p.getByRole('heading', { name: 'hooks', level: 2 }).waitFor({ timeout: 15_000 });
    const status = p.getByTestId('scripts-status');
    await status.waitFor();
    assert.match((await status.textContent()) ?? '', /kept but not run.*wirelane scripts allow hooks/);
    await shot('scripts');
  });
});
