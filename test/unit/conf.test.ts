/**
 * The wg-quick .conf parser and serialiser, on the example tunnels people bring
 * (test/fixtures/conf, copied from the project's shared examples) and on every error case.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { repoPath } from '../support/paths.js';
import { formatConfError, parseConf } from '../../engine/conf/parse.js';
import { serialiseConf, serialiseSetconf } from '../../engine/conf/serialise.js';
import { endpointHostnames, toUapiSetRequest } from '../../engine/conf/to-uapi.js';
import type { ConfError, TunnelConfig } from '../../engine/conf/types.js';
import { keyToBase64 } from '../../engine/keys.js';
import { formatCidr } from '../../engine/routing/cidr.js';

const fixtureDir = repoPath('test', 'fixtures', 'conf');
const fixture = (name: string) => readFileSync(`${fixtureDir}/${name}`, 'utf8');
const validFixtures = readdirSync(fixtureDir).filter((f) => f.endsWith('.conf') && f !== 'broken.conf');

const PRIV = 'wDDg8T/0KoEEv7yTilcPctLGclgLFJECyGcrr//qrk8=';
const PUB1 = 'R+VLmyHEvy/22M18jvc02kexLqrt+rpm+pGb5jhapTk=';
const PUB2 = 'FEXSLHpH3VtzAaQxmaiAjs/bQMYi7E1JAOU/aDzuCm4=';

function parseOk(text: string): TunnelConfig {
  const r = parseConf(text);
  if (!r.ok) assert.fail(`expected the file to parse, got:\n${r.errors.map(formatConfError).join('\n')}`);
  return r.config;
}

function parseErrors(text: string): ConfError[] {
  const r = parseConf(text);
  assert.equal(r.ok, false, 'expected errors');
  return r.ok ? [] : r.errors;
}

/** A minimal valid file with `extraInterface` lines and `peer` lines appended. */
function conf(extraInterface: string[] = [], peer: string[] = [`PublicKey = ${PUB1}`]): string {
  return ['[Interface]', `PrivateKey = ${PRIV}`, ...extraInterface, '', '[Peer]', ...peer, ''].join('\n');
}

test('laptop-full.conf: every field lands where it belongs', () => {
  const c = parseOk(fixture('laptop-full.conf'));
  assert.equal(keyToBase64(c.interface.privateKey), PRIV);
  assert.deepEqual(c.interface.addresses.map(formatCidr), ['10.0.0.1/24', 'fd00:77::1/64'], 'host bits kept');
  assert.deepEqual(c.interface.dns, { servers: ['10.0.0.2'], searchDomains: ['corp.example'] });
  assert.equal(c.interface.mtu, 1420);
  assert.equal(c.interface.listenPort, undefined);
  assert.equal(c.interface.saveConfig, false);
  assert.equal(c.peers.length, 1);
  const peer = c.peers[0]!;
  assert.equal(keyToBase64(peer.publicKey), PUB1);
  assert.equal(keyToBase64(peer.presharedKey!), 'RJudMALcyVjJ7PPabr/FzwdXPW8NEC6aES+FscfmqjA=');
  assert.deepEqual(peer.endpoint, { host: '192.0.2.2', port: 51820 });
  assert.deepEqual(peer.allowedIps.map(formatCidr), ['0.0.0.0/0', '::/0']);
  assert.equal(peer.persistentKeepalive, 25);
});

test('peer2-lan.conf keeps its PostUp/PostDown scripts verbatim', () => {
  const c = parseOk(fixture('peer2-lan.conf'));
  assert.deepEqual(c.interface.postUp, [
    'iptables -A FORWARD -i %i -j ACCEPT; iptables -A FORWARD -o %i -j ACCEPT; iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE',
  ]);
  assert.equal(c.interface.postDown.length, 1);
  assert.deepEqual(c.interface.addresses.map(formatCidr), ['10.0.0.2/32'], 'a bare address is a /32');
});

test('every example round-trips through serialise and parse', () => {
  assert.ok(validFixtures.length >= 5);
  for (const name of validFixtures) {
    const first = parseOk(fixture(name));
    const text = serialiseConf(first);
    assert.deepEqual(parseOk(text), first, name);
    assert.equal(serialiseConf(parseOk(text)), text, `${name}: serialising is stable`);
  }
});

test('a config using every key round-trips, in wg-quick spelling', () => {
  const text = [
    '[interface]',
    `privatekey=${PRIV}`,
    'LISTENPORT = 51820',
    'FwMark = 0x1234',
    'Address = 10.0.0.1/24,fd00::1/64',
    'Address = 10.0.1.1',
    'DNS = 1.1.1.1, 2606:4700:4700::1111, example.com, corp.example',
    'MTU = 1280',
    'Table = off',
    'PreUp = echo one',
    'PostUp = echo two',
    'PreUp = echo three',
    'PreDown = echo four',
    'PostDown = echo five',
    'SaveConfig = true',
    '[PEER]',
    `PublicKey = ${PUB1}`,
    `PresharedKey = ${PUB2}`,
    'AllowedIPs = 10.0.0.0/24',
    'AllowedIPs = 192.168.1.77/24, fd00::/64',
    'Endpoint = [fd00::2]:51820',
    'PersistentKeepalive = off',
    '[Peer]',
    `PublicKey = ${PUB2}`,
    'Endpoint = vpn.example.com:443',
    'AllowedIPs =',
  ].join('\n');
  const c = parseOk(text);
  assert.equal(c.interface.fwMark, 0x1234);
  assert.equal(c.interface.table, 'off');
  assert.deepEqual(c.interface.preUp, ['echo one', 'echo three'], 'a repeated key keeps its order');
  assert.deepEqual(c.interface.dns, { servers: ['1.1.1.1', '2606:4700:4700::1111'], searchDomains: ['example.com', 'corp.example'] });
  assert.deepEqual(c.interface.addresses.map(formatCidr), ['10.0.0.1/24', 'fd00::1/64', '10.0.1.1/32']);
  assert.deepEqual(c.peers[0]!.allowedIps.map(formatCidr), ['10.0.0.0/24', '192.168.1.0/24', 'fd00::/64'], 'allowed IPs are masked');
  assert.deepEqual(c.peers[0]!.endpoint, { host: 'fd00::2', port: 51820 });
  assert.equal(c.peers[0]!.persistentKeepalive, 0);
  assert.deepEqual(c.peers[1]!.endpoint, { host: 'vpn.example.com', port: 443 });
  assert.deepEqual(c.peers[1]!.allowedIps, []);
  const out = serialiseConf(c);
  assert.deepEqual(parseOk(out), c);
  for (const key of ['PrivateKey', 'ListenPort', 'FwMark', 'Address', 'DNS', 'MTU', 'Table', 'PreUp', 'PostUp', 'PreDown', 'PostDown', 'SaveConfig', 'PublicKey', 'PresharedKey', 'AllowedIPs', 'Endpoint', 'PersistentKeepalive']) {
    assert.match(out, new RegExp(`^${key} = `, 'm'), key);
  }
  assert.match(out, /^Endpoint = \[fd00::2\]:51820$/m);
});

test('comments, CRLF line ends, a byte-order mark and odd spacing are accepted', () => {
  const text = `\ufeff# exported from somewhere\r\n[Interface]   # the device\r\n  PrivateKey=${PRIV}   \r\n\tAddress =  10.0.0.1/24 ,  10.0.0.2/32 # two\r\n[Peer]\r\nPublicKey = ${PUB1}\r\n`;
  const c = parseOk(text);
  assert.deepEqual(c.interface.addresses.map(formatCidr), ['10.0.0.1/24', '10.0.0.2/32']);
});

test('broken.conf gives exactly one error per broken line', () => {
  const errors = parseErrors(fixture('broken.conf'));
  assert.deepEqual(
    errors.map((e) => [e.line, e.key]),
    [
      [2, 'PrivateKey'],
      [3, 'Address'],
      [4, 'ListenPort'],
      [5, 'Colour'],
      [9, 'AllowedIPs'],
      [10, 'Endpoint'],
      [11, 'PersistentKeepalive'],
    ],
  );
  const text = errors.map(formatConfError);
  assert.equal(text[4], "line 9: AllowedIPs: '10.0.0.300/32' is not a valid CIDR");
  assert.equal(text[2], "line 4: ListenPort: '70000' is not a valid port (0 to 65535)");
  assert.equal(text[3], "line 5: Colour: unknown key 'Colour'");
  assert.match(text[5]!, /has no port/);
  assert.ok(!text[0]!.includes('not-a-key'), 'a bad key is not echoed back (it may be a mistyped secret)');
});

test('each kind of mistake is reported on its line with its key', () => {
  const cases: [string, number, string, RegExp][] = [
    [conf([], [`PublicKey = ${PUB1}`, 'AllowedIPs = 10.0.0.0/33']), 6, 'AllowedIPs', /^'10\.0\.0\.0\/33' is not a valid CIDR$/],
    [conf([], [`PublicKey = ${PUB1}`, 'AllowedIPs = fd00::/129']), 6, 'AllowedIPs', /not a valid CIDR/],
    [conf(['ListenPort = 65536']), 3, 'ListenPort', /not a valid port/],
    [conf(['ListenPort = -1']), 3, 'ListenPort', /not a valid port/],
    [conf([], [`PublicKey = ${PUB1}`, 'Endpoint = 192.0.2.1:0']), 6, 'Endpoint', /not a valid port/],
    [conf([], [`PublicKey = ${PUB1}`, 'Endpoint = 192.0.2.1:65536']), 6, 'Endpoint', /not a valid port/],
    [conf([], [`PublicKey = ${PUB1}`, 'Endpoint = vpn.example.com']), 6, 'Endpoint', /has no port/],
    [conf([], [`PublicKey = ${PUB1}`, 'Endpoint = [fd00::1]']), 6, 'Endpoint', /has no port/],
    [conf([], [`PublicKey = ${PUB1}`, 'Endpoint = fd00::1:51820']), 6, 'Endpoint', /brackets/],
    [conf([], [`PublicKey = ${PUB1}`, 'Endpoint = 192.0.2.300:51820']), 6, 'Endpoint', /not a valid IPv4/],
    [conf([], [`PublicKey = ${PUB1}`, 'PersistentKeepalive = -5']), 6, 'PersistentKeepalive', /not a valid keepalive/],
    [conf([], [`PublicKey = ${PUB1}`, 'PersistentKeepalive = 99999999999999999999']), 6, 'PersistentKeepalive', /not a valid keepalive/],
    [conf([], [`PublicKey = ${PUB1}`, 'PresharedKey = abc']), 6, 'PresharedKey', /not a valid key/],
    [conf([], ['PublicKey = R+VLmyHEvy/22M18jvc02kexLqrt+rpm+pGb5jhapTl=']), 5, 'PublicKey', /canonical/],
    [conf(['MTU = 1420', 'MTU = 1280']), 4, 'MTU', /appears twice.*line 3/],
    [conf([`PrivateKey = ${PRIV}`]), 3, 'PrivateKey', /appears twice/],
    [conf([], [`PublicKey = ${PUB1}`, 'Endpoint = 192.0.2.1:1', 'Endpoint = 192.0.2.1:2']), 7, 'Endpoint', /appears twice/],
    [conf(['Table = sometimes']), 3, 'Table', /not a valid table/],
    [conf(['SaveConfig = yes']), 3, 'SaveConfig', /neither true nor false/],
    [conf(['MTU = 0']), 3, 'MTU', /not a valid MTU/],
    [conf(['FwMark = 0x1ffffffff']), 3, 'FwMark', /not a valid firewall mark/],
    [conf(['DNS = 10.0.0.300']), 3, 'DNS', /not a valid DNS server/],
    [conf(['DNS = bad domain!']), 3, 'DNS', /search domain/],
    [conf(['Address = 10.0.0.1/33']), 3, 'Address', /not a valid address/],
    [conf(['MTU =']), 3, 'MTU', /has no value/],
    [conf(['Endpoint = 192.0.2.1:51820']), 3, 'Endpoint', /belongs in a \[Peer\]/],
    [conf([], [`PublicKey = ${PUB1}`, 'ListenPort = 1']), 6, 'ListenPort', /belongs in the \[Interface\]/],
    [conf(['Colour = blue']), 3, 'Colour', /unknown key 'Colour'/],
    [conf(['just some words']), 3, '', /expected 'Key = Value'/],
    [conf(['[Wat]']), 3, '', /unknown section/],
    [conf(['PostUp = echo \u0007bell']), 3, '', /control character/],
    [conf(['PostUp = echo \u001b[2Jhidden']), 3, '', /control character/],
  ];
  for (const [text, line, key, message] of cases) {
    const errors = parseErrors(text);
    assert.equal(errors.length, 1, `${text}\n=> ${errors.map(formatConfError).join('; ')}`);
    assert.equal(errors[0]!.line, line, formatConfError(errors[0]!));
    assert.equal(errors[0]!.key, key, formatConfError(errors[0]!));
    assert.match(errors[0]!.message, message);
  }
});

test('structure: [Interface] once and first, keys required, peers unique', () => {
  const noInterface = parseErrors(`[Peer]\nPublicKey = ${PUB1}\n`);
  assert.deepEqual(noInterface.map((e) => e.line), [1, 1]);
  assert.match(noInterface[0]!.message + noInterface[1]!.message, /no \[Interface\]/);

  const twice = parseErrors(`${conf()}[Interface]\nPrivateKey = ${PRIV}\n`);
  assert.equal(twice.length, 1);
  assert.equal(twice[0]!.line, 6);
  assert.match(twice[0]!.message, /second \[Interface\].*line 1/);

  const peerFirst = parseErrors(`[Peer]\nPublicKey = ${PUB1}\n[Interface]\nPrivateKey = ${PRIV}\n`);
  assert.ok(peerFirst.some((e) => e.line === 1 && /must start with \[Interface\]/.test(e.message)));

  const beforeSection = parseErrors(`PrivateKey = ${PRIV}\n${conf()}`);
  assert.equal(beforeSection[0]!.line, 1);
  assert.match(beforeSection[0]!.message, /before the \[Interface\]/);

  const noPrivate = parseErrors(`[Interface]\nListenPort = 1\n[Peer]\nPublicKey = ${PUB1}\n`);
  assert.deepEqual(noPrivate.map((e) => [e.line, e.key]), [[1, 'PrivateKey']]);

  const noPublic = parseErrors(conf([], ['AllowedIPs = 10.0.0.0/24']));
  assert.deepEqual(noPublic.map((e) => [e.line, e.key]), [[4, 'PublicKey']]);

  const duplicatePeer = parseErrors(`${conf()}[Peer]\nPublicKey = ${PUB1}\n`);
  assert.deepEqual(duplicatePeer.map((e) => [e.line, e.key]), [[7, 'PublicKey']]);
  assert.match(duplicatePeer[0]!.message, /same public key as the peer on line 5/);

  const empty = parseErrors('');
  assert.equal(empty.length, 1);
  assert.equal(empty[0]!.line, 1);
});

test('all errors in a file are collected, in line order', () => {
  const errors = parseErrors(['[Interface]', 'PrivateKey = x', 'MTU = 1', 'Bogus = 1', '[Peer]', 'PublicKey = y', 'AllowedIPs = 1.2.3.4/40, 5.6.7.8/99'].join('\n'));
  assert.deepEqual(errors.map((e) => e.line), [2, 3, 4, 6, 7, 7]);
});

test('toUapiSetRequest replaces peers and needs IP literals for endpoints', () => {
  const c = parseOk(fixture('laptop-full.conf'));
  const r = toUapiSetRequest(c);
  assert.ok(r.ok);
  assert.equal(r.request.replacePeers, true);
  assert.deepEqual(r.request.privateKey, c.interface.privateKey);
  assert.equal(r.request.listenPort, undefined);
  const peer = r.request.peers[0]!;
  assert.equal(peer.endpoint, '192.0.2.2:51820');
  assert.equal(peer.replaceAllowedIps, true);
  assert.equal(peer.persistentKeepaliveInterval, 25);
  assert.deepEqual(peer.presharedKey, c.peers[0]!.presharedKey);
  assert.deepEqual(peer.allowedIps.toArray().map(formatCidr), ['0.0.0.0/0', '::/0']);

  const named = parseOk(conf(['ListenPort = 51820', 'FwMark = 51820'], [`PublicKey = ${PUB1}`, 'Endpoint = vpn.example.com:443', '[Peer]', `PublicKey = ${PUB2}`, 'Endpoint = [FD00:0::2]:51820']));
  assert.deepEqual(endpointHostnames(named), ['vpn.example.com']);
  const unresolved = toUapiSetRequest(named);
  assert.equal(unresolved.ok, false);
  if (!unresolved.ok) assert.match(unresolved.message, /'vpn\.example\.com' must be resolved/);
  const resolved = toUapiSetRequest(named, new Map([['vpn.example.com', '2001:db8::7']]));
  assert.ok(resolved.ok);
  assert.equal(resolved.request.listenPort, 51820);
  assert.equal(resolved.request.fwmark, 51820);
  assert.deepEqual(resolved.request.peers.map((p) => p.endpoint), ['[2001:db8::7]:443', '[fd00::2]:51820']);
  const bogus = toUapiSetRequest(named, new Map([['vpn.example.com', 'not-an-ip']]));
  assert.equal(bogus.ok, false);
});

test('toUapiSetRequest leaves out ListenPort = 0: the new device already has a system-chosen port, and listen_port=0 would rebind it', () => {
  const any = toUapiSetRequest(parseOk(conf(['ListenPort = 0'], [`PublicKey = ${PUB1}`])));
  assert.ok(any.ok);
  assert.equal('listenPort' in any.request, false);
});

test('the setconf view holds only the keys wg setconf understands, like wg-quick strip', () => {
  for (const name of validFixtures) {
    const c = parseOk(fixture(name));
    const text = serialiseSetconf(c);
    assert.doesNotMatch(text, /^(Address|DNS|MTU|Table|PreUp|PostUp|PreDown|PostDown|SaveConfig)\b/m, name);
    const back = parseOk(text);
    assert.deepEqual(back.peers, c.peers, name);
    assert.equal(back.interface.listenPort, c.interface.listenPort);
  }
});

const hasWgQuick = (() => {
  try {
    execFileSync('wg-quick', ['-h'], { stdio: 'ignore' });
    return true;
  } catch (e) {
    return (e as { status?: number }).status !== undefined && existsSync('/usr/bin/wg-quick');
  }
})();

test('the setconf view matches what the real `wg-quick strip` keeps', { skip: !hasWgQuick && 'wg-quick is not installed' }, () => {
  for (const name of validFixtures) {
    const stripped = execFileSync('wg-quick', ['strip', `${fixtureDir}/${name}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const ours = parseOk(serialiseSetconf(parseOk(fixture(name))));
    assert.deepEqual(ours, parseOk(stripped), name);
  }
});
