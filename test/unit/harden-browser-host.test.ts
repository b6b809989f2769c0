/**
 * Attack on browser mode (npm start without Electron): another local user learns the window's
 * address (before: from chromium's command line in /proc) and drives the root helper through the
 * host with curl. Now the address is on no command line, and a connection from any uid but the
 * one that started the host is closed before it is read, whatever token it carries.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../engine/logger.js';
import { createAppCore, type AppCore } from '../../main/app-core.js';
import { startBrowserHost, type BrowserHost } from '../../main/browser-host.js';
import { chromiumAppArgs, chromiumCommand, chromiumUser, launcherPage } from '../../main/browser-mode.js';
import { loopbackPeerUid } from '../../main/loopback-peer.js';
import { FakeHelper } from '../e2e/fake-helper.js';

const NOBODY = 65534;
const TOKEN = 'harden-token-0123456789abcdef';
const CONF = '[Interface]\nPrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\nAddress = 10.0.0.2/32\n';

let work = '';
let fake: FakeHelper;
let core: AppCore;
let host: BrowserHost;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'wirelane-harden-host-'));
  const rendererDir = join(work, 'renderer');
  mkdirSync(rendererDir, { recursive: true });
  writeFileSync(join(rendererDir, 'index.html'), '<!doctype html><html><head></head><body>app</body></html>\n');
  fake = new FakeHelper(join(work, 'helper.sock'));
  await fake.listen();
  core = createAppCore({
    socketPath: fake.socketPath,
    logger: silentLogger,
    platform: 'linux',
    isInstalled: () => true,
    desktop: { pickImportFiles: async () => null, chooseSavePath: async () => null, writeFile: async () => {}, copyText: () => {} },
    push: () => {},
  });
  host = await startBrowserHost({ rendererDir, handlers: core.relay, logger: silentLogger, token: TOKEN });
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

/** curl as `uid` (through setpriv), with the headers our own page sends; returns the HTTP status ('000' when cut off). */
function curlAs(uid: number | null, args: string[]): Promise<{ status: string; exit: number | null }> {
  const curl = ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '10', ...args];
  const command = uid === null ? curl : ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', ...curl];
  // Asynchronous: the host answers from this same process.
  return new Promise((resolve) => {
    const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'ignore'], timeout: 20_000 });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('close', (exit) => resolve({ status: out.trim(), exit }));
  });
}

const importArgs = () => [
  '-X', 'POST',
  '-H', `origin: http://127.0.0.1:${host.port}`,
  '-H', 'content-type: application/json',
  '-H', 'sec-fetch-site: same-origin',
  '--data-binary', JSON.stringify(['evil', CONF]),
  `http://127.0.0.1:${host.port}/${TOKEN}/api/invoke/importTunnel`,
];

test('attack: user nobody, holding the full address with its token, is cut off before the host reads a byte', async () => {
  const page = await curlAs(NOBODY, [host.url]);
  assert.equal(page.status, '000');
  assert.ok(page.exit === 52 || page.exit === 56, `curl exit ${page.exit}: the connection must be closed unanswered`);
  const call = await curlAs(NOBODY, importArgs());
  assert.equal(call.status, '000');
  // (the app core polls the helper by itself; what matters is that no import ever arrived)
  assert.ok(!fake.received.some((request) => request.type === 'import'), 'the helper never saw the call');
});

test('the user who started the host is served (the same requests, as root)', async () => {
  assert.equal((await curlAs(null, [host.url])).status, '200');
  const before = fake.received.length;
  assert.equal((await curlAs(null, importArgs())).status, '200');
  assert.ok(fake.received.slice(before).some((request) => request.type === 'import'));
});

test('/proc/net/tcp: the owner of the client end of a loopback connection, never the server end', () => {
  const table = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 1 1 0 20 4 30 10 -1',
    '   1: 0100007F:D431 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 2 1 0 20 4 30 10 -1',
  ].join('\n');
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] === 1) {
    assert.equal(loopbackPeerUid(table, 0x1f90, 0xd431), 1000);
    assert.equal(loopbackPeerUid(table, 0x1f90, 0xd432), null);
  }
});

test('chromium: the token is on no command line and in no environment; as root it runs as SUDO_USER through setpriv, sandboxed, or not at all', () => {
  const url = host.url;
  const args = chromiumAppArgs('/tmp/wirelane-window-x/open.html', '/tmp/wirelane-window-x');
  assert.ok(!args.some((arg) => arg.includes(TOKEN)) && !args.includes('--no-sandbox'));
  assert.ok(launcherPage(url).includes(`url=${url}`));

  assert.deepEqual(chromiumUser({}, 1000), { kind: 'self', uid: 1000 });
  const sudo = chromiumUser({ SUDO_UID: '1000', SUDO_GID: '1000', SUDO_USER: 'alice' }, 0);
  assert.deepEqual(sudo, { kind: 'sudo-user', uid: 1000, gid: 1000, name: 'alice' });
  assert.equal(chromiumUser({}, 0).kind, 'none');
  assert.equal(chromiumUser({ SUDO_UID: '0', SUDO_GID: '0', SUDO_USER: 'root' }, 0).kind, 'none');
  assert.ok(sudo.kind === 'sudo-user');
  const env = { DISPLAY: ':0', WIRELANE_HELPER_SOCKET: '/run/x', HOME: '/root', SECRET: 'x' };
  const command = chromiumCommand('/usr/bin/chromium', args, sudo, env, '/home/alice');
  assert.deepEqual(command.args.slice(0, 5), ['--reuid=1000', '--regid=1000', '--init-groups', '--', '/usr/bin/chromium']);
  assert.equal(command.file, 'setpriv');
  assert.equal(command.env['HOME'], '/home/alice');
  assert.equal(command.env['DISPLAY'], ':0');
  assert.equal(command.env['SECRET'], undefined);
  assert.ok(!JSON.stringify(command).includes(TOKEN));
});
