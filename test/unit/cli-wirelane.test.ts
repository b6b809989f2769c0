import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runWirelane, tunnelNameOfFile, type CliIo } from '../../engine/cli/wirelane.js';
import { formatBytes, formatDuration, formatShow } from '../../engine/helper/show-format.js';
import { helperDefaults } from '../../engine/helper/defaults.js';

function io(stdin = ''): CliIo & { out: string; err: string } {
  const sink = {
    out: '',
    err: '',
    stdout(text: string) {
      sink.out += text;
    },
    stderr(text: string) {
      sink.err += text;
    },
    readStdin: () => Promise.resolve(stdin),
    now: () => 1_700_000_000_000,
  };
  return sink;
}

test('genkey and pubkey work without the helper and agree with wg', async () => {
  const gen = io();
  assert.equal(await runWirelane(['--socket', '/nonexistent/helper.sock', 'genkey'], gen), 0);
  const privateKey = gen.out.trim();
  assert.match(privateKey, /^[A-Za-z0-9+/]{43}=$/);
  const pub = io(privateKey + '\n');
  assert.equal(await runWirelane(['--socket', '/nonexistent/helper.sock', 'pubkey'], pub), 0);
  const wg = spawnSync('wg', ['pubkey'], { input: privateKey, encoding: 'utf8' });
  if (wg.status === 0) assert.equal(pub.out, wg.stdout);
  const bad = io('not a key');
  assert.equal(await runWirelane(['pubkey'], bad), 1);
  assert.match(bad.err, /^the private key on stdin is not valid: /);
});

test('an unreachable helper gives one line saying what to do', async () => {
  const sink = io();
  assert.equal(await runWirelane(['--socket', '/nonexistent/helper.sock', 'list'], sink), 1);
  assert.equal(sink.err, 'cannot reach the helper at /nonexistent/helper.sock: is wirelane-helper running?\n');
});

test('usage mistakes exit 2 with a pointer to help', async () => {
  for (const args of [['frobnicate'], ['down'], ['up', 'a', 'b'], ['--bogus']]) {
    const sink = io();
    assert.equal(await runWirelane(['--socket', '/nonexistent', ...args], sink), 2, args.join(' '));
    assert.ok(sink.err.length > 0 && sink.err.split('\n').filter(Boolean).length === 1, sink.err);
  }
  const help = io();
  assert.equal(await runWirelane(['--help'], help), 0);
  assert.match(help.out, /^usage: wirelane/);
});

test('up FILE names the tunnel after the file, as wg-quick does, and refuses names it cannot use', async () => {
  assert.equal(tunnelNameOfFile('/etc/wireguard/office.conf'), 'office');
  assert.equal(tunnelNameOfFile('wg0.conf'), 'wg0');
  assert.throws(() => tunnelNameOfFile('/tmp/my office.conf'), /cannot name a tunnel: rename the file/);
  assert.throws(() => tunnelNameOfFile('/tmp/a-very-long-tunnel-name.conf'), /cannot name a tunnel/);
  const dir = mkdtempSync(join(tmpdir(), 'wirelane-cli-'));
  try {
    const sink = io();
    assert.equal(await runWirelane(['--socket', join(dir, 'none.sock'), 'import', join(dir, 'missing.conf')], sink), 1);
    // The file is read before the helper is asked, so its problem is the one reported.
    assert.equal(sink.err, `cannot read ${join(dir, 'missing.conf')}: no such file\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('show prints wg show lines plus the state, never a private key', () => {
  const now = 1_700_000_000_000;
  const text = formatShow(
    'office',
    { name: 'office', status: { state: 'connected', since: now - 65_000 }, latestHandshake: now - 5000, rxBytes: 2048, txBytes: 100, endpoint: '192.0.2.2:51820' },
    {
      interfaceName: 'office',
      publicKey: 'PUB=',
      listenPort: 51820,
      fwmark: 0xca6c,
      peers: [
        {
          publicKey: 'PEER=',
          hasPresharedKey: true,
          endpoint: '192.0.2.2:51820',
          allowedIps: ['10.0.0.2/32', 'fd00::/64'],
          latestHandshake: now - 5000,
          rxBytes: 2048,
          txBytes: 100,
          persistentKeepalive: 25,
        },
      ],
    },
    now,
  );
  assert.equal(
    text,
    [
      'interface: office',
      '  state: connected for 1 minute, 5 seconds',
      '  public key: PUB=',
      '  private key: (hidden)',
      '  listening port: 51820',
      '  fwmark: 0xca6c',
      '',
      'peer: PEER=',
      '  preshared key: (hidden)',
      '  endpoint: 192.0.2.2:51820',
      '  allowed ips: 10.0.0.2/32, fd00::/64',
      '  latest handshake: 5 seconds ago',
      '  transfer: 2.00 KiB received, 100 B sent',
      '  persistent keepalive: every 25 seconds',
      '',
    ].join('\n'),
  );
  assert.equal(formatBytes(1536 * 1024), '1.50 MiB');
  assert.equal(formatDuration(3600 * 24 + 1), '1 day, 1 second');
});

test('default socket and store per platform follow DESIGN.md', () => {
  assert.deepEqual(helperDefaults('linux'), { socket: '/run/wirelane/helper.sock', store: '/var/lib/wirelane' });
  assert.deepEqual(helperDefaults('darwin'), { socket: '/var/run/wirelane/helper.sock', store: '/Library/Application Support/Wirelane' });
  assert.deepEqual(helperDefaults('win32', { ProgramData: 'C:\\ProgramData' }), { socket: '\\\\.\\pipe\\wirelane-helper', store: 'C:\\ProgramData\\Wirelane' });
});
