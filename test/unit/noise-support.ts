/**
 * Shared by the noise-*.test.ts files: both crypto backends, hex helpers, an in-memory index
 * table and a pair of PeerSessions joined in memory with a hand-stepped clock.
 */
import { loadCryptoBackend, sodiumAvailability } from '../../engine/crypto/index.js';
import type { CryptoBackend } from '../../engine/crypto/backend.js';
import type { IndexTable } from '../../engine/noise/api.js';

export function hex(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text, 'hex'));
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** The backends to run every protocol test with; sodium is skipped (with its reason) where it cannot load. */
export function backends(): Array<{ name: string; crypto: CryptoBackend | null; skip: string | false }> {
  const sodium = sodiumAvailability();
  return [
    { name: 'noble', crypto: loadCryptoBackend('noble'), skip: false },
    sodium.available
      ? { name: 'sodium', crypto: loadCryptoBackend('sodium'), skip: false }
      : { name: 'sodium', crypto: null, skip: `sodium-native unavailable: ${sodium.reason}` },
  ];
}

/** A device's index table in miniature: random 32-bit indices, never reused while live. */
export class MemoryIndexTable<Owner> implements IndexTable<Owner> {
  readonly owners = new Map<number, Owner>();
  allocate(owner: Owner): number {
    for (;;) {
      const index = (Math.random() * 0x100000000) >>> 0;
      if (!this.owners.has(index)) {
        this.owners.set(index, owner);
        return index;
      }
    }
  }
  free(index: number): void {
    this.owners.delete(index);
  }
  lookup(index: number): Owner | undefined {
    return this.owners.get(index);
  }
}
