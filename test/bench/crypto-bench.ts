/**
 * Microbenchmark of the transport path's crypto: seal then open of one packet, in place, with
 * a fresh counter nonce each time, as engine/device does per packet. Each backend and packet
 * size runs for about a second. `npm run bench` imports runCryptoBench; run this file alone
 * with `node dist/test/bench/crypto-bench.js` to print the table.
 */
import { realpathSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { AEAD_NONCE_SIZE, AEAD_TAG_SIZE, type CryptoBackend } from '../../engine/crypto/backend.js';
import { nobleBackend } from '../../engine/crypto/noble.js';
import { loadSodiumBackend } from '../../engine/crypto/sodium.js';

export interface CryptoBenchResult {
  backend: string;
  /** Plaintext bytes per packet. */
  packetSize: number;
  /** Packets sealed and opened again per second. */
  packetsPerSecond: number;
  /** packetsPerSecond × packetSize in megabits (10^6 bits) per second. */
  megabitsPerSecond: number;
}

export interface CryptoBenchOptions {
  /** How long each backend and size runs; default 1000 ms. */
  durationMs?: number;
  /** Plaintext sizes to measure; default 1420 (a full packet at the default MTU) and 64. */
  packetSizes?: number[];
}

/** Packets between two clock readings, so reading the clock costs next to nothing. */
const BATCH = 64;

function measure(crypto: CryptoBackend, packetSize: number, durationMs: number): CryptoBenchResult {
  const key = crypto.generatePrivateKey();
  const nonce = new Uint8Array(AEAD_NONCE_SIZE);
  const nonceView = new DataView(nonce.buffer);
  const ad = new Uint8Array(0);
  const buffer = new Uint8Array(packetSize + AEAD_TAG_SIZE);
  crypto.randomFill(buffer.subarray(0, packetSize));
  const plaintext = buffer.subarray(0, packetSize);
  const sealed = buffer.subarray(0, packetSize + AEAD_TAG_SIZE);

  let counter = 0;
  const runBatch = (): void => {
    for (let i = 0; i < BATCH; i++) {
      nonceView.setUint32(4, counter++, true);
      crypto.seal(buffer, key, nonce, plaintext, ad);
      if (crypto.open(buffer, key, nonce, sealed, ad) !== packetSize) {
        throw new Error(`${crypto.name}: a packet sealed in the benchmark did not open`);
      }
    }
  };

  // Warm up the JIT (and the native module's first calls) before timing.
  const warmUntil = performance.now() + Math.min(200, durationMs / 5);
  while (performance.now() < warmUntil) runBatch();

  counter = 0;
  const start = performance.now();
  let elapsed: number;
  do {
    runBatch();
    elapsed = performance.now() - start;
  } while (elapsed < durationMs);

  const packetsPerSecond = (counter / elapsed) * 1000;
  return {
    backend: crypto.name,
    packetSize,
    packetsPerSecond: Math.round(packetsPerSecond),
    megabitsPerSecond: Math.round((packetsPerSecond * packetSize * 8) / 1e5) / 10,
  };
}

/** Measures every available backend; sodium is skipped (with a note on stderr) when it cannot load. */
export async function runCryptoBench(options: CryptoBenchOptions = {}): Promise<CryptoBenchResult[]> {
  const durationMs = options.durationMs ?? 1000;
  const packetSizes = options.packetSizes ?? [1420, 64];
  const backends: CryptoBackend[] = [nobleBackend];
  const sodium = loadSodiumBackend();
  if (sodium.ok) backends.push(sodium.backend);
  else process.stderr.write(`crypto bench: sodium backend skipped: ${sodium.reason}\n`);

  const results: CryptoBenchResult[] = [];
  for (const crypto of backends) {
    for (const packetSize of packetSizes) {
      results.push(measure(crypto, packetSize, durationMs));
      // Let the event loop breathe between runs, so a caller's timers and output keep moving.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  return results;
}

function isMainModule(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMainModule()) {
  const results = await runCryptoBench();
  console.table(results);
}
