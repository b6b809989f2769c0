/**
 * Our engine initiating towards a wireguard-go that is under load (the reverse of
 * under-load-wireguard-go.test.ts), in namespaces this test creates:
 *
 *   ns "ours" (wirelane-engine, 192.0.2.1:51820)  --veth--  ns "ref" (wireguard-go on 192.0.2.2:51821,
 *                                                            and a flooder on 192.0.2.3)
 *
 * The flooder sends bursts of handshake initiations with a valid mac1 for wireguard-go's public
 * key and random contents, so wireguard-go's handshake queue passes its "under load" mark
 * (QueueHandshakeSize / 8 = 128 waiting) over and over; wireguard-go runs with GOMAXPROCS=1 so
 * two busy cores do not drain it between bursts. Under load wireguard-go answers an initiation
 * without a valid mac2 with a cookie reply. Our engine must take the cookie, resend its
 * initiation with mac2 (REKEY_TIMEOUT later), and the tunnel must come up while the flood goes
 * on. A capture on our side of the underlay shows each step.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { repoPath } from '../support/paths.js';
import { NetnsLab, netnsUnavailableReason, run, waitFor } from '../support/netns.js';
import { readPcap, type CapturedMessage } from '../support/pcap.js';

const engineBin = repoPath('engine', 'bin', 'wirelane-engine');
const builtHash = repoPath('dist', 'engine', 'crypto', 'hash.js');
const unavailable =
  netnsUnavailableReason(['wg', 'wg-quick', 'wireguard-go', 'tcpdump', 'ping']) ??
  (existsSync(repoPath('dist', 'engine', 'cli', 'wirelane-engine.js')) && existsSync(builtHash) ? null : 'the engine is not built: run `npm run build` first');

const suffix = String(process.pid % 10000);
const OURS = `wlio${suffix}`;
const REF = `wlir${suffix}`;
const OUR_PORT = 51820;
const REF_PORT = 51821;
const FLOODER_ADDRESS = '192.0.2.3';
/** The flood's length, its bursts (messages) and the pause between them. */
const FLOOD_MS = 25_000;
const BURST = 600;
const BURST_EVERY_MS = 40;

/**
 * The flooder, run with `node --input-type=module -e` in wireguard-go's namespace. Arguments:
 * URL of the built engine/crypto/hash.js, wireguard-go's public key (base64), bind address,
 * target address, target port, duration ms, burst size, burst interval ms. 256 distinct
 * messages are made once and sent over and over (wireguard-go keeps no memory of junk). It
 * prints "cookie-reply" at the first cookie reply it gets (proof of load) and a JSON summary.
 */
const FLOODER = `
import dgram from 'node:dgram';
import { randomFillSync } from 'node:crypto';
const [hashUrl, publicKey, bindAddress, target, port, durationMs, burst, every] = process.argv.slice(1);
const { hash, mac } = await import(hashUrl);
const mac1Key = hash(new TextEncoder().encode('mac1----'), Buffer.from(publicKey, 'base64'));
const messages = Array.from({ length: 256 }, () => {
  const m = Buffer.alloc(148);
  randomFillSync(m);
  m[0] = 1; m[1] = 0; m[2] = 0; m[3] = 0;
  m.set(mac(mac1Key, m.subarray(0, 116)), 116);
  m.fill(0, 132);
  return m;
});
const socks = [];
let sent = 0, cookieReplies = 0;
for (let i = 0; i < 16; i++) {
  const s = dgram.createSocket('udp4');
  s.on('message', (m) => { if (m.length === 64 && m[0] === 3 && cookieReplies++ === 0) console.log('cookie-reply'); });
  s.on('error', () => {});
  await new Promise((resolve) => s.bind(0, bindAddress, resolve));
  socks.push(s);
}
const started = Date.now();
const timer = setInterval(() => {
  if (Date.now() - started >= Number(durationMs)) return finish();
  for (let i = 0; i < Number(burst); i++, sent++) socks[sent % socks.length].send(messages[sent % messages.length], Number(port), target);
}, Number(every));
function finish() {
  clearInterval(timer);
  setTimeout(() => { console.log(JSON.stringify({ sent, cookieReplies })); for (const s of socks) s.close(); process.exit(0); }, 300);
}
process.on('SIGTERM', finish);
`;

describe('our engine initiating towards a wireguard-go under load answers its cookie with mac2 and connects', { skip: unavailable ?? false }, () => {
  const lab = new NetnsLab('wlil');
  let ours = '';
  let ref = '';
  let dir = '';
  let capture: ChildProcess | null = null;
  const keys = { oursPrivate: '', oursPublic: '', refPrivate: '', refPublic: '' };
  const oursEnv = { ...process.env, WG_QUICK_USERSPACE_IMPLEMENTATION: engineBin, LOG_LEVEL: 'verbose' };
  const refEnv = { ...process.env, WG_QUICK_USERSPACE_IMPLEMENTATION: 'wireguard-go', WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1', GOMAXPROCS: '1' };
  const ping = (ns: string, address: string) => lab.tryExec(ns, 'ping', ['-4', '-c', '1', '-W', '1', address], { timeoutMs: 5_000 }).status === 0;

  before(async () => {
    ours = lab.addNamespace('ours');
    ref = lab.addNamespace('ref');
    lab.connect(ours, ref, { nameA: `veth-io${suffix}`, nameB: `veth-ir${suffix}`, addressesA: ['192.0.2.1/24'], addressesB: ['192.0.2.2/24', `${FLOODER_ADDRESS}/24`] });
    dir = mkdtempSync(join(tmpdir(), 'wirelane-initiate-'));
    keys.oursPrivate = run('wg', ['genkey']).trim();
    keys.oursPublic = run('wg', ['pubkey'], { input: keys.oursPrivate }).trim();
    keys.refPrivate = run('wg', ['genkey']).trim();
    keys.refPublic = run('wg', ['pubkey'], { input: keys.refPrivate }).trim();
    writeFileSync(
      join(dir, `${OURS}.conf`),
      ['[Interface]', `PrivateKey = ${keys.oursPrivate}`, 'Address = 10.9.3.1/24', `ListenPort = ${OUR_PORT}`, '', '[Peer]', `PublicKey = ${keys.refPublic}`, 'AllowedIPs = 10.9.3.2/32', `Endpoint = 192.0.2.2:${REF_PORT}`, ''].join('\n'),
      { mode: 0o600 },
    );
    // wireguard-go has no endpoint for us: it can never initiate, so the handshake is ours.
    writeFileSync(
      join(dir, `${REF}.conf`),
      ['[Interface]', `PrivateKey = ${keys.refPrivate}`, 'Address = 10.9.3.2/24', `ListenPort = ${REF_PORT}`, '', '[Peer]', `PublicKey = ${keys.oursPublic}`, 'AllowedIPs = 10.9.3.1/32', ''].join('\n'),
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
    // Everything between our port and wireguard-go's, on our side of the underlay.
    capture = lab.spawn(ours, 'tcpdump', ['-i', `veth-io${suffix}`, '-n', '-U', '-Z', 'root', '-w', join(dir, 'handshake.pcap'), `udp and port ${OUR_PORT}`]);
    let captureLog = '';
    capture.stderr?.on('data', (chunk: Buffer) => { captureLog += chunk.toString(); });
    await waitFor('tcpdump to start listening', () => captureLog.includes('listening on'), 10_000);
  });

  after(() => {
    try {
      lab.cleanup();
    } finally {
      if (dir && process.env['WIRELANE_KEEP_INTEROP_LOG'] !== '1') rmSync(dir, { recursive: true, force: true });
      else if (dir) process.stderr.write(`interop files kept in ${dir}\n`);
    }
  });

  test('wireguard-go sends us a cookie reply, our next initiation carries mac2, it is answered, and ping works during the flood', { timeout: 90_000 }, async () => {
    const flooder = lab.spawn(ref, process.execPath, [
      '--input-type=module', '-e', FLOODER,
      pathToFileURL(builtHash).href, keys.refPublic, FLOODER_ADDRESS, '192.0.2.2', String(REF_PORT), String(FLOOD_MS), String(BURST), String(BURST_EVERY_MS),
    ]);
    let flooderOut = '';
    let flooderErr = '';
    flooder.stdout?.on('data', (chunk: Buffer) => { flooderOut += chunk.toString(); });
    flooder.stderr?.on('data', (chunk: Buffer) => { flooderErr += chunk.toString(); });
    const flooderExited = new Promise<void>((resolve) => flooder.once('exit', () => resolve()));
    try {
      await waitFor('wireguard-go to answer the flood with a cookie reply (under load)', () => {
        if (flooder.exitCode !== null) throw new Error(`the flooder exited early: ${flooderErr.trim()}`);
        return flooderOut.includes('cookie-reply');
      }, 10_000, 50);

      // Our first initiation gets a cookie reply; the retry REKEY_TIMEOUT (5 s) later carries mac2.
      const pingStarted = Date.now();
      await waitFor('ping 10.9.3.2 from ours during the flood', () => ping(ours, '10.9.3.2'), 20_000, 100);
      const pingTookMs = Date.now() - pingStarted;
      assert.equal(flooder.exitCode, null, `the tunnel came up while the flood was still running (after ${pingTookMs} ms)`);
    } finally {
      flooder.kill('SIGTERM');
      await flooderExited;
    }
    const summary = flooderOut.split('\n').find((line) => line.startsWith('{'));
    process.stderr.write(`# flood ${summary ?? '(no summary)'}\n`);

    // The capture: tcpdump -U writes each packet as it gets it, which may be a moment after the
    // ping that the handshake made possible; wait until it holds a handshake response.
    const capturePath = join(dir, 'handshake.pcap');
    await waitFor('the capture to hold wireguard-go\'s handshake response', () => readPcap(capturePath).some((m) => m.srcPort === REF_PORT && m.payload[0] === 2), 5_000, 50);
    const messages = readPcap(capturePath);
    const fromUs = (m: CapturedMessage) => m.srcPort === OUR_PORT && m.dstPort === REF_PORT;
    const fromRef = (m: CapturedMessage) => m.srcPort === REF_PORT && m.dstPort === OUR_PORT;
    const isZero = (bytes: Buffer) => bytes.every((b) => b === 0);
    const trace = () =>
      messages.map((m) => `${m.time.toFixed(3)} ${m.srcPort}->${m.dstPort} type ${m.payload[0]}${m.payload[0] === 1 ? ` mac2 ${isZero(m.payload.subarray(132, 148)) ? 'zero' : 'set'}` : ''}`).join('\n');
    const initiations = messages.filter((m) => fromUs(m) && m.payload[0] === 1 && m.payload.length === 148);
    const cookieReply = messages.find((m) => fromRef(m) && m.payload[0] === 3 && m.payload.length === 64);
    assert.ok(cookieReply, `wireguard-go sent our engine a cookie reply:\n${trace()}`);
    const answered = initiations.find((m) => m.time <= cookieReply.time && m.payload.readUInt32LE(4) === cookieReply.payload.readUInt32LE(4));
    assert.ok(answered, `the cookie reply answers one of our initiations:\n${trace()}`);
    assert.ok(isZero(answered.payload.subarray(132, 148)), 'that initiation had no mac2 (we had no cookie yet)');
    const withMac2 = initiations.find((m) => m.time > cookieReply.time && !isZero(m.payload.subarray(132, 148)));
    assert.ok(withMac2, `our engine resent its initiation with mac2 from wireguard-go's cookie:\n${trace()}`);
    const response = messages.find((m) => fromRef(m) && m.payload[0] === 2 && m.payload.length === 92 && m.payload.readUInt32LE(8) === withMac2.payload.readUInt32LE(4));
    assert.ok(response, `wireguard-go answered the initiation with mac2:\n${trace()}`);
    assert.ok(
      !messages.some((m) => fromRef(m) && m.payload[0] === 2 && m.payload.readUInt32LE(8) === answered.payload.readUInt32LE(4)),
      'the initiation without mac2 got no response (wireguard-go spent no handshake on it)',
    );
  });
});
