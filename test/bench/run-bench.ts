/**
 * `npm run bench`: how fast the engine is, as ratios against wireguard-go measured in the same run.
 *
 * Two hosts in network namespaces made here, joined by a veth pair (underlay 192.0.2.1/.2),
 * each running a WireGuard implementation brought up by wg-quick. Scenario "reference" runs
 * wireguard-go on both hosts; scenario "wirelane" runs wirelane-engine on host A against
 * wireguard-go on host B. For each: iperf3 TCP throughput A->B and B->A over the tunnel, and
 * ping round-trip latency. Then the crypto microbenchmark of both backends.
 *
 * Needs root, wireguard-go, wg-quick and iperf3; it says so and stops when they are missing.
 * Nothing leaves the namespaces.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoPath } from '../support/paths.js';
import { runCryptoBench } from './crypto-bench.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const tag = `b${process.pid % 10000}`;
const nsA = `wlbench-a-${tag}`;
const nsB = `wlbench-b-${tag}`;

interface LinkResult {
  scenario: string;
  forwardMbps: number;
  reverseMbps: number;
  pingMs: number;
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv = process.env): string {
  return execFileSync(file, args, { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
}
function inNs(ns: string, args: string[], env?: NodeJS.ProcessEnv): string {
  return run('ip', ['netns', 'exec', ns, ...args], env);
}
function quiet(fn: () => unknown): void {
  try { fn(); } catch { /* best-effort cleanup */ }
}

function have(command: string): boolean {
  try { execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }); return true; } catch { return false; }
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

function userspaceEnv(implementation: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    WG_QUICK_USERSPACE_IMPLEMENTATION: implementation,
    WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1',
  };
}

function measure(scenario: string, implementationA: string, dir: string): LinkResult {
  const keyA = run('wg', ['genkey']).trim();
  const keyB = run('wg', ['genkey']).trim();
  const pubA = execFileSync('wg', ['pubkey'], { input: keyA, encoding: 'utf8' }).trim();
  const pubB = execFileSync('wg', ['pubkey'], { input: keyB, encoding: 'utf8' }).trim();
  // Interface names are global to /var/run/wireguard, so each scenario gets its own.
  const ifA = `wlba${scenario[0]}${tag}`.slice(0, 15);
  const ifB = `wlbb${scenario[0]}${tag}`.slice(0, 15);
  const confA = join(dir, `${ifA}.conf`);
  const confB = join(dir, `${ifB}.conf`);
  writeFileSync(confA, `[Interface]\nPrivateKey = ${keyA}\nAddress = 10.77.0.1/24\nListenPort = 51820\n\n[Peer]\nPublicKey = ${pubB}\nAllowedIPs = 10.77.0.2/32\nEndpoint = 192.0.2.2:51820\n`, { mode: 0o600 });
  writeFileSync(confB, `[Interface]\nPrivateKey = ${keyB}\nAddress = 10.77.0.2/24\nListenPort = 51820\n\n[Peer]\nPublicKey = ${pubA}\nAllowedIPs = 10.77.0.1/32\nEndpoint = 192.0.2.1:51820\n`, { mode: 0o600 });
  let server: ChildProcess | undefined;
  try {
    inNs(nsA, ['wg-quick', 'up', confA], userspaceEnv(implementationA));
    inNs(nsB, ['wg-quick', 'up', confB], userspaceEnv('wireguard-go'));
    server = spawn('ip', ['netns', 'exec', nsB, 'iperf3', '-s', '-B', '10.77.0.2'], { stdio: 'ignore' });
    inNs(nsA, ['ping', '-c', '3', '-W', '2', '10.77.0.2']); // handshake and warm-up
    const iperf = (reverse: boolean): number => {
      let lastError: unknown;
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          const out = inNs(nsA, ['iperf3', '-c', '10.77.0.2', '-t', String(SECONDS), '-J', ...(reverse ? ['-R'] : [])]);
          const report = JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } };
          return report.end.sum_received.bits_per_second / 1e6;
        } catch (error) {
          lastError = error; // the server may not be listening yet
          execFileSync('sleep', ['0.5']);
        }
      }
      throw lastError;
    };
    const forwardMbps = iperf(false);
    const reverseMbps = iperf(true);
    const ping = inNs(nsA, ['ping', '-c', '50', '-i', '0.02', '-q', '10.77.0.2']);
    const avg = /= [\d.]+\/([\d.]+)\//.exec(ping);
    return { scenario, forwardMbps, reverseMbps, pingMs: avg ? Number(avg[1]) : NaN };
  } finally {
    server?.kill('SIGKILL');
    quiet(() => inNs(nsA, ['wg-quick', 'down', confA], userspaceEnv(implementationA)));
    quiet(() => inNs(nsB, ['wg-quick', 'down', confB], userspaceEnv('wireguard-go')));
  }
}

async function main(): Promise<void> {
  const missing = ['wireguard-go', 'wg-quick', 'iperf3'].filter((c) => !have(c));
  const crypto = await runCryptoBench();
  console.log('\nCrypto (seal + open of one packet, per backend)');
  for (const row of crypto) {
    console.log(`  ${row.backend.padEnd(7)} ${String(row.packetSize).padStart(5)} B  ${Math.round(row.packetsPerSecond).toLocaleString('en-US').padStart(10)} packets/s  ${row.megabitsPerSecond.toFixed(0).padStart(6)} Mbit/s`);
  }
  if (process.getuid?.() !== 0 || missing.length > 0) {
    console.log(`\nTunnel benchmark skipped: needs root and ${missing.join(', ') || 'nothing more'}.`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'wirelane-bench-'));
  const results: LinkResult[] = [];
  try {
    tearDown();
    setUpUnderlay();
    results.push(measure('reference', 'wireguard-go', dir));
    results.push(measure('wirelane', repoPath('engine', 'bin', 'wirelane-engine'), dir));
  } finally {
    tearDown();
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`\nTunnel over veth, ${SECONDS} s per direction (host A -> host B)`);
  for (const r of results) {
    console.log(`  ${r.scenario.padEnd(10)} A->B ${r.forwardMbps.toFixed(0).padStart(6)} Mbit/s   B->A ${r.reverseMbps.toFixed(0).padStart(6)} Mbit/s   ping ${r.pingMs.toFixed(3)} ms`);
  }
  const [reference, ours] = results;
  if (reference && ours) {
    console.log('\nRatios, wirelane-engine <-> wireguard-go against wireguard-go <-> wireguard-go (>= 1.0 is as fast or faster)');
    console.log(`  throughput A->B (ours sending):   ${(ours.forwardMbps / reference.forwardMbps).toFixed(2)}`);
    console.log(`  throughput B->A (ours receiving): ${(ours.reverseMbps / reference.reverseMbps).toFixed(2)}`);
    console.log(`  latency (lower is better):        ${(ours.pingMs / reference.pingMs).toFixed(2)}`);
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  tearDown();
  process.exit(1);
});
