import { test } from 'node:test';
import assert from 'node:assert/strict';
import { strToU8, zipSync } from 'fflate';
import { isValidTunnelName, readImportFiles, tunnelNameFromFileName } from '../../engine/conf/import-bundle.js';
import { CONTENT_SECURITY_POLICY, isAllowedRequestUrl, secureWebPreferences } from '../../main/window-security.js';

const conf = '[Interface]\nPrivateKey = x\n';

test('several .conf files and a zip become one candidate per configuration, named after the file', () => {
  const zip = zipSync({ 'home.conf': strToU8(conf), 'nested/lab.conf': strToU8(conf), 'README.txt': strToU8('hi'), 'dir/': new Uint8Array() });
  const bundle = readImportFiles([
    { fileName: 'office.conf', bytes: strToU8('\uFEFF' + conf) },
    { fileName: 'all.zip', bytes: zip },
    { fileName: 'notes.txt', bytes: strToU8('x') },
  ]);
  assert.deepEqual(
    bundle.candidates.map((c) => [c.source, c.name, c.confText]),
    [
      ['office.conf', 'office', conf],
      ['all.zip/home.conf', 'home', conf],
      ['all.zip/nested/lab.conf', 'lab', conf],
    ],
  );
  assert.deepEqual(bundle.skipped, ['notes.txt: not a .conf or .zip file']);
});

test('broken zips, zips without configurations and non-UTF-8 files are reported, not thrown', () => {
  const bundle = readImportFiles([
    { fileName: 'bad.zip', bytes: strToU8('PK not really') },
    { fileName: 'empty.zip', bytes: zipSync({ 'a.txt': strToU8('x') }) },
    { fileName: 'latin1.conf', bytes: new Uint8Array([0x5b, 0xff, 0xfe]) },
  ]);
  assert.equal(bundle.candidates.length, 0);
  assert.match(bundle.skipped[0] ?? '', /^bad\.zip: not a readable zip/);
  assert.deepEqual(bundle.skipped.slice(1), ['empty.zip: holds no .conf file', 'latin1.conf: not UTF-8 text']);
});

test('names follow wg-quick: from the base name, 1-15 of [a-zA-Z0-9_=+.-]', () => {
  assert.equal(tunnelNameFromFileName('/home/me/wg0.conf'), 'wg0');
  assert.equal(tunnelNameFromFileName('C:\\Users\\me\\Office.CONF'), 'Office');
  assert.equal(isValidTunnelName('wg0'), true);
  assert.equal(isValidTunnelName('my office'), false);
  assert.equal(isValidTunnelName('sixteen-chars-xx'), false);
  assert.equal(isValidTunnelName('..'), false);
});

test('the window is locked down: isolation, sandbox, no Node, scripts from self only, local files only', () => {
  const prefs = secureWebPreferences('/app/preload.cjs');
  assert.equal(prefs.contextIsolation, true);
  assert.equal(prefs.sandbox, true);
  assert.equal(prefs.nodeIntegration, false);
  assert.equal(prefs.webviewTag, false);
  assert.equal(prefs.devTools, false, 'no developer tools in the released app');
  assert.equal(secureWebPreferences('/app/preload.cjs', { development: true }).devTools, true);
  assert.match(CONTENT_SECURITY_POLICY, /script-src 'self'(;|$)/);
  assert.match(CONTENT_SECURITY_POLICY, /default-src 'none'/);
  const root = 'file:///opt/Wirelane/resources/app.asar/renderer/dist/';
  assert.equal(isAllowedRequestUrl(`${root}assets/index.js`, root), true);
  assert.equal(isAllowedRequestUrl('https://example.com/x.js', root), false);
  assert.equal(isAllowedRequestUrl('file:///etc/passwd', root), false);
  assert.equal(isAllowedRequestUrl('devtools://devtools/bundled/inspector.html', root), false);
  assert.equal(isAllowedRequestUrl('devtools://devtools/bundled/inspector.html', root, { development: true }), true);
});
