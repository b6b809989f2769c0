/**
 * Our engine against Debian's wireguard-go (both brought up by wg-quick) on what a long-lived
 * session needs, in namespaces this test creates:
 *
 *   ns "ours" (wirelane-engine, 192.0.2.1:51820, tunnel 10.9.2.1)
 *       --veth--  ns "ref" (wireguard-go, 192.0.2.2:51821, tunnel 10.9.2.2)
 *
 * Ours has two peers: wireguard-go (AllowedIPs 10.9.2.2/32) and a second peer that never
 * connects (10.9.2.3/32).
 *
 *  - Cryptokey routing: wireguard-go's side sends from 10.9.2.3 (an address its kernel has on
 *    the tunnel interface; wireguard-go encrypts whatever the kernel routes to us). Our engine
 *    decrypts it with wireguard-go's keys, but 10.9.2.3 belongs to the other peer: dropped.
 *  - Rekey: a session with traffic both ways held past REKEY_AFTER_TIME (120 s). Real time: a
 *    faster clock in our engine would test only our own timers (noise-timers.test.ts does that
 *    with a fake clock); what needs wireguard-go is the real switch to a new keypair on both
 *    sides, and wireguard-go's clock cannot be sped up (a static Go binary reads the vDSO clock,
 *    so libfaketime cannot reach it, and a time namespace only offsets the clock). One test,
 *    run once: 130 s of traffic, a new handshake around 120 s, and no packet lost.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { repoPath } from '../support/paths.js';
import { NetnsLab, netnsUnavailableReason, run, waitFor } from '../support/netns.js';

const engineBin = repoPath('engine', 'bin', 'wirelane-engine');
const unavailable =
  netnsUnavailableReason(['wg', 'wg-quick', 'wireguard-go', 'ping']) ??
  (existsSync(repoPath('dist', 'engine', 'cli', 'wirelane-engine.js')) ? null : 'the engine is not built: run `npm run build` first');

const suffix = String(process.pid % 10000);
const OURS = `wlso${suffix}`;
const REF = `wlsr${suffix}`;
/** REKEY_AFTER_TIME, and how long past it the session is held. */
const REKEY_AFTER_TIME_S = 120;
const HOLD_S = 132;
const PACKETS_PER_SECOND = 20;

/**
 * A UDP receiver run with `node -e` in a namespace: binds ADDRESS:PORT and prints one line per
 * datagram, "<source address> <payload>".
 */
const RECEIVER = `
const s = require('node:dgram').createSocket('udp4');
s.on('message', (m, r) => process.stdout.write(r.address + ' ' + m.toString() + '\\n'));
s.bind(Number(process.argv[2]), process.argv[1], () => process.stdout.write('listening\\n'));
`;

/** Sends "<TAG> <n>" from SOURCE to ADDRESS:PORT, RATE a second for SECONDS; prints "sent N" at the end. */
const SENDER = `
const [source, address, port, tag, rate, seconds] = process.argv.slice(1);
const s = require('node:dgram').createSocket('udp4');
s.bind(0, source, () => {
  let n = 0;
  const total = Number(rate) * Number(seconds);
  const timer = setInterval(() => {
    s.send(tag + ' ' + n++, Number(port), address);
    if (n >= total) { clearInterval(timer); setTimeout(() => { console.log('sent ' + n); s.close(); }, 500); }
  }, 1000 / Number(rate));
});
`;

describe('a session with wireguard-go: cryptokey routing between two peers, and a rekey past REKEY_AFTER_TIME', { skip: unavailable ?? false }, () => {
  const lab = new NetnsLab('wlss');
  let ours = '';
  let ref = '';
  let dir = '';
  const keys = { oursPrivate: '', oursPublic: '', refPrivate: '', refPublic: '', otherPublic: '' };
  const oursEnv = { ...process.env, WG_QUICK_USERSPACE_IMPLEMENTATION: engineBin, LOG_LEVEL: 'verbose' };
  const refEnv = { ...process.env, WG_QUICK_USERSPACE_IMPLEMENTATION: 'wireguard-go', WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1' };

  const ping = (ns: string, address: string) => lab.tryExec(ns, 'ping', ['-4', '-c', '1', '-W', '1', address], { timeoutMs: 5_000 }).status === 0;
  /** `wg show IFACE FIELD` for one peer: its value column. */
  const wgField = (ns: string, iface: string, field: string, peer: string) => {
    const line = lab.exec(ns, 'wg', ['show', iface, field]).split('\n').find((l) => l.startsWith(peer));
    assert.ok(line, `wg show ${iface} ${field} lists ${peer}`);
    return line.split('\t').slice(1);
  };
  const latestHandshake = (ns: string, iface: string, peer: string) => Number(wgField(ns, iface, 'latest-handshakes', peer)[0]);
  const received = (ns: string, iface: string, peer: string) => Number(wgField(ns, iface, 'transfer', peer)[0]);

  /** Starts RECEIVER and resolves with its output so far (a getter) once it listens. */
  async function receiver(ns: string, address: string, port: number): Promise<{ lines: () => string[]; child: ChildProcess }> {
    const child = lab.spawn(ns, process.execPath, ['-e', RECEIVER, address, String(port)]);
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => { out += chunk.toString(); });
    await waitFor(`a receiver on ${address}:${port}`, () => out.includes('listening\n'), 10_000, 20);
    return { lines: () => out.split('\n').filter((l) => l !== '' && l !== 'listening'), child };
  }

  before(() => {
    ours = lab.addNamespace('ours');
    ref = lab.addNamespace('ref');
    lab.connect(ours, ref, { nameA: `veth-so${suffix}`, nameB: `veth-sr${suffix}`, addressesA: ['192.0.2.1/24'], addressesB: ['192.0.2.2/24'] });
    dir = mkdtempSync(join(tmpdir(), 'wirelane-session-'));
    keys.oursPrivate = run('wg', ['genkey']).trim();
    keys.oursPublic = run('wg', ['pubkey'], { input: keys.oursPrivate }).trim();
    keys.refPrivate = run('wg', ['genkey']).trim();
    keys.refPublic = run('wg', ['pubkey'], { input: keys.refPrivate }).trim();
    keys.otherPublic = run('wg', ['pubkey'], { input: run('wg', ['genkey']) }).trim();
    writeFileSync(
      join(dir, `${OURS}.conf`),
      [
        '[Interface]', `PrivateKey = ${keys.oursPrivate}`, 'Address = 10.9.2.1/24', 'ListenPort = 51820', '',
        '[Peer]', `PublicKey = ${keys.refPublic}`, 'AllowedIPs = 10.9.2.2/32', 'Endpoint = 192.0.2.2:51821', '',
        '# Another peer, never connected: 10.9.2.3 is its address, not wireguard-go\'s.',
        '[Peer]', `PublicKey = ${keys.otherPublic}`, 'AllowedIPs = 10.9.2.3/32', '',
      ].join('\n'),
      { mode: 0o600 },
    );
    writeFileSync(
      join(dir, `${REF}.conf`),
      ['[Interface]', `PrivateKey = ${keys.refPrivate}`, 'Address = 10.9.2.2/24', 'ListenPort = 51821', '', '[Peer]', `PublicKey = ${keys.oursPublic}`, 'AllowedIPs = 10.9.2.1/32', 'Endpoint = 192.0.2.1:51820', ''].join('\n'),
      { mode: 0o600 },
    );
    lab.onCleanup(() => lab.tryExec(ours, 'wg-quick', ['down', join(dir, `${OURS}.conf`)], { env: oursEnv, timeoutMs: 15_000 }));
    lab.onCleanup(() => lab.tryExec(ref, 'wg-quick', ['down', join(dir, `${REF}.conf`)], { env: refEnv, timeoutMs: 15_000 }));
    lab.onCleanup(() => {
      rmSync(`/var/run/wireguard/${OURS}.sock`, { force: true });
      rmSync(`/var/run/wireguard/${REF}.sock`, { force: true });
    });
    lab.exec(ref, 'wg-quick', ['up', join(dir, `${REF}.conf`)], { env: refEnv, timeoutMs: 30_000 });
    lab.exec(ours, 'wg-quick', ['up', join(dir, `${OURS}.conf`)], { env: { ...oursEnv, WIRELANE_ENGINE_LOG: join(dir, 'engine.log') }, timeoutMs: 30_000 });
    // wireguard-go's kernel side also owns 10.9.2.3: what it sends from there, wireguard-go
    // encrypts to us (its only peer), as any host behind a peer could.
    lab.exec(ref, 'ip', ['addr', 'add', '10.9.2.3/32', 'dev', REF]);
  });

  after(() => {
    try {
      lab.cleanup();
    } finally {
      if (dir && process.env['WIRELANE_KEEP_INTEROP_LOG'] !== '1') rmSync(dir, { recursive: true, force: true });
      else if (dir) process.stderr.write(`interop files kept in ${dir}\n`);
    }
  });

  test('a packet from wireguard-go with the other peer\'s address as source is dropped; its own address is delivered', async () => {
    // Ours initiates (the rekey test below relies on ours being the initiator).
    await waitFor('ping 10.9.2.2 from ours', () => ping(ours, '10.9.2.2'), 15_000, 100);
    const sink = await receiver(ours, '10.9.2.1', 9200);
    try {
      for (let i = 0; i < 3; i++) {
        const before = received(ours, OURS, keys.refPublic);
        lab.exec(ref, process.execPath, ['-e', SENDER, '10.9.2.3', '10.9.2.1', '9200', `spoofed-${i}`, '1', '1'], { timeoutMs: 10_000 });
        // The event: our engine received and decrypted it (wireguard-go's peer counts its bytes)...
        await waitFor('the spoofed packet to reach our engine', () => received(ours, OURS, keys.refPublic) > before, 10_000, 20);
      }
      // ...and what it delivered comes after: a packet from wireguard-go's own address.
      lab.exec(ref, process.execPath, ['-e', SENDER, '10.9.2.2', '10.9.2.1', '9200', 'legit', '1', '1'], { timeoutMs: 10_000 });
      await waitFor('the packet from 10.9.2.2 to be delivered', () => sink.lines().some((l) => l.startsWith('10.9.2.2 legit')), 10_000, 20);
      assert.deepEqual(sink.lines(), ['10.9.2.2 legit 0'], 'only the packet from wireguard-go\'s own address reached the socket');
    } finally {
      sink.child.kill();
    }
  });

  test(`traffic both ways for ${HOLD_S} s: a new handshake after REKEY_AFTER_TIME on both sides, and no packet lost`, { timeout: (HOLD_S + 60) * 1000 }, async () => {
    await waitFor('ping 10.9.2.2 from ours', () => ping(ours, '10.9.2.2'), 15_000, 100);
    const firstOurs = latestHandshake(ours, OURS, keys.refPublic);
    const firstRef = latestHandshake(ref, REF, keys.oursPublic);
    assert.ok(firstOurs > 0 && Math.abs(firstOurs - firstRef) <= 1, `one handshake, seen by both (${firstOurs}, ${firstRef})`);
    const atRef = await receiver(ref, '10.9.2.2', 9301);
    const atOurs = await receiver(ours, '10.9.2.1', 9302);
    // The hold counts from the handshake, so the rekey falls inside it.
    const seconds = String(Math.max(1, HOLD_S - (Math.floor(Date.now() / 1000) - firstOurs)));
    const toRef = lab.spawn(ours, process.execPath, ['-e', SENDER, '10.9.2.1', '10.9.2.2', '9301', 'up', String(PACKETS_PER_SECOND), seconds]);
    const toOurs = lab.spawn(ref, process.execPath, ['-e', SENDER, '10.9.2.2', '10.9.2.1', '9302', 'down', String(PACKETS_PER_SECOND), seconds]);
    let sentUp = '';
    let sentDown = '';
    toRef.stdout?.on('data', (chunk: Buffer) => { sentUp += chunk.toString(); });
    toOurs.stdout?.on('data', (chunk: Buffer) => { sentDown += chunk.toString(); });
    try {
      await waitFor('both senders to finish', () => sentUp.includes('sent') && sentDown.includes('sent'), (HOLD_S + 30) * 1000, 500);
      const count = (text: string) => Number(/sent (\d+)/.exec(text)![1]);
      const upSent = count(sentUp);
      const downSent = count(sentDown);
      await waitFor('the last packets to arrive', () => atRef.lines().length >= upSent && atOurs.lines().length >= downSent, 3_000, 50).catch(() => {});
      const unique = (lines: string[]) => new Set(lines).size;
      const rekeyedOurs = latestHandshake(ours, OURS, keys.refPublic);
      const rekeyedRef = latestHandshake(ref, REF, keys.oursPublic);
      process.stderr.write(
        `# handshakes at ${firstOurs} and ${rekeyedOurs} (+${rekeyedOurs - firstOurs} s); up ${unique(atRef.lines())}/${upSent}, down ${unique(atOurs.lines())}/${downSent}\n`,
      );
      assert.ok(rekeyedOurs - firstOurs >= REKEY_AFTER_TIME_S && rekeyedOurs - firstOurs <= REKEY_AFTER_TIME_S + 10, `our engine rekeyed at REKEY_AFTER_TIME (+${rekeyedOurs - firstOurs} s)`);
      assert.ok(Math.abs(rekeyedRef - rekeyedOurs) <= 1, `wireguard-go has the same new handshake (${rekeyedRef} vs ${rekeyedOurs})`);
      assert.equal(unique(atRef.lines()), upSent, 'every packet to wireguard-go arrived, across the rekey');
      assert.equal(unique(atOurs.lines()), downSent, 'every packet from wireguard-go arrived, across the rekey');
      // And the new keypair carries traffic.
      assert.ok(ping(ours, '10.9.2.2') || ping(ours, '10.9.2.2'), 'ping after the rekey');
    } finally {
      toRef.kill();
      toOurs.kill();
      atRef.child.kill();
      atOurs.child.kill();
    }
  });
});
