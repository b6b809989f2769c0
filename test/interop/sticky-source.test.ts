/**
 * Sticky source: our engine answers from the local address the peer wrote to, as wireguard-go
 * and the kernel do, not from whichever address the routing table would pick.
 *
 *   ns "ours" (wirelane-engine): veth 192.0.2.1/24 (primary), 192.0.2.11/24 (secondary),
 *                                fd00:3::1/64, fd00:3::11/64
 *   ns "ref" (Debian's wireguard-go): veth 192.0.2.2/24, fd00:3::2/64
 *
 * wireguard-go writes to our secondary address. Replies leaving from the primary one (what
 * routing picks for 192.0.2.2; for IPv6 the one `ip route get` names) would make wireguard-go roam
 * its endpoint for us to the primary: its endpoint staying on the secondary address is the proof,
 * what a user checks with `wg show`. Then the secondary address goes away under the engine: the
 * kernel refuses it as a source, the engine sends without it, and the tunnel keeps working.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoPath } from '../support/paths.js';
import { NetnsLab, netnsUnavailableReason, run, waitFor } from '../support/netns.js';

const engineBin = repoPath('engine', 'bin', 'wirelane-engine');
const unavailable =
  netnsUnavailableReason(['wg', 'wg-quick', 'wireguard-go']) ??
  (existsSync(repoPath('dist', 'engine', 'cli', 'wirelane-engine.js')) ? null : 'the engine is not built: run `npm run build` first');

const suffix = String(process.pid % 10000);
const OURS = `wlso${suffix}`;
const REF = `wlsr${suffix}`;

describe('sticky source: replies leave from the address the peer wrote to', { skip: unavailable ?? false }, () => {
  const lab = new NetnsLab('wlss');
  let ours = '';
  let ref = '';
  let dir = '';
  const veth = `veth-so${suffix}`;
  const oursEnv = { ...process.env, WG_QUICK_USERSPACE_IMPLEMENTATION: engineBin };
  const refEnv = { ...process.env, WG_QUICK_USERSPACE_IMPLEMENTATION: 'wireguard-go', WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1' };
  let oursPublic = '';

  const ping = (ns: string, address: string) =>
    lab.tryExec(ns, 'ping', [address.includes(':') ? '-6' : '-4', '-c', '1', '-W', '1', address], { timeoutMs: 5_000 }).status === 0;
  const pingEventually = (ns: string, address: string) => waitFor(`ping ${address} from ${ns}`, () => ping(ns, address), 15_000, 200);
  const refEndpoint = () => lab.exec(ref, 'wg', ['show', REF, 'endpoints']).trim().split('\t')[1] ?? '';

  before(() => {
    ours = lab.addNamespace('ours');
    ref = lab.addNamespace('ref');
    lab.connect(ours, ref, {
      nameA: veth,
      nameB: `veth-sr${suffix}`,
      addressesA: ['192.0.2.1/24', '192.0.2.11/24', 'fd00:3::1/64', 'fd00:3::11/64'],
      addressesB: ['192.0.2.2/24', 'fd00:3::2/64'],
    });
    dir = mkdtempSync(join(tmpdir(), 'wirelane-sticky-'));
    const oursPrivate = run('wg', ['genkey']).trim();
    oursPublic = run('wg', ['pubkey'], { input: oursPrivate }).trim();
    const refPrivate = run('wg', ['genkey']).trim();
    const refPublic = run('wg', ['pubkey'], { input: refPrivate }).trim();
    // Ours knows no endpoint for wireguard-go: it learns one (and its source) from what arrives.
    writeFileSync(join(dir, `${OURS}.conf`), `[Interface]\nPrivateKey = ${oursPrivate}\nAddress = 10.10.0.1/24\nListenPort = 51830\n\n[Peer]\nPublicKey = ${refPublic}\nAllowedIPs = 10.10.0.2/32\n`, { mode: 0o600 });
    writeFileSync(join(dir, `${REF}.conf`), `[Interface]\nPrivateKey = ${refPrivate}\nAddress = 10.10.0.2/24\nListenPort = 51831\n\n[Peer]\nPublicKey = ${oursPublic}\nAllowedIPs = 10.10.0.1/32\nEndpoint = 192.0.2.11:51830\n`, { mode: 0o600 });
    lab.onCleanup(() => lab.tryExec(ours, 'wg-quick', ['down', join(dir, `${OURS}.conf`)], { env: oursEnv, timeoutMs: 15_000 }));
    lab.onCleanup(() => lab.tryExec(ref, 'wg-quick', ['down', join(dir, `${REF}.conf`)], { env: refEnv, timeoutMs: 15_000 }));
    lab.onCleanup(() => {
      rmSync(`/var/run/wireguard/${OURS}.sock`, { force: true });
      rmSync(`/var/run/wireguard/${REF}.sock`, { force: true });
    });
    lab.exec(ours, 'wg-quick', ['up', join(dir, `${OURS}.conf`)], { env: oursEnv, timeoutMs: 30_000 });
    lab.exec(ref, 'wg-quick', ['up', join(dir, `${REF}.conf`)], { env: refEnv, timeoutMs: 30_000 });
  });

  after(() => {
    try {
      lab.cleanup();
    } finally {
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });

  test('IPv4: wireguard-go writes to our secondary address and its endpoint for us stays there', async () => {
    // Without a sticky source the kernel would answer from the primary address.
    assert.match(lab.exec(ours, 'ip', ['-4', 'route', 'get', '192.0.2.2']), /src 192\.0\.2\.1 /);
    await pingEventually(ref, '10.10.0.1');
    await pingEventually(ours, '10.10.0.2'); // traffic we start goes from there too
    assert.equal(refEndpoint(), '192.0.2.11:51830');
  });

  test('IPv6: the same with the address routing would not pick of two on one prefix', async () => {
    const picked = /src (\S+) /.exec(lab.exec(ours, 'ip', ['-6', 'route', 'get', 'fd00:3::2']))?.[1];
    assert.ok(picked === 'fd00:3::1' || picked === 'fd00:3::11', `routing picks one of ours (${picked})`);
    const other = picked === 'fd00:3::1' ? 'fd00:3::11' : 'fd00:3::1';
    lab.exec(ref, 'wg', ['set', REF, 'peer', oursPublic, 'endpoint', `[${other}]:51830`]);
    await pingEventually(ref, '10.10.0.1');
    await pingEventually(ours, '10.10.0.2');
    assert.equal(refEndpoint(), `[${other}]:51830`);
  });

  test('the sticky address is removed: the engine sends from the remaining one and the tunnel keeps working', async () => {
    lab.exec(ref, 'wg', ['set', REF, 'peer', oursPublic, 'endpoint', '192.0.2.11:51830']);
    await pingEventually(ref, '10.10.0.1');
    assert.equal(refEndpoint(), '192.0.2.11:51830');
    lab.exec(ours, 'ip', ['addr', 'del', '192.0.2.11/24', 'dev', veth]);
    // Our side speaks first: the kernel refuses 192.0.2.11 as a source, the engine sends
    // without it, and wireguard-go follows us to the primary address.
    await pingEventually(ours, '10.10.0.2');
    assert.equal(refEndpoint(), '192.0.2.1:51830');
    await pingEventually(ref, '10.10.0.1');
  });
});
