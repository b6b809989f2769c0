/**
 * The helper's control server against a fake engine: malformed input never crashes it nor touches
 * the store, and only authorised users can connect.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHelper, type RunningHelper } from '../../engine/helper/helper.js';
import { HelperClient, HelperRequestError } from '../../engine/helper/client.js';
import { nobleBackend } from '../../engine/crypto/index.js';
import { silentLogger } from '../../engine/logger.js';
import type { RunningTunnel, TunnelLauncher } from '../../engine/helper/tunnel-manager.js';
import { repoPath } from '../support/paths.js';
import { noOs } from '../support/helper-fakes.js';

const PEER1 = readFileSync(repoPath('test', 'fixtures', 'conf', 'peer1.conf'), 'utf8');

function hashDir(dir: string): string {
  const hash = createHash('sha256');
  for (const entry of readdirSync(dir).sort()) {
    const stat = statSync(join(dir, entry));
    hash.update(`${entry}\0${stat.mode}\0`);
    if (stat.isFile()) hash.update(readFileSync(join(dir, entry)));
  }
  return hash.digest('hex');
}

/** A launcher whose tunnels come up at once and count their rx/tx. */
function fakeLauncher(): TunnelLauncher & { ups: string[] } {
  const ups: string[] = [];
  return {
    ups,
    async up(name): Promise<RunningTunnel> {
      ups.push(name);
      if (name === 'broken') throw new Error('cannot create the interface broken: simulated');
      return {
        stats: () => ({ latestHandshake: 1000, rxBytes: 10, txBytes: 20, endpoint: '192.0.2.2:51820' }),
        details: () => ({ interfaceName: name, publicKey: '', listenPort: 1, fwmark: 0, peers: [] }),
        rehandshakeAll() {},
        onClosed() {},
        down: () => Promise.resolve(),
      };
    },
  };
}

interface Fixture {
  root: string;
  socket: string;
  store: string;
  helper: RunningHelper;
}

const fixtures: Fixture[] = [];
after(async () => {
  for (const f of fixtures) {
    await f.helper.stop();
    rmSync(f.root, { recursive: true, force: true });
  }
});

async function start(groupFile?: string): Promise<Fixture> {
  const root = mkdtempSync(join(tmpdir(), 'wirelane-helper-'));
  // World-traversable, so only the socket's own permissions decide who may connect.
  chmodSync(root, 0o755);
  const socket = join(root, 'run', 'helper.sock');
  const store = join(root, 'store');
  const helper = await startHelper({
    socketPath: socket,
    storeDir: store,
    logger: silentLogger,
    crypto: nobleBackend,
    os: noOs,
    openTun: () => {
      throw new Error('not used');
    },
    createBind: () => {
      throw new Error('not used');
    },
    launcher: fakeLauncher(),
    watchNetwork: false,
    groupFile: groupFile ?? join(root, 'no-such-group-file'),
  });
  const fixture = { root, socket, store, helper };
  fixtures.push(fixture);
  return fixture;
}

/** Sends raw bytes and collects parsed replies until `count` have arrived (bounded). */
function exchange(socketPath: string, payload: Buffer[], count: number, timeoutMs = 30_000): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    const replies: unknown[] = [];
    let pending = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`only ${replies.length} of ${count} replies arrived`));
    }, timeoutMs);
    socket.on('data', (chunk) => {
      pending += chunk.toString('utf8');
      let nl;
      while ((nl = pending.indexOf('\n')) !== -1) {
        replies.push(JSON.parse(pending.slice(0, nl)));
        pending = pending.slice(nl + 1);
      }
      if (replies.length >= count) {
        clearTimeout(timer);
        socket.destroy();
        resolve(replies);
      }
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('connect', () => {
      for (const part of payload) socket.write(part);
    });
  });
}

/** A deterministic generator of hostile lines: junk bytes, wrong JSON, near-valid requests. */
function hostileLines(n: number): Buffer[] {
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const types = ['import', 'update', 'rename', 'delete', 'connect', 'list', 'export', 'nope', '__proto__', 'constructor', ''];
  const values: unknown[] = [null, true, 1e308, -1, 'x', '../../etc/passwd', 'a\nb', [], {}, 'office', 'x'.repeat(20), { $gt: 1 }];
  const lines: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    switch (i % 6) {
      case 0:
        lines.push(Buffer.from(randomBytes(1 + Math.floor(rand() * 64)).toString('latin1').replace(/\n/g, ' '), 'latin1'));
        break;
      case 1:
        lines.push(Buffer.from(pick(['{', '}', '[]', 'null', '"str"', '1', '{"id":', '{"id":1,"type":"list"', '\u0000'])));
        break;
      case 2:
        lines.push(Buffer.from(JSON.stringify({ id: i, type: pick(types), name: pick(values), confText: pick(values), newName: pick(values) })));
        break;
      case 3:
        lines.push(Buffer.from(JSON.stringify({ id: pick(values), type: pick(types) })));
        break;
      case 4:
        // Valid shape, invalid config text: must be refused without touching the store.
        lines.push(Buffer.from(JSON.stringify({ id: i, type: pick(['import', 'update']), name: 'office', confText: PEER1.replace('10.0.0.2/32', '10.0.0.2/33') })));
        break;
      default:
        lines.push(Buffer.from(JSON.stringify({ id: i, type: pick(['delete', 'rename', 'connect']), name: pick(['../x', 'a/b', '', '.', 'nul\u0000']), newName: 'x' })));
    }
  }
  return lines.map((l) => Buffer.concat([l, Buffer.from('\n')]));
}

test('10,000 malformed and hostile messages: one error reply each, no crash, store unchanged', async () => {
  const f = await start();
  const client = await HelperClient.connect(f.socket);
  await client.request('import', { name: 'office', confText: PEER1 });
  client.close();
  const before = hashDir(f.store);

  const lines = hostileLines(10_000);
  // Split the stream at odd places so framing across chunks is exercised too.
  const stream = Buffer.concat(lines);
  const chunks: Buffer[] = [];
  for (let at = 0; at < stream.length; at += 997) chunks.push(stream.subarray(at, at + 997));
  const replies = (await exchange(f.socket, chunks, lines.length)) as Array<{ ok: boolean; error?: { code: string } }>;
  assert.equal(replies.length, 10_000);
  const oks = replies.filter((r) => r.ok);
  assert.equal(oks.length, 0, `unexpected successes: ${JSON.stringify(oks.slice(0, 3))}`);
  for (const r of replies) assert.ok(r.error && typeof r.error.code === 'string');

  assert.equal(hashDir(f.store), before, 'the store changed');
  const again = await HelperClient.connect(f.socket);
  const version = await again.request('version', {});
  assert.equal(version.protocolVersion, 1);
  assert.deepEqual((await again.request('list', {})).tunnels.map((t) => t.name), ['office']);
  again.close();
});

test('an oversized message gets too_large and the connection keeps working', async () => {
  const f = await start();
  const big = Buffer.concat([Buffer.from('{"id":1,"type":"import","name":"big","confText":"'), Buffer.alloc(2 * 1024 * 1024, 0x61), Buffer.from('"}\n')]);
  const replies = (await exchange(f.socket, [big, Buffer.from('{"id":2,"type":"version"}\n')], 2)) as Array<{
    id: number | null;
    ok: boolean;
    error?: { code: string };
  }>;
  assert.deepEqual([replies[0]!.ok, replies[0]!.error?.code], [false, 'too_large']);
  assert.deepEqual([replies[1]!.id, replies[1]!.ok], [2, true]);
  assert.deepEqual(readdirSync(f.store).filter((e) => e.endsWith('.conf')), []);
});

test('import reports line-numbered problems and flags; update and delete are refused while connected', async () => {
  const f = await start();
  const client = await HelperClient.connect(f.socket);
  try {
    const bad = await client.request('import', { name: 'office', confText: PEER1.replace('10.0.0.2/32', '10.0.0.0/33') }).catch((e: unknown) => e);
    assert.ok(bad instanceof HelperRequestError);
    assert.equal(bad.error.code, 'invalid_config');
    assert.match(bad.message, /^line \d+: AllowedIPs: /);
    assert.ok((bad.error.problems ?? []).every((p) => p.line > 0));
    assert.deepEqual(readdirSync(f.store).filter((e) => e.endsWith('.conf')), []);

    const full = PEER1.replace('AllowedIPs = 10.0.0.2/32', 'AllowedIPs = 0.0.0.0/0, ::/0').replace('[Peer]', 'PostUp = touch /tmp/x\n[Peer]');
    const imported = await client.request('import', { name: 'office', confText: full });
    assert.deepEqual(imported, { name: 'office', hasScripts: true, fullTunnel: true, warnings: [] });
    const got = await client.request('get', { name: 'office' });
    assert.ok(!got.confText.includes('wDDg8T'), 'get must not reveal the private key');
    assert.ok((await client.request('export', { name: 'office' })).confText.includes('wDDg8T'));

    const connected = await client.request('connect', { name: 'office' });
    assert.equal(connected.status.status.state, 'connected');
    const before = hashDir(f.store);
    for (const attempt of [
      () => client.request('update', { name: 'office', confText: PEER1 }),
      () => client.request('delete', { name: 'office' }),
      () => client.request('rename', { name: 'office', newName: 'home' }),
    ]) {
      const refused = await attempt().catch((e: unknown) => e);
      assert.ok(refused instanceof HelperRequestError && refused.error.code === 'already_connected');
    }
    assert.equal(hashDir(f.store), before);
    assert.equal((await client.request('disconnect', { name: 'office' })).status.status.state, 'disconnected');
    const again = await client.request('disconnect', { name: 'office' }).catch((e: unknown) => e);
    assert.ok(again instanceof HelperRequestError && again.message === "tunnel 'office' is not connected");
  } finally {
    client.close();
  }
});

test('a failed connect reports failed {reason} and connect_failed', async () => {
  const f = await start();
  const client = await HelperClient.connect(f.socket);
  try {
    await client.request('import', { name: 'broken', confText: PEER1 });
    const err = await client.request('connect', { name: 'broken' }).catch((e: unknown) => e);
    assert.ok(err instanceof HelperRequestError && err.error.code === 'connect_failed');
    assert.match(err.message, /simulated/);
    const [status] = (await client.request('status', { name: 'broken' })).tunnels;
    assert.deepEqual(status?.status, { state: 'failed', reason: 'cannot create the interface broken: simulated' });
    const logs = await client.request('logs', { name: 'broken' });
    assert.ok(logs.entries.some((e) => e.level === 'error' && e.message.includes('simulated')));
  } finally {
    client.close();
  }
});

test('subscribers get status events at least once a second', async () => {
  const f = await start();
  const client = await HelperClient.connect(f.socket);
  try {
    await client.request('import', { name: 'office', confText: PEER1 });
    let events = 0;
    client.onEvent((e) => {
      if (e.event === 'status' && e.tunnels.some((t) => t.name === 'office')) events++;
    });
    await client.request('subscribe', {});
    await new Promise((r) => setTimeout(r, 2600));
    assert.ok(events >= 3, `only ${events} status events in 2.6 s`);
  } finally {
    client.close();
  }
});

function runAsNobody(socketPath: string, gid: number): { status: number | null; stdout: string; stderr: string } {
  const script = `const s=require('net').connect(${JSON.stringify(socketPath)});s.on('connect',()=>{console.log('CONNECTED');s.destroy()});s.on('error',e=>{console.log(e.code);});`;
  const r = spawnSync('setpriv', [`--reuid=65534`, `--regid=${gid}`, '--clear-groups', process.execPath, '-e', script], { encoding: 'utf8', timeout: 10_000 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? String(r.error ?? '') };
}

const canSwitchUser = process.getuid?.() === 0 && spawnSync('setpriv', ['--version']).status === 0;

test('without a wirelane group only root may connect: another user gets EACCES', { skip: !canSwitchUser && 'needs root and setpriv' }, async () => {
  const f = await start();
  assert.equal(statSync(f.socket).mode & 0o777, 0o600);
  assert.equal(statSync(join(f.root, 'run')).mode & 0o777, 0o755);
  const r = runAsNobody(f.socket, 65534);
  assert.equal(r.stdout.trim(), 'EACCES', r.stderr);
});

test('with a wirelane group, its members may connect and others may not', { skip: !canSwitchUser && 'needs root and setpriv' }, async () => {
  const groupDir = mkdtempSync(join(tmpdir(), 'wirelane-group-'));
  const groupFile = join(groupDir, 'group');
  writeFileSync(groupFile, 'root:x:0:\nwirelane:x:65534:\n');
  const f = await start(groupFile);
  assert.equal(statSync(f.socket).mode & 0o777, 0o660);
  assert.equal(statSync(f.socket).gid, 65534);
  assert.equal(runAsNobody(f.socket, 65534).stdout.trim(), 'CONNECTED');
  assert.equal(runAsNobody(f.socket, 65533).stdout.trim(), 'EACCES');
  rmSync(groupDir, { recursive: true, force: true });
});

const PSK = 'FpCyhws9cxwWoV4xELtfJvjJN+zQVRPISllRWgeopVE=';
const PEER1_PSK = PEER1.replace('AllowedIPs = 10.0.0.2/32', `AllowedIPs = 10.0.0.2/32\nPresharedKey = ${PSK}`);

test('get hides the keys as "(hidden)"; update with "(hidden)" keeps the stored keys, and an invalid key is still refused', async () => {
  const f = await start();
  const client = await HelperClient.connect(f.socket);
  try {
    await client.request('import', { name: 'office', confText: PEER1_PSK });
    const got = await client.request('get', { name: 'office' });
    assert.match(got.confText, /^PrivateKey = \(hidden\)$/m);
    assert.match(got.confText, /^PresharedKey = \(hidden\)$/m);
    assert.ok(!got.confText.includes('wDDg8T') && !got.confText.includes(PSK), 'no secret in what the editor loads');

    // The person edits the hidden text (new keepalive, CRLF line ends from a Windows editor) and saves.
    const edited = got.confText.replace('AllowedIPs = 10.0.0.2/32', 'AllowedIPs = 10.0.0.2/32\nPersistentKeepalive = 25').replace(/\n/g, '\r\n');
    assert.deepEqual(await client.request('update', { name: 'office', confText: edited }), { name: 'office', hasScripts: false, fullTunnel: false, warnings: [] });
    const stored = (await client.request('export', { name: 'office' })).confText;
    assert.match(stored, /^PrivateKey = wDDg8T\/0KoEEv7yTilcPctLGclgLFJECyGcrr\/\/qrk8=\r$/m);
    assert.ok(stored.includes(`PresharedKey = ${PSK}\r`));
    assert.match(stored, /PersistentKeepalive = 25/);
    assert.ok(!stored.includes('(hidden)'));

    // Any other invalid key is an error, with its line, and changes nothing.
    const before = hashDir(f.store);
    const wrong = await client.request('update', { name: 'office', confText: edited.replace('PrivateKey = (hidden)', 'PrivateKey = (hidden!)') }).catch((e: unknown) => e);
    assert.ok(wrong instanceof HelperRequestError && wrong.error.code === 'invalid_config');
    assert.ok(wrong.error.problems?.some((p) => p.line === 4 && /PrivateKey/.test(p.message)), JSON.stringify(wrong.error.problems));
    // "(hidden)" for a preshared key of a peer the store does not have: nothing to keep.
    const otherPeer = edited.replace('R+VLmyHEvy/22M18jvc02kexLqrt+rpm+pGb5jhapTk=', 'HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=');
    const orphan = await client.request('update', { name: 'office', confText: otherPeer }).catch((e: unknown) => e);
    assert.ok(orphan instanceof HelperRequestError && orphan.error.code === 'invalid_config');
    assert.match(orphan.message, /\(hidden\) keeps a stored key, but this tunnel has none stored/);
    // import never reads "(hidden)" as a stored key.
    const imported = await client.request('import', { name: 'copy', confText: got.confText }).catch((e: unknown) => e);
    assert.ok(imported instanceof HelperRequestError && imported.error.code === 'invalid_config');
    assert.equal(hashDir(f.store), before);
  } finally {
    client.close();
  }
});

test('validate reports line-numbered problems and flags without touching the store', async () => {
  const f = await start();
  const client = await HelperClient.connect(f.socket);
  try {
    await client.request('import', { name: 'office', confText: PEER1_PSK });
    const before = hashDir(f.store);
    const bad = await client.request('validate', { confText: PEER1.replace('Address = 10.0.0.1', 'Addres = 10.0.0.1').replace('10.0.0.2/32', '10.0.0.300/32') });
    assert.deepEqual(bad.problems.map((p) => p.line), [5, 11]);
    assert.deepEqual([bad.hasScripts, bad.fullTunnel], [false, false]);
    const good = await client.request('validate', { confText: PEER1.replace('AllowedIPs = 10.0.0.2/32', 'AllowedIPs = 0.0.0.0/0\n').replace('[Peer]', 'PostUp = echo up\n[Peer]') });
    // Valid, with the linter's warning beside it (IPv6 left outside), never among the problems.
    assert.deepEqual({ ...good, warnings: good.warnings?.map((w) => [w.line, w.severity]) }, { problems: [], hasScripts: true, fullTunnel: true, warnings: [[12, 'warning']] });
    // The editor's hidden text validates, against the stored tunnel or on its own.
    const hidden = (await client.request('get', { name: 'office' })).confText;
    assert.deepEqual((await client.request('validate', { confText: hidden, name: 'office' })).problems, []);
    assert.deepEqual((await client.request('validate', { confText: hidden })).problems, []);
    assert.equal((await client.request('validate', { confText: hidden.replace('(hidden)', 'nope') })).problems[0]?.line, 4);
    assert.equal(hashDir(f.store), before);
  } finally {
    client.close();
  }
});
