/**
 * What every fuzz file shares: the run's size and a seeded generator.
 *
 * Size: one CI run is the anchors' size (1,000,000 datagrams through the device, 100,000 inputs
 * per parser). `npm run fuzz -- --long` (or WIRELANE_FUZZ_SCALE=N) multiplies every count by N
 * (10 for --long) for a run of its own outside CI.
 *
 * Seed: printed at the start of each file; WIRELANE_FUZZ_SEED=S replays a run exactly.
 */
export const FUZZ_SCALE = Math.max(1, Math.floor(Number(process.env['WIRELANE_FUZZ_SCALE'] ?? 1)) || 1);

export function fuzzSeed(file: string): number {
  const seed = Number(process.env['WIRELANE_FUZZ_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
  process.stderr.write(`# ${file}: fuzz seed ${seed}, scale ${FUZZ_SCALE} (WIRELANE_FUZZ_SEED=${seed} to replay)\n`);
  return seed;
}

/** xorshift32: small, fast and reproducible from a seed; integers in [0, 2^32). */
export function xorshift32(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state;
  };
}
