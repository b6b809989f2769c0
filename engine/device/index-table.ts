/**
 * The device's receiver-index table: 32-bit indices, chosen at random so an observer cannot
 * count our sessions or guess the next one, each naming one handshake or keypair.
 */
import type { CryptoBackend } from '../crypto/backend.js';
import type { IndexTable } from '../noise/api.js';

export class RandomIndexTable<Owner> implements IndexTable<Owner> {
  private readonly owners = new Map<number, Owner>();
  private readonly random = new Uint32Array(1);
  private readonly randomBytes: Uint8Array;
  private readonly crypto: CryptoBackend;

  constructor(crypto: CryptoBackend) {
    this.crypto = crypto;
    this.randomBytes = new Uint8Array(this.random.buffer);
  }

  allocate(owner: Owner): number {
    // With at most a few keypairs per peer the table is sparse: a collision is rare, so retry.
    for (;;) {
      this.crypto.randomFill(this.randomBytes);
      const index = this.random[0]!;
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

  get size(): number {
    return this.owners.size;
  }
}
