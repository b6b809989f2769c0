/**
 * A peer's allowed-IP changes as a set=1 request carries them, in order: add a prefix, or take
 * one away (allowed_ip=-PREFIX). They are packed 18 bytes apiece into one growing buffer rather
 * than held as a Cidr object each: `wg setconf` of 1000 peers x 131 prefixes holds 131,000 of
 * them until the whole request is checked and applied, and as objects (each with a Uint8Array)
 * they cost the garbage collector more than parsing and applying them did.
 *
 * A record is [flags, bits, 16 address bytes]: flags bit 0 = IPv6, bit 1 = remove; an IPv4
 * address takes the first 4 of the 16 bytes. Prefixes are stored with host bits cleared.
 */
import type { Cidr } from './cidr.js';

/** One change: the prefix, and with `remove` a removal. */
export type PrefixChange = Cidr & { readonly remove?: true };

const RECORD_BYTES = 18;
const FLAG_V6 = 1;
const FLAG_REMOVE = 2;

export type PrefixChangeVisitor = (family: 4 | 6, address: Uint8Array, bits: number, remove: boolean) => void;

export class PrefixChanges implements Iterable<PrefixChange> {
  private records = new Uint8Array(0);
  private count = 0;
  /** forEach's address views, reused from record to record. */
  private readonly v4View = new Uint8Array(4);
  private readonly v6View = new Uint8Array(16);

  static from(changes: Iterable<PrefixChange>): PrefixChanges {
    const list = new PrefixChanges();
    for (const change of changes) list.add(change.family, change.address, change.bits, change.remove === true);
    return list;
  }

  get length(): number {
    return this.count;
  }

  /**
   * Appends a change; host bits of `address` are cleared in the copy kept. Throws a RangeError
   * for an address that is not 4 (IPv4) or 16 (IPv6) bytes or a length out of range.
   */
  add(family: 4 | 6, address: Uint8Array, bits: number, remove = false): void {
    const bytes = family === 4 ? 4 : 16;
    if (address.length !== bytes || !Number.isInteger(bits) || bits < 0 || bits > bytes * 8) {
      throw new RangeError(`not a valid IPv${family} prefix: ${address.length} bytes /${bits}`);
    }
    if ((this.count + 1) * RECORD_BYTES > this.records.length) {
      const grown = new Uint8Array(Math.max(16 * RECORD_BYTES, this.records.length * 2));
      grown.set(this.records);
      this.records = grown;
    }
    const at = this.count * RECORD_BYTES;
    this.records[at] = (family === 6 ? FLAG_V6 : 0) | (remove ? FLAG_REMOVE : 0);
    this.records[at + 1] = bits;
    for (let i = 0; i < bytes; i++) {
      const keep = bits - i * 8;
      this.records[at + 2 + i] = keep >= 8 ? address[i]! : keep <= 0 ? 0 : address[i]! & (0xff << (8 - keep)) & 0xff;
    }
    this.count++;
  }

  /** Drops every change (replace_allowed_ips=true also drops the allowed_ip lines above it). */
  clear(): void {
    this.count = 0;
  }

  /** Visits the changes in order; `address` is reused, valid only during the call. */
  forEach(visit: PrefixChangeVisitor): void {
    const records = this.records;
    for (let n = 0; n < this.count; n++) {
      const at = n * RECORD_BYTES;
      const flags = records[at]!;
      const v6 = (flags & FLAG_V6) !== 0;
      const view = v6 ? this.v6View : this.v4View;
      for (let i = 0; i < view.length; i++) view[i] = records[at + 2 + i]!;
      visit(v6 ? 6 : 4, view, records[at + 1]!, (flags & FLAG_REMOVE) !== 0);
    }
  }

  /** The changes as objects, each with an address of its own. */
  toArray(): PrefixChange[] {
    const out: PrefixChange[] = [];
    this.forEach((family, address, bits, remove) => {
      const prefix: Cidr = { family, address: Uint8Array.from(address), bits };
      out.push(remove ? { ...prefix, remove: true } : prefix);
    });
    return out;
  }

  [Symbol.iterator](): Iterator<PrefixChange> {
    return this.toArray()[Symbol.iterator]();
  }
}
