/**
 * The configuration linter: each warning on the smallest file that triggers it (with its line and
 * what it tells the person), the look-alikes that must not trigger it, the helper's validate and
 * import replies carrying the warnings (with the other stored tunnels compared), and
 * `wirelane check` on the fixture files in test/fixtures/conf/lint.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConf } from '../../engine/conf/parse.js';
import { lintConf, type ConfWarning } from '../../engine/conf/lint.js';
import { coversWholeFamily, prefixContains, prefixesOverlap } from '../../engine/routing/prefix-sets.js';
import { parseCidr, type Cidr } from '../../engine/routing/cidr.js';
import { nobleBackend } from '../../engine/crypto/index.js';
import { keyFromBase64 } from '../../engine/keys.js';
import type { TunnelConfig } from '../../engine/conf/types.js';
import { startHelper, type RunningHelper } from '../../engine/helper/helper.js';
import { HelperClient } from '../../engine/helper/client.js';
import { silentLogger } from '../../engine/logger.js';
import { runWirelane, type CliIo } from '../../engine/cli/wirelane.js';
import { repoPath } from '../support/paths.js';
import { noOs } from '../support/helper-fakes.js';

const OWN_PRIVATE = 'wDDg8T/0KoEEv7yTilcPctLGclgLFJECyGcrr//qrk8=';
const OWN_PUBLIC = 'FEXSLHpH3VtzAaQxmaiAjs/bQMYi7E1JAOU/aDzuCm4=';
const PEER_A = 'R+VLmyHEvy/22M18jvc02kexLqrt+rpm+pGb5jhapTk=';
const PEER_B = 'JLGh5OGWIpv/SJIbgEaLexac4bXAaLJxulkJkD02+2A=';
const lintDir = repoPath('test', 'fixtures', 'conf', 'lint');

function key(text: string): Uint8Array {
  const decoded = keyFromBase64(text);
  if (!decoded.ok) throw new Error(decoded.message);
  return decoded.key;
}

function parsed(text: string): TunnelConfig {
  const result = parseConf(text);
  if (!result.ok) throw new Error(`test config does not parse: ${JSON.stringify(result.errors)}`);
  return result.config;
}

function lint(text: string, otherTunnels: { name: string; text: string }[] = []): ConfWarning[] {
  return lintConf(text, parsed(text), {
    ownPublicKey: key(OWN_PUBLIC),
    otherTunnels: otherTunnels.map((o) => ({ name: o.name, config: parsed(o.text) })),
  });
}

/** A tunnel file: [Interface] lines, then one [Peer] per entry (lines of each). */
function conf(iface: string[], ...peers: string[][]): string {
  const parts = [['[Interface]', `PrivateKey = ${OWN_PRIVATE}`, ...iface].join('\n')];
  for (const peer of peers) parts.push(['[Peer]', ...peer].join('\n'));
  return `${parts.join('\n\n')}\n`;
}

function cidr(text: string): Cidr {
  const result = parseCidr(text);
  if (!result.ok) throw new Error(result.message);
  return result.cidr;
}

test('prefix sets: containment, overlap and whole-family cover however it is written', () => {
  assert.ok(prefixContains(cidr('10.0.0.0/8'), cidr('10.20.0.0/16')));
  assert.ok(!prefixContains(cidr('10.20.0.0/16'), cidr('10.0.0.0/8')));
  assert.ok(prefixesOverlap(cidr('10.20.0.0/16'), cidr('10.0.0.0/8')));
  assert.ok(!prefixesOverlap(cidr('10.0.0.0/9'), cidr('10.128.0.0/9')));
  assert.ok(!prefixesOverlap(cidr('10.0.0.0/8'), cidr('fd00::/8')));
  assert.ok(coversWholeFamily([cidr('0.0.0.0/0')], 4));
  assert.ok(coversWholeFamily([cidr('128.0.0.0/1'), cidr('0.0.0.0/1')], 4));
  assert.ok(coversWholeFamily([cidr('0.0.0.0/2'), cidr('64.0.0.0/2'), cidr('128.0.0.0/1'), cidr('10.0.0.0/8')], 4));
  assert.ok(!coversWholeFamily([cidr('0.0.0.0/1'), cidr('128.0.0.0/2')], 4), 'a quarter is missing');
  assert.ok(!coversWholeFamily([cidr('0.0.0.0/1'), cidr('128.0.0.0/1')], 6), 'IPv4 halves say nothing about IPv6');
  assert.ok(coversWholeFamily([cidr('::/1'), cidr('8000::/1')], 6));
  assert.ok(!coversWholeFamily([], 4));
});

test('a clean split tunnel and the example fixtures give no warning', () => {
  const clean = conf(['Address = 10.0.0.1/32', 'ListenPort = 51820', 'DNS = 10.0.0.53'], [`PublicKey = ${PEER_A}`, 'Endpoint = 192.0.2.2:51820', 'AllowedIPs = 10.0.0.0/24']);
  assert.deepEqual(lint(clean), []);
  for (const file of ['peer1.conf', 'peer2.conf', 'laptop-full.conf', 'peer1-lan.conf', 'peer2-lan.conf']) {
    const text = readFileSync(repoPath('test', 'fixtures', 'conf', file), 'utf8');
    const result = parseConf(text);
    assert.ok(result.ok, file);
    const own = nobleBackend.publicKey(result.config.interface.privateKey);
    assert.deepEqual(lintConf(text, result.config, { ownPublicKey: own }), [], file);
  }
});

test('0.0.0.0/0 without ::/0: IPv6 leaks past the tunnel unless the kill switch blocks it', () => {
  const text = conf(['Address = 10.0.0.1/32'], [`PublicKey = ${PEER_A}`, 'Endpoint = 192.0.2.2:51820', 'AllowedIPs = 0.0.0.0/0']);
  const warnings = lint(text);
  assert.equal(warnings.length, 1, JSON.stringify(warnings));
  assert.equal(warnings[0]!.line, 8);
  assert.equal(warnings[0]!.key, 'AllowedIPs');
  assert.match(warnings[0]!.message, /IPv6 connections leave outside it/);
  assert.match(warnings[0]!.message, /kill switch/);
  assert.match(warnings[0]!.message, /add ::\/0/);
  // Both families: nothing to say; ::/0 alone: the IPv4 side leaks.
  assert.deepEqual(lint(text.replace('AllowedIPs = 0.0.0.0/0', 'AllowedIPs = 0.0.0.0/0, ::/0')), []);
  assert.match(lint(text.replace('AllowedIPs = 0.0.0.0/0', 'AllowedIPs = ::/0'))[0]!.message, /IPv4 connections leave outside it/);
  // Table = off: the tunnel routes nothing itself, so AllowedIPs decide no leak.
  assert.deepEqual(lint(text.replace('Address = 10.0.0.1/32', 'Address = 10.0.0.1/32\nTable = off')), []);
});

test('/1 halves or any other set that routes everything: a full tunnel in disguise', () => {
  const text = conf(['Address = 10.0.0.1/32'], [`PublicKey = ${PEER_A}`, 'Endpoint = vpn.example.com:51820', 'AllowedIPs = 0.0.0.0/1, 128.0.0.0/1, ::/0']);
  const warnings = lint(text);
  assert.equal(warnings.length, 1, JSON.stringify(warnings));
  assert.equal(warnings[0]!.line, 8);
  assert.match(warnings[0]!.message, /^0\.0\.0\.0\/1, 128\.0\.0\.0\/1 together cover every IPv4 address: this is a full tunnel/);
  assert.match(warnings[0]!.message, /write 0\.0\.0\.0\/0 so the file says what it does/);
  // Spread over two peers and in quarters, still everything.
  const spread = conf(
    ['Address = 10.0.0.1/32'],
    [`PublicKey = ${PEER_A}`, 'AllowedIPs = 0.0.0.0/2, 64.0.0.0/2, ::/0'],
    [`PublicKey = ${PEER_B}`, 'AllowedIPs = 128.0.0.0/1'],
  );
  assert.ok(lint(spread).some((w) => /cover every IPv4 address/.test(w.message)));
  // Three quarters is not a full tunnel.
  const partial = conf(['Address = 10.0.0.1/32', 'ListenPort = 1'], [`PublicKey = ${PEER_A}`, 'AllowedIPs = 0.0.0.0/2, 64.0.0.0/2, 128.0.0.0/2']);
  assert.deepEqual(lint(partial), []);
});

test('the same prefix on two peers: the earlier peer loses it; a nested prefix is explained', () => {
  const text = conf(
    ['Address = 10.0.0.1/24', 'ListenPort = 51820'],
    [`PublicKey = ${PEER_A}`, 'AllowedIPs = 10.0.0.2/32, 10.20.0.0/16'],
    [`PublicKey = ${PEER_B}`, 'AllowedIPs = 10.0.0.2/32', 'AllowedIPs = 10.20.5.0/24'],
  );
  const warnings = lint(text);
  assert.equal(warnings.length, 2, JSON.stringify(warnings));
  assert.equal(warnings[0]!.line, 8);
  assert.match(warnings[0]!.message, /^10\.0\.0\.2\/32 is also in the AllowedIPs of the peer on line 10; WireGuard routes a prefix to one peer only/);
  assert.equal(warnings[1]!.line, 13);
  assert.match(warnings[1]!.message, /^10\.20\.5\.0\/24 lies inside 10\.20\.0\.0\/16 of the peer on line 6/);
  // A specific route beside a default route (a hub) is fine.
  const hub = conf(
    ['Address = 10.0.0.1/24', 'ListenPort = 51820'],
    [`PublicKey = ${PEER_A}`, 'AllowedIPs = 0.0.0.0/0, ::/0'],
    [`PublicKey = ${PEER_B}`, 'AllowedIPs = 10.0.0.3/32'],
  );
  assert.deepEqual(lint(hub), []);
});

test('prefixes overlapping another stored tunnel name that tunnel; full tunnels beside split ones are normal', () => {
  const text = conf(['Address = 10.0.0.1/32', 'ListenPort = 51820'], [`PublicKey = ${PEER_A}`, 'AllowedIPs = 10.0.0.0/24, 172.16.0.0/16']);
  const office = conf(['Address = 10.9.0.1/32', 'ListenPort = 1'], [`PublicKey = ${PEER_B}`, 'AllowedIPs = 10.0.0.0/24']);
  const lab = conf(['Address = 10.8.0.1/32', 'ListenPort = 1'], [`PublicKey = ${PEER_B}`, 'AllowedIPs = 172.16.4.0/24']);
  const vpn = conf(['Address = 10.7.0.1/32'], [`PublicKey = ${PEER_B}`, 'AllowedIPs = 0.0.0.0/0, ::/0']);
  const warnings = lint(text, [
    { name: 'office', text: office },
    { name: 'lab', text: lab },
    { name: 'vpn', text: vpn },
  ]);
  assert.equal(warnings.length, 2, JSON.stringify(warnings));
  assert.equal(warnings[0]!.line, 8);
  assert.match(warnings[0]!.message, /^10\.0\.0\.0\/24 is also routed by the tunnel 'office': the two cannot be connected at the same time/);
  assert.match(warnings[1]!.message, /^172\.16\.0\.0\/16 overlaps 172\.16\.4\.0\/24 of the tunnel 'lab'/);
  assert.deepEqual(lint(text), [], 'without other tunnels there is nothing to compare');
});

test('an Endpoint inside the tunnel\'s own AllowedIPs without full-tunnel routing: a routing loop', () => {
  const text = conf(['Address = 10.0.0.1/32', 'ListenPort = 51820'], [`PublicKey = ${PEER_A}`, 'Endpoint = 192.0.2.2:51820', 'AllowedIPs = 10.0.0.0/24, 192.0.2.0/24']);
  const warnings = lint(text);
  assert.equal(warnings.length, 1, JSON.stringify(warnings));
  assert.equal(warnings[0]!.line, 8);
  assert.equal(warnings[0]!.key, 'Endpoint');
  assert.match(warnings[0]!.message, /^192\.0\.2\.2 is inside this tunnel's AllowedIPs \(192\.0\.2\.0\/24 on line 9\)/);
  assert.match(warnings[0]!.message, /a loop/);
  // 0.0.0.0/0 gets policy routing that keeps the endpoint outside: no loop.
  assert.deepEqual(lint(text.replace('10.0.0.0/24, 192.0.2.0/24', '0.0.0.0/0, ::/0')), []);
  // So do /1 halves, which the helper routes as a full tunnel too: only the disguise is reported.
  const halves = lint(text.replace('10.0.0.0/24, 192.0.2.0/24', '0.0.0.0/1, 128.0.0.0/1, ::/0'));
  assert.deepEqual(halves.map((w) => w.key), ['AllowedIPs'], JSON.stringify(halves));
  // 0.0.0.0/0 in the main table (Table = main) has no policy routing: a loop, and the way out.
  const mainTable = lint(text.replace('ListenPort = 51820', 'ListenPort = 51820\nTable = main').replace('10.0.0.0/24, 192.0.2.0/24', '0.0.0.0/0, ::/0'));
  assert.ok(mainTable.some((w) => w.key === 'Endpoint' && /set Table = auto/.test(w.message)), JSON.stringify(mainTable));
  // A hostname is resolved at connect time: nothing to say from the file.
  assert.deepEqual(lint(text.replace('192.0.2.2:51820', 'vpn.example.com:51820')), []);
  // An IPv6 endpoint inside an IPv6 prefix.
  const six = conf(['Address = fd00::1/128', 'ListenPort = 51820'], [`PublicKey = ${PEER_A}`, 'Endpoint = [2001:db8::2]:51820', 'AllowedIPs = 2001:db8::/32']);
  assert.equal(lint(six)[0]?.key, 'Endpoint');
});

test('DNS servers outside every peer\'s AllowedIPs: lookups travel outside the tunnel', () => {
  const text = conf(['Address = 10.0.0.1/32', 'ListenPort = 51820', 'DNS = 10.0.0.53, 198.51.100.53', 'DNS = 2001:db8::53, corp.example'], [`PublicKey = ${PEER_A}`, 'AllowedIPs = 10.0.0.0/24']);
  const warnings = lint(text);
  assert.deepEqual(
    warnings.map((w) => [w.line, w.key]),
    [
      [5, 'DNS'],
      [6, 'DNS'],
    ],
  );
  assert.match(warnings[0]!.message, /^the DNS server 198\.51\.100\.53 is not inside any peer's AllowedIPs, so name lookups go to it outside the tunnel/);
  assert.match(warnings[0]!.message, /add 198\.51\.100\.53\/32 to the AllowedIPs/);
  assert.match(warnings[1]!.message, /2001:db8::53\/128/);
  assert.deepEqual(lint(text.replace('AllowedIPs = 10.0.0.0/24', 'AllowedIPs = 0.0.0.0/0, ::/0')), []);
});

test('a peer that is the tunnel\'s own key', () => {
  const text = conf(['Address = 10.0.0.1/32', 'ListenPort = 51820'], [`PublicKey = ${OWN_PUBLIC}`, 'AllowedIPs = 10.0.0.2/32']);
  const warnings = lint(text);
  assert.equal(warnings.length, 1);
  assert.equal(warnings[0]!.line, 7);
  assert.equal(warnings[0]!.key, 'PublicKey');
  assert.match(warnings[0]!.message, /^this is the tunnel's own public key/);
  assert.match(warnings[0]!.message, /put the public key of the other side here/);
});

test('PersistentKeepalive missing where this side dials out from a random port with a private address', () => {
  const text = conf(['Address = 10.0.0.7/24'], [`PublicKey = ${PEER_A}`, 'Endpoint = 203.0.113.10:51820', 'AllowedIPs = 10.0.0.0/24']);
  const warnings = lint(text);
  assert.equal(warnings.length, 1, JSON.stringify(warnings));
  assert.equal(warnings[0]!.line, 7);
  assert.equal(warnings[0]!.key, 'PersistentKeepalive');
  assert.match(warnings[0]!.message, /the peer can no longer reach 10\.0\.0\.7/);
  assert.match(warnings[0]!.message, /add PersistentKeepalive = 25 to this peer/);
  // What we can know rules it out: a keepalive, a fixed ListenPort, no endpoint, a full tunnel.
  assert.deepEqual(lint(text.replace('AllowedIPs = 10.0.0.0/24', 'AllowedIPs = 10.0.0.0/24\nPersistentKeepalive = 25')), []);
  assert.deepEqual(lint(text.replace('Address = 10.0.0.7/24', 'Address = 10.0.0.7/24\nListenPort = 51820')), []);
  assert.deepEqual(lint(text.replace('Endpoint = 203.0.113.10:51820\n', '')), []);
  assert.deepEqual(lint(text.replace('AllowedIPs = 10.0.0.0/24', 'AllowedIPs = 0.0.0.0/0, ::/0')), []);
  // A public tunnel address is not the private-network layout.
  assert.deepEqual(lint(text.replace('Address = 10.0.0.7/24', 'Address = 203.0.113.7/32')), []);
});

// --- the helper: validate, import and update carry warnings ----------------------------------------

const started: { root: string; helper: RunningHelper }[] = [];
after(async () => {
  for (const s of started) {
    await s.helper.stop();
    rmSync(s.root, { recursive: true, force: true });
  }
});

async function helperFixture(): Promise<{ socket: string }> {
  const root = mkdtempSync(join(tmpdir(), 'wirelane-lint-'));
  const socket = join(root, 'run', 'helper.sock');
  const helper = await startHelper({
    socketPath: socket,
    storeDir: join(root, 'store'),
    logger: silentLogger,
    crypto: nobleBackend,
    os: noOs,
    openTun: () => {
      throw new Error('not used');
    },
    createBind: () => {
      throw new Error('not used');
    },
    launcher: { up: () => Promise.reject(new Error('not used')) },
    watchNetwork: false,
    groupFile: join(root, 'no-such-group-file'),
  });
  started.push({ root, helper });
  return { socket };
}

function io(): CliIo & { out: string; err: string } {
  const sink = {
    out: '',
    err: '',
    stdout(text: string) {
      sink.out += text;
    },
    stderr(text: string) {
      sink.err += text;
    },
    readStdin: () => Promise.resolve(''),
    now: () => 0,
  };
  return sink;
}

test('the helper\'s validate, import and update replies carry the warnings, compared with the other stored tunnels', async () => {
  const { socket } = await helperFixture();
  const client = await HelperClient.connect(socket);
  try {
    const office = conf(['Address = 10.9.0.1/32', 'ListenPort = 1'], [`PublicKey = ${PEER_B}`, 'AllowedIPs = 10.0.0.0/24']);
    const officeImport = await client.request('import', { name: 'office', confText: office });
    assert.deepEqual(officeImport.warnings, []);

    const text = conf(['Address = 10.0.0.1/32', 'ListenPort = 51820', 'DNS = 198.51.100.53'], [`PublicKey = ${PEER_A}`, 'AllowedIPs = 10.0.0.0/24']);
    const checked = await client.request('validate', { confText: text });
    assert.deepEqual(checked.problems, [], 'warnings are not problems: an old client still sees a valid file');
    assert.deepEqual(
      checked.warnings?.map((w) => [w.line, w.severity, w.message.slice(0, 40)]),
      [
        [5, 'warning', 'DNS: the DNS server 198.51.100.53 is not'],
        [9, 'warning', 'AllowedIPs: 10.0.0.0/24 is also routed b'],
      ],
    );
    assert.match(checked.warnings?.[1]?.message ?? '', /tunnel 'office'/);

    const imported = await client.request('import', { name: 'home', confText: text });
    assert.equal(imported.warnings?.length, 2, 'a warning does not stop the import');
    // Its own stored copy is not "another tunnel": update compares with office only.
    const updated = await client.request('update', { name: 'home', confText: text.replace('DNS = 198.51.100.53\n', '') });
    assert.deepEqual(updated.warnings?.map((w) => w.line), [8]);
    const again = await client.request('validate', { confText: text, name: 'home' });
    assert.equal(again.warnings?.length, 2);

    // wirelane check asks the helper, so it sees the stored tunnels too.
    const sink = io();
    assert.equal(await runWirelane(['--socket', socket, 'check', join(lintDir, 'clean.conf')], sink), 0);
    const lines = sink.out.split('\n').filter(Boolean);
    assert.equal(lines.length, 2, sink.out);
    assert.match(lines[0]!, /^line 11: warning: AllowedIPs: 10\.0\.0\.0\/24 is also routed by the tunnel 'home'/);
    assert.match(lines[1]!, /^line 11: warning: AllowedIPs: 10\.0\.0\.0\/24 is also routed by the tunnel 'office'/);
  } finally {
    client.close();
  }
});

// --- wirelane check on the fixtures ------------------------------------------------------------------

/** What `wirelane check` says about each fixture with no helper running: [exit status, lines]. */
const expected: Record<string, [number, RegExp[]]> = {
  'clean.conf': [0, []],
  'ipv6-leak.conf': [0, [/^line 9: warning: AllowedIPs: all IPv4 traffic goes through the tunnel but IPv6 does not/]],
  'halves.conf': [
    0,
    [/^line 9: warning: AllowedIPs: 0\.0\.0\.0\/1, 128\.0\.0\.0\/1 together cover every IPv4 address/, /^line 10: warning: AllowedIPs: ::\/1, 8000::\/1 together cover every IPv6 address/],
  ],
  'peer-overlap.conf': [0, [/^line 10: warning: AllowedIPs: 10\.0\.0\.2\/32 is also in the AllowedIPs of the peer on line 12/, /^line 15: warning: AllowedIPs: 10\.20\.5\.0\/24 lies inside 10\.20\.0\.0\/16/]],
  'endpoint-loop.conf': [0, [/^line 9: warning: Endpoint: 192\.0\.2\.2 is inside this tunnel's AllowedIPs \(192\.0\.2\.0\/24 on line 10\)/]],
  'dns-outside.conf': [0, [/^line 6: warning: DNS: the DNS server 198\.51\.100\.53 is not inside any peer's AllowedIPs/]],
  'own-key.conf': [0, [/^line 8: warning: PublicKey: this is the tunnel's own public key/]],
  'no-keepalive.conf': [0, [/^line 8: warning: PersistentKeepalive: this side connects out from a random port/]],
  'error-and-warning.conf': [1, [/^line 12: AllowedIPs: /]],
};

test('wirelane check FILE: one line per problem and warning with its line number, exit 1 on errors only, silent when clean', async () => {
  assert.deepEqual(readdirSync(lintDir).sort(), Object.keys(expected).sort(), 'every fixture has its expectation');
  const noHelper = join(tmpdir(), 'wirelane-lint-no-helper', 'helper.sock');
  for (const [file, [status, lines]] of Object.entries(expected)) {
    const sink = io();
    assert.equal(await runWirelane(['--socket', noHelper, 'check', join(lintDir, file)], sink), status, `${file}: ${sink.out}${sink.err}`);
    assert.equal(sink.err, '', file);
    const printed = sink.out.split('\n').filter(Boolean);
    assert.equal(printed.length, lines.length, `${file}:\n${sink.out}`);
    lines.forEach((pattern, i) => assert.match(printed[i]!, pattern, file));
  }
  const usage = io();
  assert.equal(await runWirelane(['check'], usage), 2);
  const missing = io();
  assert.equal(await runWirelane(['--socket', noHelper, 'check', join(lintDir, 'none.conf')], missing), 1);
  assert.match(missing.err, /no such file/);
});
