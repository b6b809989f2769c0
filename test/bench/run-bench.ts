/**
 * `npm run bench`: how fast the engine is, as ratios against modern wireguard-go measured in the
 * same run.
 *
 * Two hosts in network namespaces made here, joined by a veth pair (underlay 192.0.2.1/.2), each
 * running a WireGuard implementation brought up by wg-quick. A "configuration" names what runs
 * on host A and on host B; for each, iperf3 TCP over the tunnel A->B and B->A, and ping RTT.
 * The configurations run one after another and the whole list is repeated (BENCH_ROUNDS, order
 * rotated each round), so every ratio compares figures taken minutes apart on the same machine
 * under the same load; a figure alone means little on a shared machine.
 *
 *   wirelane <-> wirelane        the engine on both hosts (the figure that matters)
 *   modern <-> modern            wireguard-go 0.0.20250522 on both hosts (the bar: ratio 1.00)
 *   wirelane <-> modern          the engine on A against modern wireguard-go on B
 *   debian <-> debian            Debian's wireguard-go 0.0.20220316 on both hosts
 *   wirelane/noble <-> same      the pure-JS crypto backend (WIRELANE_CRYPTO=noble)
 *   ... @1 core                  the same with both hosts' WireGuard pinned to one CPU
 *                                (taskset -c 0), for the 1-core vs all-cores scaling
 *
 * The modern reference is built (or reused) with the shared script
 * ../shared/tools/wireguard-go-modern/build when it is there; the bench says so when it is not
 * and leaves those rows out. At the end the crypto microbenchmark runs, and then the handshake
 * flood benchmark (test/bench/flood-bench.ts) when it is present.
 *
 * Environment: BENCH_SECONDS (iperf3 seconds per direction, default 4), BENCH_ROUNDS (default 2),
 * BENCH_ONLY (comma-separated configuration ids to run, e.g. "wl,modern"), BENCH_PROFILE=DIR
 * (the engine writes a V8 CPU profile per process into DIR), BENCH_FLOOD=0 skips the flood part,
 * BENCH_MEMORY=0 the memory part (test/bench/memory-bench.ts).
 * BENCH_ONLY=wl-base adds the engine with its receive offloads off (WIRELANE_TUN_GRO=0,
 * WIRELANE_UDP_GRO=0), to measure what they bring.
 *
 * Needs root, wg-quick and iperf3; it says so and stops when they are missing. Nothing leaves
 * the namespaces.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoPath, repoRoot } from '../support/paths.js';
import { runCryptoBench } from './crypto-bench.js';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 4);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 2);
const PROFILE_DIR = process.env['BENCH_PROFILE'];
const tag = `b${process.pid % 10000}`;
const nsA = `wlbench-a-${tag}`;
const nsB = `wlbench-b-${tag}`;
const MODERN_DEFAULT = '/var/cache/wirelane-reference/wireguard-go-modern';

interface Implementation {
  label: string;
  command: string;
  env: NodeJS.ProcessEnv;
}

interface Configuration {
  id: string;
  label: string;
  a: Implementation;
  b: Implementation;
  /** CPUs both hosts' WireGuard processes are pinned to (taskset), or null for all. */
  cpus: string | null;
  /** Run only when BENCH_ONLY names it (comparisons while working on the engine). */
  optional?: boolean;
}

interface LinkResult {
  forwardMbps: number;
  reverseMbps: number;
  /** Mean ping round trip, and its minimum and maximum (a mean alone hides stalls). */
  pingMs: number;
  pingMinMs: number;
  pingMaxMs: number;
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv = process.env, timeout = 60_000): string {
  return execFileSync(file, args, { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'], timeout });
}
function inNs(ns: string, args: string[], env?: NodeJS.ProcessEnv, timeout?: number): string {
  return run('ip', ['netns', 'exec', ns, ...args], env, timeout);
}
function quiet(fn: () => unknown): void {
  try {
    fn();
  } catch {
    /* best-effort cleanup */
  }
}
function have(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v "${command}"`], { stdio: 'ignore' }).status === 0;
}

/**
 * The modern wireguard-go: built or reused by the shared script (repo/../shared/tools, also
 * looked for above a worktree), else an existing build in the default place. Returns the path
 * and what happened, for the report.
 */
function modernReference(): { path: string | null; note: string } {
  const candidates = [
    process.env['WIRELANE_MODERN_BUILD'],
    resolve(repoRoot, '..', 'shared', 'tools', 'wireguard-go-modern', 'build'),
    resolve(repoRoot, '..', '..', 'shared', 'tools', 'wireguard-go-modern', 'build'),
  ].filter((p): p is string => typeof p === 'string' && p.length > 0);
  const script = candidates.find((p) => existsSync(p));
  if (script !== undefined) {
    const built = spawnSync(script, [], { encoding: 'utf8', timeout: 600_000 });
    const path = built.stdout.trim().split('\n').pop() ?? '';
    if (built.status === 0 && path !== '' && existsSync(path)) return { path, note: `modern wireguard-go: ${path} (built or reused by ${script})` };
    return { path: null, note: `modern wireguard-go: ${script} failed (${built.stderr.trim().split('\n').pop() ?? built.status}); its rows are left out` };
  }
  if (existsSync(MODERN_DEFAULT)) return { path: MODERN_DEFAULT, note: `modern wireguard-go: ${MODERN_DEFAULT} (the build script was not found; reusing this build)` };
  return { path: null, note: 'modern wireguard-go: not built and ../shared/tools/wireguard-go-modern/build not found; its rows are left out' };
}

function setUpUnderlay(): void {
  run('ip', ['netns', 'add', nsA]);
  run('ip', ['netns', 'add', nsB]);
  run('ip', ['link', 'add', 'wlb0', 'netns', nsA, 'type', 'veth', 'peer', 'name', 'wlb1', 'netns', nsB]);
  inNs(nsA, ['ip', 'addr', 'add', '192.0.2.1/24', 'dev', 'wlb0']);
  inNs(nsB, ['ip', 'addr', 'add', '192.0.2.2/24', 'dev', 'wlb1']);
  for (const [ns, dev] of [[nsA, 'wlb0'], [nsB, 'wlb1']] as const) {
    inNs(ns, ['ip', 'link', 'set', 'lo', 'up']);
    inNs(ns, ['ip', 'link', 'set', dev, 'up']);
  }
}

function tearDown(): void {
  quiet(() => run('ip', ['netns', 'del', nsA]));
  quiet(() => run('ip', ['netns', 'del', nsB]));
}

function implementationEnv(impl: Implementation): NodeJS.ProcessEnv {
  return {
    ...process.env,
    ...impl.env,
    WG_QUICK_USERSPACE_IMPLEMENTATION: impl.command,
    WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1',
  };
}

function sleep(seconds: number): void {
  execFileSync('sleep', [String(seconds)]);
}

let runCounter = 0;

function measure(config: Configuration, dir: string): LinkResult {
  runCounter++;
  const keyA = run('wg', ['genkey']).trim();
  const keyB = run('wg', ['genkey']).trim();
  const pubA = execFileSync('wg', ['pubkey'], { input: keyA, encoding: 'utf8' }).trim();
  const pubB = execFileSync('wg', ['pubkey'], { input: keyB, encoding: 'utf8' }).trim();
  // Interface names are global to /var/run/wireguard, and a port may still be held for a moment
  // by the previous run's daemon: each run gets its own names and port.
  const ifA = `wla${runCounter}${tag}`.slice(0, 15);
  const ifB = `wlb${runCounter}${tag}`.slice(0, 15);
  const port = 51000 + runCounter;
  const confA = join(dir, `${ifA}.conf`);
  const confB = join(dir, `${ifB}.conf`);
  writeFileSync(confA, `[Interface]\nPrivateKey = ${keyA}\nAddress = 10.77.0.1/24\nListenPort = ${port}\n\n[Peer]\nPublicKey = ${pubB}\nAllowedIPs = 10.77.0.2/32\nEndpoint = 192.0.2.2:${port}\n`, { mode: 0o600 });
  writeFileSync(confB, `[Interface]\nPrivateKey = ${keyB}\nAddress = 10.77.0.2/24\nListenPort = ${port}\n\n[Peer]\nPublicKey = ${pubA}\nAllowedIPs = 10.77.0.1/32\nEndpoint = 192.0.2.1:${port}\n`, { mode: 0o600 });
  const pin = (args: string[]): string[] => (config.cpus === null ? args : ['taskset', '-c', config.cpus, ...args]);
  let server: ChildProcess | undefined;
  try {
    inNs(nsA, pin(['wg-quick', 'up', confA]), implementationEnv(config.a));
    inNs(nsB, pin(['wg-quick', 'up', confB]), implementationEnv(config.b));
    server = spawn('ip', ['netns', 'exec', nsB, 'iperf3', '-s', '-B', '10.77.0.2'], { stdio: 'ignore' });
    // Handshake and warm-up, bounded.
    let up = false;
    for (let attempt = 0; attempt < 10 && !up; attempt++) {
      up = spawnSync('ip', ['netns', 'exec', nsA, 'ping', '-c', '1', '-W', '1', '10.77.0.2'], { stdio: 'ignore', timeout: 5000 }).status === 0;
    }
    if (!up) throw new Error(`${config.label}: the tunnel did not come up (no ping reply in 10 tries)`);
    const iperf = (reverse: boolean): number => {
      let lastError: unknown;
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          const out = inNs(nsA, ['iperf3', '-c', '10.77.0.2', '-t', String(SECONDS), '-J', ...(reverse ? ['-R'] : [])], undefined, (SECONDS + 30) * 1000);
          const report = JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } };
          return report.end.sum_received.bits_per_second / 1e6;
        } catch (error) {
          lastError = error; // the server may not be listening yet
          sleep(0.5);
        }
      }
      throw lastError;
    };
    const forwardMbps = iperf(false);
    const reverseMbps = iperf(true);
    const ping = inNs(nsA, ['ping', '-c', '50', '-i', '0.02', '-q', '10.77.0.2']);
    const rtt = /= ([\d.]+)\/([\d.]+)\/([\d.]+)\//.exec(ping);
    return { forwardMbps, reverseMbps, pingMs: rtt ? Number(rtt[2]) : NaN, pingMinMs: rtt ? Number(rtt[1]) : NaN, pingMaxMs: rtt ? Number(rtt[3]) : NaN };
  } finally {
    server?.kill('SIGKILL');
    quiet(() => inNs(nsA, ['wg-quick', 'down', confA], implementationEnv(config.a)));
    quiet(() => inNs(nsB, ['wg-quick', 'down', confB], implementationEnv(config.b)));
  }
}

/**
 * The engine's command. With BENCH_PROFILE a wrapper starts it under --cpu-prof (which
 * NODE_OPTIONS may not carry); the daemon it forks inherits the flag through execArgv.
 */
function engineCommand(dir: string): string {
  const engine = repoPath('engine', 'bin', 'wirelane-engine');
  if (!PROFILE_DIR) return engine;
  const wrapper = join(dir, 'wirelane-engine-profiled');
  writeFileSync(wrapper, `#!/bin/sh\nexec "${process.execPath}" --cpu-prof --cpu-prof-dir="${resolve(PROFILE_DIR)}" "${engine}" "$@"\n`, { mode: 0o755 });
  return wrapper;
}

function configurations(modern: string | null, dir: string): Configuration[] {
  const engine = engineCommand(dir);
  const profileEnv: NodeJS.ProcessEnv = {};
  const wirelane: Implementation = { label: 'wirelane', command: engine, env: { ...profileEnv } };
  const noble: Implementation = { label: 'wirelane/noble', command: engine, env: { ...profileEnv, WIRELANE_CRYPTO: 'noble' } };
  const debian: Implementation = { label: 'debian', command: 'wireguard-go', env: {} };
  const list: Configuration[] = [{ id: 'wl', label: 'wirelane <-> wirelane', a: wirelane, b: wirelane, cpus: null }];
  if (modern !== null) {
    const modernImpl: Implementation = { label: 'modern', command: modern, env: {} };
    list.push({ id: 'modern', label: 'modern <-> modern', a: modernImpl, b: modernImpl, cpus: null });
    list.push({ id: 'wl-modern', label: 'wirelane <-> modern', a: wirelane, b: modernImpl, cpus: null });
    list.push({ id: 'modern-1cpu', label: 'modern <-> modern @1 core', a: modernImpl, b: modernImpl, cpus: '0' });
  }
  if (have('wireguard-go')) list.push({ id: 'debian', label: 'debian <-> debian', a: debian, b: debian, cpus: null });
  list.push({ id: 'wl-1cpu', label: 'wirelane <-> wirelane @1 core', a: wirelane, b: wirelane, cpus: '0' });
  list.push({ id: 'noble', label: 'noble <-> noble', a: noble, b: noble, cpus: null });
  // The engine with its receive-side offloads off: what each of them is worth, in the same run.
  const base: Implementation = { label: 'wirelane/no-gro', command: engine, env: { ...profileEnv, WIRELANE_TUN_GRO: '0', WIRELANE_UDP_GRO: '0' } };
  list.push({ id: 'wl-base', label: 'wirelane, TUN+UDP GRO off', a: base, b: base, cpus: null, optional: true });
  const only = process.env['BENCH_ONLY'];
  if (only) {
    const wanted = new Set(only.split(',').map((s) => s.trim()));
    return list.filter((c) => wanted.has(c.id));
  }
  return list.filter((c) => c.optional !== true);
}

function fmt(value: number | undefined, digits = 2): string {
  return value === undefined || !Number.isFinite(value) ? '   -' : value.toFixed(digits);
}

function mean(values: number[]): number {
  return values.length === 0 ? NaN : values.reduce((a, b) => a + b, 0) / values.length;
}

function printRound(round: number, results: Map<string, LinkResult>, configs: Configuration[]): void {
  const reference = results.get('modern');
  console.log(`\nRound ${round}: iperf3 TCP ${SECONDS} s per direction, ping 50 x 20 ms; ratios against modern <-> modern of this round`);
  console.log(`  ${'configuration'.padEnd(31)} ${'A->B Mbit/s'.padStart(11)} ${'B->A Mbit/s'.padStart(11)} ${'ping ms'.padStart(8)} ${'(min/max)'.padStart(13)}   ratio A->B  B->A  RTT`);
  for (const config of configs) {
    const r = results.get(config.id);
    if (r === undefined) continue;
    const ratio = (ours: number, ref: number | undefined): string => fmt(ref === undefined ? undefined : ours / ref);
    console.log(
      `  ${config.label.padEnd(31)} ${r.forwardMbps.toFixed(0).padStart(11)} ${r.reverseMbps.toFixed(0).padStart(11)} ${r.pingMs.toFixed(3).padStart(8)} ${`${r.pingMinMs.toFixed(2)}/${r.pingMaxMs.toFixed(1)}`.padStart(13)}   ` +
        `${ratio(r.forwardMbps, reference?.forwardMbps).padStart(10)} ${ratio(r.reverseMbps, reference?.reverseMbps).padStart(5)} ${ratio(r.pingMs, reference?.pingMs).padStart(4)}`,
    );
  }
}

function printSummary(rounds: Map<string, LinkResult>[], configs: Configuration[]): void {
  const ratios = (id: string, pick: (r: LinkResult) => number): number[] =>
    rounds.flatMap((round) => {
      const ours = round.get(id);
      const ref = round.get('modern');
      return ours && ref ? [pick(ours) / pick(ref)] : [];
    });
  console.log(`\nSummary over ${rounds.length} round(s): mean ratio against modern <-> modern (throughput: >= 1.00 is as fast or faster; RTT: lower is better)`);
  for (const config of configs) {
    if (config.id === 'modern') continue;
    const forward = ratios(config.id, (r) => r.forwardMbps);
    if (forward.length === 0) continue;
    console.log(
      `  ${config.label.padEnd(31)} A->B ${fmt(mean(forward))}  B->A ${fmt(mean(ratios(config.id, (r) => r.reverseMbps)))}  RTT ${fmt(mean(ratios(config.id, (r) => r.pingMs)))}` +
        `   (per round A->B: ${forward.map((v) => fmt(v)).join(', ')})`,
    );
  }
  const scaling = (all: string, one: string): string => {
    const per = rounds.flatMap((round) => {
      const a = round.get(all);
      const b = round.get(one);
      return a && b ? [[a.forwardMbps / b.forwardMbps, a.reverseMbps / b.reverseMbps] as const] : [];
    });
    if (per.length === 0) return '   -';
    return `A->B x${fmt(mean(per.map((p) => p[0])))}  B->A x${fmt(mean(per.map((p) => p[1])))}`;
  };
  console.log('\nScaling, all cores (2 here) against one (taskset -c 0 for both hosts\' WireGuard; iperf3 and the kernel are not pinned)');
  console.log(`  wirelane <-> wirelane  ${scaling('wl', 'wl-1cpu')}`);
  console.log(`  modern <-> modern      ${scaling('modern', 'modern-1cpu')}`);
}

/** The flood benchmark (issue 8, its own file by its owner): run when it is there, in its own process. */
function runFloodBench(): void {
  if (process.env['BENCH_FLOOD'] === '0') return;
  const flood = join(dirname(fileURLToPath(import.meta.url)), 'flood-bench.js');
  if (!existsSync(flood)) {
    console.log('\nHandshake flood benchmark: test/bench/flood-bench.ts is not there (yet); skipped.');
    return;
  }
  console.log('\nHandshake flood benchmark (test/bench/flood-bench.ts)');
  const result = spawnSync(process.execPath, [flood], { stdio: 'inherit', timeout: 600_000 });
  if (result.status !== 0) console.log(`  the flood benchmark failed (exit ${result.status ?? result.signal})`);
}

/** Memory per peer, idle RSS and setconf/showconf times (test/bench/memory-bench.ts), in its own process. */
function runMemoryBench(): void {
  if (process.env['BENCH_MEMORY'] === '0') return;
  console.log('\nMemory and configuration scale (test/bench/memory-bench.ts)');
  const memory = join(dirname(fileURLToPath(import.meta.url)), 'memory-bench.js');
  const result = spawnSync(process.execPath, [memory], { stdio: 'inherit', timeout: 300_000 });
  if (result.status !== 0) console.log(`  the memory benchmark failed (exit ${result.status ?? result.signal})`);
}

async function main(): Promise<void> {
  const crypto = await runCryptoBench();
  console.log('Crypto (seal + open of one packet, per backend, one core)');
  for (const row of crypto) {
    console.log(`  ${row.backend.padEnd(7)} ${String(row.packetSize).padStart(5)} B  ${Math.round(row.packetsPerSecond).toLocaleString('en-US').padStart(10)} packets/s  ${row.megabitsPerSecond.toFixed(0).padStart(6)} Mbit/s`);
  }
  const missing = ['wg', 'wg-quick', 'iperf3', 'taskset'].filter((c) => !have(c));
  if (process.getuid?.() !== 0 || missing.length > 0) {
    console.log(`\nTunnel benchmark skipped: needs root and ${missing.join(', ') || 'nothing more'}.`);
    runMemoryBench();
    runFloodBench();
    return;
  }
  const modern = modernReference();
  console.log(`\n${modern.note}`);
  if (PROFILE_DIR) {
    mkdirSync(PROFILE_DIR, { recursive: true });
    console.log(`CPU profiles of every engine process go to ${resolve(PROFILE_DIR)}`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'wirelane-bench-'));
  const configs = configurations(modern.path, dir);
  const rounds: Map<string, LinkResult>[] = [];
  try {
    tearDown();
    setUpUnderlay();
    for (let round = 0; round < ROUNDS; round++) {
      const results = new Map<string, LinkResult>();
      // Rotate the order each round, so no configuration always runs first (or after another).
      const order = configs.map((_, i) => configs[(i + round) % configs.length]!);
      for (const config of order) {
        try {
          results.set(config.id, measure(config, dir));
        } catch (error) {
          console.log(`  ${config.label}: failed: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
        }
      }
      rounds.push(results);
      printRound(round + 1, results, configs);
    }
  } finally {
    tearDown();
    rmSync(dir, { recursive: true, force: true });
  }
  printSummary(rounds, configs);
  runMemoryBench();
  runFloodBench();
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  tearDown();
  process.exit(1);
});
