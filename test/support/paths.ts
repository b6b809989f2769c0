/**
 * Where things are, for tests that run both from source (tsx) and compiled (dist/test/...).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRepoRoot(start: string): string {
  let dir = start;
  for (let i = 0; i < 10; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'engine'))) return dir;
    dir = dirname(dir);
  }
  throw new Error(`cannot find the repository root above ${start}`);
}

/** The repository's root folder. */
export const repoRoot = findRepoRoot(dirname(fileURLToPath(import.meta.url)));

/** A path inside the repository, e.g. repoPath('test', 'fixtures', 'uapi', 'get.txt'). */
export function repoPath(...parts: string[]): string {
  return join(repoRoot, ...parts);
}
