/**
 * Accessibility of the real window: the production renderer build in Chromium, `window.wirelane`
 * backed by main's real relay, the helper's socket answered by the FakeHelper (no root, no
 * namespaces). The issue asks for "keyboard accessible, labelled controls, light and dark themes
 * following the OS", so:
 *  - axe-core runs on each main screen (empty list, a disconnected and a connected tunnel, the
 *    editor showing a problem, the helper-not-running screen) under both prefers-color-scheme
 *    values, and no serious or critical violation is allowed (contrast is checked per theme);
 *  - a keyboard-only walk (Tab and arrow keys, no mouse) reaches the tunnel list, selects a
 *    tunnel, toggles connect and opens the editor, and every control focused on the way has an
 *    accessible name and a visible focus indicator;
 *  - every screen (empty, tunnel off and on, editor, log, settings, the rename, delete and
 *    discard dialogs, helper down) is photographed at 960x680 and 640x480, light and dark, into
 *    test-results/e2e/screens; at 960x680 the tunnel's state, its main action and every other
 *    action are in view without scrolling.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import type { TunnelSummary } from '../../engine/helper/protocol.js';
import { repoPath } from '../support/paths.js';
import { FakeHelper } from './fake-helper.js';
import { buildRenderer, CHROMIUM, dropFiles, openApp, serveRenderer, type OpenedApp } from './renderer-harness.js';

const skip = existsSync(CHROMIUM) ? null : `${CHROMIUM} is not installed`;
const shots = repoPath('test-results', 'e2e');
const CONF = '[Interface]\nPrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\nAddress = 10.0.0.2/32\n\n[Peer]\nPublicKey = HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=\nAllowedIPs = 10.0.0.0/24\nEndpoint = 192.0.2.1:51820\n';

function summary(name: string): TunnelSummary {
  return {
    name,
    publicKey: 'HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=',
    addresses: ['10.0.0.2/32'],
    endpoints: ['192.0.2.1:51820'],
    hasScripts: false,
    fullTunnel: false,
    killSwitch: false,
    status: { name, status: { state: 'disconnected' }, latestHandshake: null, rxBytes: 0, txBytes: 0, endpoint: null },
  };
}

let work = '';
let fake: FakeHelper | null = null;
let server: Server | null = null;
let app: OpenedApp | null = null;

before(async () => {
  if (skip) return;
  work = mkdtempSync(join(tmpdir(), 'wirelane-a11y-'));
  mkdirSync(shots, { recursive: true });
  buildRenderer();
  fake = new FakeHelper(join(work, 'helper.sock'));
  await fake.listen();
  const served = await serveRenderer();
  server = served.server;
  app = await openApp({ pageUrl: served.pageUrl, socketPath: fake.socketPath, profileDir: join(work, 'chromium') });
});

after(async () => {
  app?.client.stop();
  await app?.context.close().catch(() => {});
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await fake?.close().catch(() => {});
  if (work) rmSync(work, { recursive: true, force: true });
});

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[]; failureSummary?: string }[];
}

const axeSource = readFileSync(repoPath('node_modules', 'axe-core', 'axe.min.js'), 'utf8');

/**
 * Runs axe-core on the page as it is now, in both colour schemes, and returns the serious and
 * critical violations as readable lines. evaluate() runs outside the page's CSP, so the
 * script-src policy need not be loosened for the test.
 */
async function seriousViolations(p: Page, screen: string): Promise<string[]> {
  const found: string[] = [];
  for (const colorScheme of ['light', 'dark'] as const) {
    await p.emulateMedia({ colorScheme });
    // Let transitions settle so contrast is measured on final colours.
    await p.waitForTimeout(150);
    if ((await p.evaluate<string>('typeof window.axe')) !== 'object') await p.evaluate(axeSource);
    const violations = await p.evaluate<AxeViolation[]>(
      `axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target, failureSummary: n.failureSummary })) })))`,
    );
    for (const v of violations) {
      if (v.impact !== 'serious' && v.impact !== 'critical') continue;
      for (const node of v.nodes) found.push(`[${screen}, ${colorScheme}] ${v.impact} ${v.id} (${v.help}) at ${node.target.join(' ')}: ${node.failureSummary ?? ''}`);
    }
  }
  await p.emulateMedia({ colorScheme: 'light' });
  return found;
}

test('axe finds no serious or critical violation on the main screens, light and dark', { skip: skip ?? false, timeout: 180_000 }, async () => {
  const p = app!.page;
  const all: string[] = [];

  await p.getByRole('heading', { name: 'No tunnels yet' }).waitFor({ timeout: 20_000 });
  all.push(...(await seriousViolations(p, 'empty list')));

  await dropFiles(p, [{ name: 'office.conf', text: CONF }]);
  await p.getByRole('heading', { name: 'office', level: 2 }).waitFor({ timeout: 15_000 });
  all.push(...(await seriousViolations(p, 'tunnel disconnected')));

  await p.getByRole('button', { name: 'Connect office' }).click();
  await p.getByRole('button', { name: 'Disconnect office' }).waitFor({ timeout: 10_000 });
  await p.getByTestId('peer-handshake').filter({ hasText: /ago|just now/ }).waitFor({ timeout: 10_000 });
  all.push(...(await seriousViolations(p, 'tunnel connected')));

  await p.getByRole('button', { name: 'Log', exact: true }).click();
  await p.getByRole('heading', { name: 'Log of office' }).waitFor({ timeout: 10_000 });
  all.push(...(await seriousViolations(p, 'tunnel log')));
  await p.getByRole('button', { name: 'Helper log' }).click();
  await p.getByTestId('log-lines').filter({ hasText: 'fake helper listening' }).waitFor({ timeout: 10_000 });
  all.push(...(await seriousViolations(p, 'helper log')));
  await p.getByRole('button', { name: 'Settings' }).click();
  await p.getByRole('combobox', { name: /Log level/ }).filter({ hasText: 'info' }).waitFor({ timeout: 10_000 });
  all.push(...(await seriousViolations(p, 'settings')));
  await p.keyboard.press('Escape');
  await p.getByRole('button', { name: 'Disconnect office' }).click();
  await p.getByRole('button', { name: 'Connect office' }).waitFor({ timeout: 10_000 });
  await p.getByRole('button', { name: 'Rename' }).click();
  await p.getByRole('dialog', { name: 'Rename office' }).waitFor();
  all.push(...(await seriousViolations(p, 'rename dialog')));
  await p.keyboard.press('Escape');
  await p.getByRole('button', { name: 'Delete…' }).click();
  await p.getByRole('alertdialog', { name: 'Delete office?' }).waitFor();
  all.push(...(await seriousViolations(p, 'delete dialog')));
  await p.keyboard.press('Escape');
  await p.getByRole('alertdialog').waitFor({ state: 'detached' });
  await p.emulateMedia({ colorScheme: 'dark' });
  await p.screenshot({ path: join(shots, 'a11y-dark-connected.png'), fullPage: true });
  await p.emulateMedia({ colorScheme: 'light' });

  // The FakeHelper refuses text without an [Interface] line, with a line-numbered problem.
  await dropFiles(p, [{ name: 'broken.conf', text: '[Peer]\nPublicKey = x\n' }]);
  await p.getByRole('alert', { name: 'Problems in this configuration' }).waitFor({ timeout: 15_000 });
  all.push(...(await seriousViolations(p, 'editor with a problem')));
  await p.emulateMedia({ colorScheme: 'dark' });
  await p.screenshot({ path: join(shots, 'a11y-dark-editor-problem.png'), fullPage: true });
  await p.emulateMedia({ colorScheme: 'light' });
  await p.getByRole('button', { name: 'Cancel' }).click();
  await p.getByRole('alertdialog', { name: /Discard/ }).waitFor();
  all.push(...(await seriousViolations(p, 'discard dialog')));
  await p.getByRole('button', { name: 'Discard' }).click();

  await fake!.close();
  await p.getByTestId('helper-state').waitFor({ timeout: 15_000 });
  all.push(...(await seriousViolations(p, 'helper not running')));
  await fake!.listen();
  await p.getByRole('option', { name: /office/ }).waitFor({ timeout: 20_000 });

  assert.deepEqual(all, [], `axe violations:\n${all.join('\n')}`);
});

interface FocusedControl {
  snapshot: string;
  visibleIndicator: boolean;
  described: string;
}

/** What a keyboard user gets from the focused element: its role and name, and whether focus shows. */
async function focused(p: Page): Promise<FocusedControl> {
  // A re-render can briefly move focus; give it a moment to settle on an element.
  await p.waitForFunction('document.activeElement !== null && document.activeElement !== document.body', undefined, { timeout: 2000 }).catch(() => {});
  // The code editor draws its focus ring on its .cm-editor wrapper, not on the contenteditable.
  // Marks document.activeElement so the locator is that element and nothing else.
  const tag = await p.evaluate(
    `(() => { document.querySelectorAll('[data-a11y-focus]').forEach((e) => e.removeAttribute('data-a11y-focus')); const el = document.activeElement; if (!el || el === document.body) return el ? el.tagName : 'none'; el.setAttribute('data-a11y-focus', ''); return el.tagName; })()`,
  );
  const locator = p.locator('[data-a11y-focus]');
  assert.equal(await locator.count(), 1, `one element has keyboard focus (active element: ${String(tag)})`);
  const snapshot = (await locator.ariaSnapshot()).split('\n')[0] ?? '';
  // A visible indicator: a focus outline (or ring) of non-zero width, neither transparent nor
  // the page's own background colour.
  const style = await p.evaluate<{ outlineStyle: string; outlineWidth: string; outlineColor: string; boxShadow: string; pageBackground: string; tag: string; cls: string }>(
    `(() => { const active = document.activeElement; const el = active.closest('.cm-editor') ?? active; const s = getComputedStyle(el); return { outlineStyle: s.outlineStyle, outlineWidth: s.outlineWidth, outlineColor: s.outlineColor, boxShadow: s.boxShadow, pageBackground: getComputedStyle(document.body).backgroundColor, tag: el.tagName, cls: String(el.className) }; })()`,
  );
  const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 1 && !/rgba\(.*,\s*0\)$/.test(style.outlineColor) && style.outlineColor !== style.pageBackground;
  const ring = style.boxShadow !== 'none' && style.boxShadow !== '';
  return { snapshot, visibleIndicator: outline || ring, described: `${style.tag}.${style.cls} ${snapshot} (outline ${style.outlineStyle} ${style.outlineWidth} ${style.outlineColor})` };
}

/** Tabs until the focused control matches, checking every control passed on the way. */
async function tabTo(p: Page, wanted: RegExp, visited: FocusedControl[], limit = 25): Promise<void> {
  for (let i = 0; i < limit; i++) {
    await p.keyboard.press('Tab');
    // Tab past the last control returns focus to the document itself before wrapping round.
    if ((await p.evaluate('document.activeElement === document.body || document.activeElement === null')) === true) continue;
    const now = await focused(p);
    visited.push(now);
    if (wanted.test(now.snapshot)) return;
  }
  throw new Error(`Tab never reached ${wanted}; visited:\n${visited.map((v) => v.described).join('\n')}`);
}

test('keyboard only: reach the list, select a tunnel, toggle connect, open the editor; every stop is named and visibly focused', { skip: skip ?? false, timeout: 120_000 }, async () => {
  const p = app!.page;
  for (const colorScheme of ['light', 'dark'] as const) {
    await p.emulateMedia({ colorScheme });
    // Two disconnected tunnels, so the arrow keys have somewhere to go.
    fake!.tunnels = ['home', 'office'].map((name) => summary(name));
    fake!.broadcast({ event: 'tunnels', tunnels: fake!.tunnels });
    await p.reload();
    await p.getByRole('option', { name: /office/ }).waitFor({ timeout: 20_000 });
    const visited: FocusedControl[] = [];
    await p.bringToFront();

    await p.getByRole('option', { name: /home/ }).waitFor({ timeout: 10_000 });
    await tabTo(p, /- option "/, visited);
    await p.keyboard.press('ArrowUp');
    visited.push(await focused(p));
    assert.match(visited.at(-1)!.snapshot, /- option "home/);
    await p.keyboard.press('ArrowDown');
    visited.push(await focused(p));
    assert.match(visited.at(-1)!.snapshot, /- option "office/);
    await p.keyboard.press('Enter');
    await p.getByRole('heading', { name: 'office', level: 2 }).waitFor({ timeout: 5000 });

    await tabTo(p, /- button "Connect office"/, visited);
    await p.keyboard.press('Space');
    await p.getByRole('button', { name: 'Disconnect office' }).waitFor({ timeout: 10_000 });
    assert.equal(fake!.tunnels.find((t) => t.name === 'office')?.status.status.state, 'connected');
    // Focus stays on the main action after it is used, now named for what it will do next.
    visited.push(await focused(p));
    assert.match(visited.at(-1)!.snapshot, /- button "Disconnect office"/);

    // Editing is offered while disconnected: turn it back off with the keyboard too.
    await p.keyboard.press('Space');
    await p.getByRole('button', { name: 'Connect office' }).waitFor({ timeout: 10_000 });
    assert.equal(fake!.tunnels.find((t) => t.name === 'office')?.status.status.state, 'disconnected');
    await tabTo(p, /- button "Edit"/, visited);
    await p.keyboard.press('Enter');
    await p.getByRole('heading', { name: 'Edit office' }).waitFor({ timeout: 10_000 });
    await tabTo(p, /- button "Cancel"/, visited);
    if (colorScheme === 'dark') await p.screenshot({ path: join(shots, 'a11y-dark-editor-keyboard.png'), fullPage: true });
    await p.keyboard.press('Enter');

    const unnamed = visited.filter((v) => !/"[^"]+"/.test(v.snapshot)).map((v) => v.described);
    assert.deepEqual(unnamed, [], `[${colorScheme}] focused controls without an accessible name`);
    const unmarked = visited.filter((v) => !v.visibleIndicator).map((v) => v.described);
    assert.deepEqual(unmarked, [], `[${colorScheme}] focused controls without a visible focus indicator`);
  }
  await p.emulateMedia({ colorScheme: 'light' });
});

/** Every size the window is photographed at: the default, and the smallest it should still work at. */
const SIZES = [
  { width: 960, height: 680 },
  { width: 640, height: 480 },
];

test('every screen at 960x680 and 640x480, light and dark, into test-results/e2e/screens', { skip: skip ?? false, timeout: 120_000 }, async () => {
  const p = app!.page;
  const screens = join(shots, 'screens');
  mkdirSync(screens, { recursive: true });
  const photograph = async (name: string) => {
    for (const size of SIZES) {
      await p.setViewportSize(size);
      for (const colorScheme of ['light', 'dark'] as const) {
        await p.emulateMedia({ colorScheme });
        await p.waitForTimeout(120);
        await p.screenshot({ path: join(screens, `${name}-${size.width}x${size.height}-${colorScheme}.png`) });
      }
    }
    await p.setViewportSize(SIZES[0]!);
    await p.emulateMedia({ colorScheme: 'light' });
  };
  fake!.tunnels = [];
  fake!.broadcast({ event: 'tunnels', tunnels: [] });
  await p.reload();
  await p.getByRole('heading', { name: 'No tunnels yet' }).waitFor({ timeout: 20_000 });
  await photograph('empty');
  fake!.tunnels = ['home', 'office'].map((name) => summary(name));
  fake!.broadcast({ event: 'tunnels', tunnels: fake!.tunnels });
  await p.getByRole('option', { name: /office/ }).click();
  await p.getByRole('heading', { name: 'office', level: 2 }).waitFor({ timeout: 10_000 });
  await photograph('tunnel-off');
  await p.getByRole('button', { name: 'Connect office' }).click();
  await p.getByTestId('peer-handshake').filter({ hasText: /ago|just now/ }).waitFor({ timeout: 10_000 });
  await photograph('tunnel-on');
  // At the default size nothing the person needs is below the fold.
  await p.setViewportSize(SIZES[0]!);
  for (const name of ['Disconnect office', 'Edit', 'Rename', 'Export…', 'Log', 'Delete…', 'Import…', 'New tunnel', 'Export all…', 'Helper log', 'Settings']) {
    const box = await p.getByRole('button', { name, exact: true }).boundingBox();
    assert.ok(box && box.y >= 0 && box.y + box.height <= SIZES[0]!.height, `${name} is in view at 960x680`);
  }
  await p.getByRole('button', { name: 'Log', exact: true }).click();
  await p.getByRole('heading', { name: 'Log of office' }).waitFor();
  await photograph('tunnel-log');
  await p.getByRole('button', { name: 'Helper log' }).click();
  await p.getByTestId('log-lines').filter({ hasText: 'fake helper listening' }).waitFor({ timeout: 10_000 });
  await photograph('helper-log');
  await p.getByRole('button', { name: 'Settings' }).click();
  await p.getByRole('combobox', { name: /Log level/ }).filter({ hasText: 'info' }).waitFor({ timeout: 10_000 });
  await photograph('settings');
  await p.keyboard.press('Escape');
  await p.getByRole('button', { name: 'Disconnect office' }).click();
  await p.getByRole('button', { name: 'Connect office' }).waitFor({ timeout: 10_000 });
  await p.keyboard.press('F2');
  await p.getByRole('dialog', { name: 'Rename office' }).waitFor();
  await photograph('rename-dialog');
  await p.keyboard.press('Escape');
  await p.getByRole('button', { name: 'Delete…' }).click();
  await p.getByRole('alertdialog', { name: 'Delete office?' }).waitFor();
  await photograph('delete-dialog');
  await p.keyboard.press('Escape');
  await p.getByRole('button', { name: 'Edit' }).click();
  await p.getByRole('heading', { name: 'Edit office' }).waitFor({ timeout: 10_000 });
  await photograph('editor');
  await p.keyboard.press('Control+End');
  await p.keyboard.type('Bogus');
  await p.keyboard.press('Escape');
  await p.getByRole('alertdialog', { name: /Discard/ }).waitFor();
  await photograph('discard-dialog');
  await p.getByRole('button', { name: 'Discard' }).click();
  await fake!.close();
  await p.getByTestId('helper-state').waitFor({ timeout: 15_000 });
  await photograph('helper-down');
  await fake!.listen();
  await p.getByRole('option', { name: /office/ }).waitFor({ timeout: 20_000 });
});
