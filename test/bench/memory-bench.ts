/**
 * Memory and configuration scale, engine against wireguard-go (issue 8), in `npm run bench`:
 *
 * - idle RSS of each implementation with one interface and no peers, split into anonymous memory
 *   (its own) and file pages (its binary and libraries: for the engine mostly node's ~90 MB
 *   executable, shared with every other node process on the machine); a bare `node` for scale;
 * - RSS after one `wg setconf` of 1000 peers x 20 allowed IPs, and what that costs per peer;
 * - the times of `wg setconf` and `wg showconf` with 1000 peers x 131 allowed IPs.
 *
 * Each implementation runs in a network namespace of its own (`-f`, foreground), one after the
 * other. Ratios are against modern wireguard-go (/var/cache/wirelane-reference/wireguard-go-modern,
 * or WIREGUARD_GO_MODERN) when it is there. Needs root.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoPath } from '../support/paths.js';

const MODERN = process.env['WIREGUARD_GO_MODERN'] ?? '/var/cache/wirelane-reference/wireguard-go-modern';
const PEERS = 1000;
const tag = `m${process.pid % 10000}`;
const ns = `wlbench-${tag}`;

interface Implementation {
  label: string;
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
}

interface Memory {
  rssKiB: number;
  anonKiB: number;
  fileKiB: number;
}

interface Result {
  idle: Memory;
  loaded: Memory;
  setMs: number;
  showMs: number;
}

function sh(args: string[], timeout = 120_000): string {
  const result = spawnSync(args[0]!, args.slice(1), { encoding: 'utf8', timeout, maxBuffer: 64 << 20 });
  if (result.status !== 0) throw new Error(`${args.join(' ')}: ${result.error?.message ?? result.stderr.trim()}`);
  return result.stdout;
}

function memoryOf(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssKiB: field('VmRSS'), anonKiB: field('RssAnon'), fileKiB: field('RssFile') + field('RssShmem') };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function confText(allowedIpsPerPeer: number): string {
  const key = randomBytes(32);
  key[0]! &= 248;
  key[31] = (key[31]! & 127) | 64;
  const lines = ['[Interface]', `PrivateKey = ${key.toString('base64')}`, 'ListenPort = 51932', ''];
  let n = 0;
  for (let p = 0; p < PEERS; p++) {
    const prefixes = [`100.${64 + (p >> 8)}.${p & 255}.0/24`];
    while (prefixes.length < allowedIpsPerPeer) {
      n++;
      if (n % 3 === 0) prefixes.push(`10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}/32`);
      else if (n % 3 === 1) prefixes.push(`fd00:${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}::/64`);
      else prefixes.push(`fd01::${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}/128`);
    }
    lines.push('[Peer]', `PublicKey = ${randomBytes(32).toString('base64')}`, `AllowedIPs = ${prefixes.join(', ')}`, '');
  }
  return lines.join('\n');
}

async function startIn(impl: Implementation, name: string): Promise<ChildProcess> {
  const socket = `/var/run/wireguard/${name}.sock`;
  rmSync(socket, { force: true });
  const child = spawn('ip', ['netns', 'exec', ns, impl.command, ...impl.args, '-f', name], { env: impl.env, stdio: 'ignore' });
  const deadline = Date.now() + 20_000;
  while (!existsSync(socket)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`${impl.label} did not serve ${socket}`);
    await sleep(50);
  }
  return child;
}

async function stop(child: ChildProcess, name: string): Promise<void> {
  child.kill('SIGTERM');
  const deadline = Date.now() + 5_000;
  while (child.exitCode === null && child.signalCode === null && Date.now() < deadline) await sleep(50);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(`/var/run/wireguard/${name}.sock`, { force: true });
}

async function measure(impl: Implementation, dir: string, index: number): Promise<Result> {
  const name = `wlmem${tag}${index}`.slice(0, 15);
  const wg = (args: string[]) => sh(['ip', 'netns', 'exec', ns, 'wg', ...args]);
  // Idle and 1000 x 20: one process.
  let child = await startIn(impl, name);
  let result: Result;
  try {
    await sleep(1500);
    const idle = memoryOf(child.pid!);
    wg(['setconf', name, join(dir, 'x20.conf')]);
    await sleep(2000);
    const loaded = memoryOf(child.pid!);
    result = { idle, loaded, setMs: NaN, showMs: NaN };
  } finally {
    await stop(child, name);
  }
  // 1000 x 131: a fresh process, timed.
  child = await startIn(impl, name);
  try {
    const t0 = performance.now();
    wg(['setconf', name, join(dir, 'x131.conf')]);
    const t1 = performance.now();
    wg(['showconf', name]);
    result.setMs = t1 - t0;
    result.showMs = performance.now() - t1;
  } finally {
    await stop(child, name);
  }
  return result;
}

function mb(kib: number): string {
  return (kib / 1024).toFixed(1).padStart(6);
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log('  skipped: needs root (network namespaces)');
    return;
  }
  const engine = repoPath('engine', 'bin', 'wirelane-engine');
  const impls: Implementation[] = [{ label: 'wirelane-engine', command: engine, args: [], env: process.env }];
  if (existsSync(MODERN)) impls.push({ label: 'modern wireguard-go', command: MODERN, args: [], env: process.env });
  else console.log(`  modern wireguard-go is not at ${MODERN}: no ratios`);
  if (spawnSync('wireguard-go', ['--version']).status === 0) {
    impls.push({ label: 'debian wireguard-go', command: 'wireguard-go', args: [], env: { ...process.env, WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1' } });
  }
  const dir = mkdtempSync(join(tmpdir(), 'wirelane-memory-bench-'));
  spawnSync('ip', ['netns', 'del', ns]);
  sh(['ip', 'netns', 'add', ns]);
  try {
    writeFileSync(join(dir, 'x20.conf'), confText(20), { mode: 0o600 });
    writeFileSync(join(dir, 'x131.conf'), confText(131), { mode: 0o600 });
    // A bare node, to show how much of the engine's RSS is node itself.
    const bare = spawn(process.execPath, ['--max-semi-space-size=4', '-e', 'setTimeout(() => {}, 10000)'], { stdio: 'ignore' });
    await sleep(1500);
    const node = memoryOf(bare.pid!);
    bare.kill();
    const results = new Map<string, Result>();
    for (const [i, impl] of impls.entries()) {
      try {
        results.set(impl.label, await measure(impl, dir, i));
      } catch (error) {
        console.log(`  ${impl.label}: failed: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
      }
    }
    const modern = results.get('modern wireguard-go');
    const perPeer = (r: Result) => (r.loaded.rssKiB - r.idle.rssKiB) / PEERS;
    console.log('                         idle MB (anon + file)      1000 x 20: MB  KiB/peer  vs modern   1000 x 131: setconf  showconf');
    console.log(`  bare node            ${mb(node.rssKiB)} (${mb(node.anonKiB)} +${mb(node.fileKiB)})`);
    for (const [label, r] of results) {
      const ratio = modern ? `${(perPeer(r) / perPeer(modern)).toFixed(2)}x` : '-';
      const timeRatio = modern && label !== 'modern wireguard-go' ? ` (${(r.setMs / modern.setMs).toFixed(2)}x, ${(r.showMs / modern.showMs).toFixed(2)}x)` : '';
      console.log(
        `  ${label.padEnd(20)} ${mb(r.idle.rssKiB)} (${mb(r.idle.anonKiB)} +${mb(r.idle.fileKiB)})   ${mb(r.loaded.rssKiB)}   ${perPeer(r).toFixed(1).padStart(7)}   ${ratio.padStart(7)}   ${r.setMs.toFixed(0).padStart(10)} ms ${r.showMs.toFixed(0).padStart(6)} ms${timeRatio}`,
      );
    }
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  spawnSync('ip', ['netns', 'del', ns]);
  process.exit(1);
});
