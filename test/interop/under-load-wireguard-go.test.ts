/**
 * Our engine under a handshake flood, against Debian's wireguard-go, in namespaces this test
 * creates:
 *
 *   ns "ours" (wirelane-engine, 192.0.2.1:51820)  --veth--  ns "ref" (wireguard-go on 192.0.2.2:51821,
 *                                                            and a flooder on 192.0.2.3)
 *
 * The flooder sends handshake initiations with a valid mac1 for our public key and random
 * contents, from many source ports, far above the device's "under load" threshold (more than
 * UNDER_LOAD_THRESHOLD = 512 arrivals within UNDER_LOAD_AFTER_TIME = 1 s, engine/device/handshake-queue.ts).
 * While it runs, wireguard-go initiates (a ping from its side). Under load our engine must answer
 * an initiation without a valid mac2 with a cookie reply and no Diffie-Hellman (whitepaper §5.3);
 * wireguard-go must then resend with mac2 computed from our cookie, and that one must be
 * answered. A capture on the underlay shows each step on wireguard-go's own port.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
const OURS = `wluo${suffix}`;
const REF = `wlur${suffix}`;
const OUR_PORT = 51820;
const REF_PORT = 51821;
const FLOODER_ADDRESS = '192.0.2.3';

/** Flood for at most this long and this many messages, at this rate (messages per second). */
const FLOOD_MS = 14_000;
const FLOOD_RATE = 2_500;
const FLOOD_MAX = FLOOD_MS * FLOOD_RATE / 1000;
const FLOOD_SOCKETS = 64;

/**
 * The flooder, run with `node --input-type=module -e` inside the namespace. Arguments: URL of
 * the built engine/crypto/hash.js, our public key (base64), bind address, target address, target
 * port, duration ms, max count, rate, socket count. It prints "cookie-reply" at the first cookie
 * reply it gets back (proof the device is under load) and a JSON summary when it ends.
 */
const FLOODER = `
import dgram from 'node:dgram';
import { randomFillSync } from 'node:crypto';
const [hashUrl, publicKey, bindAddress, target, port, durationMs, maxCount, rate, sockets] = process.argv.slice(1);
const { hash, mac } = await import(hashUrl);
const mac1Key = hash(new TextEncoder().encode('mac1----'), Buffer.from(publicKey, 'base64'));
let sent = 0, cookieReplies = 0, sendErrors = 0, done = false;
const socks = [];
for (let i = 0; i < Number(sockets); i++) {
  const s = dgram.createSocket('udp4');
  s.on('message', (m) => {
    if (m.length === 64 && m[0] === 3) { if (cookieReplies++ === 0) console.log('cookie-reply'); }
  });
  s.on('error', () => { sendErrors++; });
  await new Promise((resolve) => s.bind(0, bindAddress, resolve));
  socks.push(s);
}
function finish() {
  if (done) return;
  done = true;
  clearInterval(timer);
  // A moment for the last replies, then the summary.
  setTimeout(() => {
    console.log(JSON.stringify({ sent, cookieReplies, sendErrors, ports: socks.length }));
    for (const s of socks) s.close();
    process.exit(0);
  }, 300);
}
const started = Date.now();
const timer = setInterval(() => {
  const elapsed = Date.now() - started;
  if (elapsed >= Number(durationMs) || sent >= Number(maxCount)) return finish();
  const due = Math.min(Number(maxCount), Math.floor(elapsed * Number(rate) / 1000));
  for (; sent < due; sent++) {
    const m = Buffer.alloc(148);
    randomFillSync(m);
    m[0] = 1; m[1] = 0; m[2] = 0; m[3] = 0;
    m.set(mac(mac1Key, m.subarray(0, 116)), 116);
    m.fill(0, 132);
    socks[sent % socks.length].send(m, Number(port), target, (e) => { if (e) sendErrors++; });
  }
}, 5);
process.on('SIGTERM', finish);
`;

describe('under a handshake flood, wirelane-engine makes wireguard-go prove its address with a cookie and still completes its handshake', { skip: unavailable ?? false }, () => {
  const lab = new NetnsLab('wlul');
  let ours = '';
  let ref = '';
  let dir = '';
  let capture: ChildProcess | null = null;
  const keys = { oursPrivate: '', oursPublic: '', refPrivate: '', refPublic: '' };
  const oursEnv = { ...process.env, WG_QUICK_USERSPACE_IMPLEMENTATION: engineBin, LOG_LEVEL: 'verbose' };
  const refEnv = { ...process.env, WG_QUICK_USERSPACE_IMPLEMENTATION: 'wireguard-go', WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1' };

  const ping = (ns: string, address: string) => lab.tryExec(ns, 'ping', ['-4', '-c', '1', '-W', '1', address], { timeoutMs: 5_000 }).status === 0;

  before(async () => {
    ours = lab.addNamespace('ours');
    ref = lab.addNamespace('ref');
    lab.connect(ours, ref, { nameA: `veth-uo${suffix}`, nameB: `veth-ur${suffix}`, addressesA: ['192.0.2.1/24'], addressesB: ['192.0.2.2/24', `${FLOODER_ADDRESS}/24`] });

    dir = mkdtempSync(join(tmpdir(), 'wirelane-underload-'));
    keys.oursPrivate = run('wg', ['genkey']).trim();
    keys.oursPublic = run('wg', ['pubkey'], { input: keys.oursPrivate }).trim();
    keys.refPrivate = run('wg', ['genkey']).trim();
    keys.refPublic = run('wg', ['pubkey'], { input: keys.refPrivate }).trim();
    // Our side has no endpoint for the peer: it can never initiate, so the handshake the test
    // watches is wireguard-go's, arriving in the middle of the flood.
    writeFileSync(
      join(dir, `${OURS}.conf`),
      ['[Interface]', `PrivateKey = ${keys.oursPrivate}`, 'Address = 10.9.1.1/24', `ListenPort = ${OUR_PORT}`, '', '[Peer]', `PublicKey = ${keys.refPublic}`, 'AllowedIPs = 10.9.1.2/32', ''].join('\n'),
      { mode: 0o600 },
    );
    writeFileSync(
      join(dir, `${REF}.conf`),
      ['[Interface]', `PrivateKey = ${keys.refPrivate}`, 'Address = 10.9.1.2/24', `ListenPort = ${REF_PORT}`, '', '[Peer]', `PublicKey = ${keys.oursPublic}`, 'AllowedIPs = 10.9.1.1/32', `Endpoint = 192.0.2.1:${OUR_PORT}`, ''].join('\n'),
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

    // Everything between wireguard-go's port and ours, as seen on wireguard-go's side.
    // -Z root: the capture file lives in a 0700 root directory.
    capture = lab.spawn(ref, 'tcpdump', ['-i', `veth-ur${suffix}`, '-n', '-U', '-Z', 'root', '-w', join(dir, 'handshake.pcap'), `udp and host 192.0.2.2 and port ${REF_PORT}`]);
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

  test('wireguard-go completes its handshake with mac2 from our cookie while we are flooded, and ping works', async () => {
    const flooder = lab.spawn(ref, process.execPath, [
      '--input-type=module', '-e', FLOODER,
      pathToFileURL(builtHash).href, keys.oursPublic, FLOODER_ADDRESS, '192.0.2.1', String(OUR_PORT),
      String(FLOOD_MS), String(FLOOD_MAX), String(FLOOD_RATE), String(FLOOD_SOCKETS),
    ]);
    let flooderOut = '';
    let flooderErr = '';
    flooder.stdout?.on('data', (chunk: Buffer) => { flooderOut += chunk.toString(); });
    flooder.stderr?.on('data', (chunk: Buffer) => { flooderErr += chunk.toString(); });
    const flooderExited = new Promise<void>((resolve) => flooder.once('exit', () => resolve()));

    // Our first cookie reply to the flooder: the device is under load before wireguard-go speaks.
    await waitFor('the flooder to get a cookie reply (our device under load)', () => {
      if (flooder.exitCode !== null) throw new Error(`the flooder exited early: ${flooderErr.trim()}`);
      return flooderOut.includes('cookie-reply');
    }, 8_000, 50);

    // wireguard-go initiates for the first ping; its retransmission (REKEY_TIMEOUT, 5 s later)
    // carries mac2 from our cookie. 15 s covers that with two retries to spare.
    const pingStarted = Date.now();
    await waitFor('ping 10.9.1.1 from the wireguard-go side during the flood', () => ping(ref, '10.9.1.1'), 15_000, 100);
    const floodStillRunning = flooder.exitCode === null;
    const pingTookMs = Date.now() - pingStarted;

    flooder.kill('SIGTERM');
    await Promise.race([flooderExited, new Promise((resolve) => setTimeout(resolve, 3_000))]);
    const summaryLine = flooderOut.split('\n').find((line) => line.startsWith('{'));
    assert.ok(summaryLine, `the flooder printed its summary (stderr: ${flooderErr.trim()})`);
    const summary = JSON.parse(summaryLine) as { sent: number; cookieReplies: number; sendErrors: number; ports: number };
    assert.ok(floodStillRunning, `the handshake completed while the flood was still running (ping took ${pingTookMs} ms; flood ${JSON.stringify(summary)})`);
    assert.ok(summary.cookieReplies > 0, 'the flood was answered with cookie replies');
    process.stderr.write(`flood: ${JSON.stringify(summary)}; ping through the tunnel answered after ${pingTookMs} ms\n`);

    // The underlay, on wireguard-go's port.
    await new Promise((resolve) => setTimeout(resolve, 300)); // tcpdump -U writes per packet; let the last land
    const messages = readPcap(join(dir, 'handshake.pcap'));
    const fromRef = (m: CapturedMessage) => m.srcPort === REF_PORT && m.dstPort === OUR_PORT;
    const fromUs = (m: CapturedMessage) => m.srcPort === OUR_PORT && m.dstPort === REF_PORT;
    const isZero = (bytes: Buffer) => bytes.every((b) => b === 0);
    const initiations = messages.filter((m) => fromRef(m) && m.payload[0] === 1 && m.payload.length === 148);
    const cookieReplies = messages.filter((m) => fromUs(m) && m.payload[0] === 3 && m.payload.length === 64);
    const responses = messages.filter((m) => fromUs(m) && m.payload[0] === 2 && m.payload.length === 92);
    const describeTrace = () =>
      messages.map((m) => `${m.time.toFixed(3)} ${m.srcPort}->${m.dstPort} type ${m.payload[0]}${m.payload[0] === 1 ? ` mac2 ${isZero(m.payload.subarray(132, 148)) ? 'zero' : 'set'}` : ''}`).join('\n');
    assert.ok(messages.every((m) => !(fromUs(m) && m.payload[0] === 1)), `our engine never initiated (no endpoint configured):\n${describeTrace()}`);

    const firstCookie = cookieReplies[0];
    assert.ok(firstCookie, `our engine sent wireguard-go a cookie reply:\n${describeTrace()}`);
    // The cookie reply answers an initiation without mac2: its receiver index is that sender's.
    const answered = initiations.find((m) => m.time <= firstCookie.time && m.payload.readUInt32LE(4) === firstCookie.payload.readUInt32LE(4));
    assert.ok(answered, `the cookie reply answers one of wireguard-go's initiations:\n${describeTrace()}`);
    assert.ok(isZero(answered.payload.subarray(132, 148)), 'that initiation had no mac2 (wireguard-go had no cookie yet)');
    // No Diffie-Hellman spent on it: no response ever names it.
    assert.ok(!responses.some((r) => r.payload.readUInt32LE(8) === answered.payload.readUInt32LE(4)), 'the initiation without mac2 got no handshake response');

    // wireguard-go consumed the cookie: its next initiation carries mac2, and that is answered.
    const withMac2 = initiations.find((m) => m.time >= firstCookie.time && !isZero(m.payload.subarray(132, 148)));
    assert.ok(withMac2, `wireguard-go resent its initiation with mac2 after our cookie reply:\n${describeTrace()}`);
    const response = responses.find((r) => r.payload.readUInt32LE(8) === withMac2.payload.readUInt32LE(4));
    assert.ok(response, `our engine answered the initiation with mac2 with a handshake response:\n${describeTrace()}`);
    assert.ok(response.time >= withMac2.time);
  });

  test('the engine\'s drop report counts the cookie replies it sent instead of handshakes', async () => {
    const logPath = join(dir, 'engine.log');
    // The report comes at most every 10 s, on traffic; pings keep the engine busy until then.
    await waitFor('a drop report with cookieReplySent in the engine log', () => {
      ping(ref, '10.9.1.1');
      return existsSync(logPath) && /dropped packets since the last report: .*cookieReplySent=\d+/.test(readFileSync(logPath, 'utf8'));
    }, 15_000, 500);
    assert.doesNotMatch(readFileSync(logPath, 'utf8'), /handshake message handling failed/, 'no handshake handling error under the flood');
  });
});
