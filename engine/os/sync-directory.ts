import { open } from 'node:fs/promises';

/**
 * Makes the directory entries of files just created or renamed in `dir` durable, so a crash
 * right after cannot lose a journal, a kill-switch record or a DNS layer whose bytes were synced.
 * Skipped on Windows (a directory cannot be opened for syncing there); a directory that is gone
 * has nothing left to make durable.
 */
export async function syncDirectory(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}
