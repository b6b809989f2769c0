/**
 * Cryptokey routing: which peer owns an inner IP address.
 *
 * WireGuard binds each allowed-IP prefix to exactly one peer. On send, the destination address of
 * a packet read from the TUN selects the peer (longest prefix wins); on receive, the source
 * address of a decrypted packet must map back to the peer it came from, or the packet is dropped.
 *
 * The table is a path-compressed binary trie per address family, the structure the kernel and
 * wireguard-go use. Every node holds a prefix (key with host bits cleared, and its length) and
 * two children chosen by the bit just after the prefix; nodes without a value exist only where
 * two branches split. A lookup walks from the root while the node's prefix contains the
 * address, remembering the last node with a value: at most 33 / 129 steps, no allocation.
 *
 * Nodes live in typed arrays (struct of arrays, indices for links) rather than one object each:
 * a device with 1000 peers of 131 allowed IPs has some 260,000 nodes, and an object with a
 * children array and a Uint8Array key cost about 300 bytes of heap apiece; here a node is 22
 * (IPv4) or 34 (IPv6) bytes plus a slot in the values array. Freed nodes are reused.
 *
 * Inserting an existing prefix moves it to the new value (as `wg set ... allowed-ips` moves a
 * route from one peer to another). Each value's nodes are also kept in a set, so removing a peer
 * and listing its prefixes do not walk the whole trie.
 */
import type { Cidr } from './cidr.js';

/** No node (a missing child, the parent of the root, the end of the free list). */
const NONE = -1;
const INITIAL_NODES = 64;

/** The first `bits` (0..32) bits of a 32-bit word set, the rest clear. */
function wordMask(bits: number): number {
  return bits === 0 ? 0 : -1 << (32 - bits);
}

/** Big-endian 32-bit word of buf[at..at+4), as an int32. */
function readWord(buf: Uint8Array, at: number): number {
  return (buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!;
}

/** One family's trie: node i's key is keys[i*words ...], its links child0/child1/parent[i]. */
class PrefixTrie<T> {
  root = NONE;
  /** 32-bit words of a key: 1 (IPv4) or 4 (IPv6). */
  readonly words: 1 | 4;
  private capacity = 0;
  private keys = new Int32Array(0);
  private prefixBits = new Uint8Array(0);
  private child0 = new Int32Array(0);
  private child1 = new Int32Array(0);
  private parents = new Int32Array(0);
  private hasValues = new Uint8Array(0);
  private values: Array<T | undefined> = [];
  private used = 0;
  private freeHead = NONE;
  /** The address being looked up or inserted, as words (no allocation per call). */
  private readonly probe = new Int32Array(4);

  constructor(readonly addressBytes: 4 | 16) {
    this.words = addressBytes === 4 ? 1 : 4;
  }

  hasValue(node: number): boolean {
    return this.hasValues[node] === 1;
  }

  valueOf(node: number): T | undefined {
    return this.values[node];
  }

  setValue(node: number, value: T): void {
    this.hasValues[node] = 1;
    this.values[node] = value;
  }

  bitsOf(node: number): number {
    return this.prefixBits[node]!;
  }

  /** The node's prefix as address bytes. */
  keyBytes(node: number): Uint8Array {
    return this.keyBytesInto(node, new Uint8Array(this.addressBytes));
  }

  /** Writes the node's prefix into `out` (addressBytes long) and returns it. */
  keyBytesInto(node: number, out: Uint8Array): Uint8Array {
    for (let w = 0; w < this.words; w++) {
      const word = this.keys[node * this.words + w]!;
      out[4 * w] = word >>> 24;
      out[4 * w + 1] = (word >>> 16) & 0xff;
      out[4 * w + 2] = (word >>> 8) & 0xff;
      out[4 * w + 3] = word & 0xff;
    }
    return out;
  }

  /** Orders two nodes by key (unsigned, word by word), then by prefix length. */
  compareNodes(a: number, b: number): number {
    for (let w = 0; w < this.words; w++) {
      const x = this.keys[a * this.words + w]! >>> 0;
      const y = this.keys[b * this.words + w]! >>> 0;
      if (x !== y) return x < y ? -1 : 1;
    }
    return this.prefixBits[a]! - this.prefixBits[b]!;
  }

  /** Loads `address` masked to `bits` into the probe. */
  private loadProbe(address: Uint8Array, offset: number, bits: number): void {
    for (let w = 0; w < this.words; w++) {
      const left = bits - 32 * w;
      this.probe[w] = readWord(address, offset + 4 * w) & (left >= 32 ? -1 : left <= 0 ? 0 : wordMask(left));
    }
  }

  /** Whether the probe lies inside node's prefix. */
  private contains(node: number): boolean {
    const bits = this.prefixBits[node]!;
    const base = node * this.words;
    const full = bits >>> 5;
    for (let w = 0; w < full; w++) if (this.keys[base + w] !== this.probe[w]) return false;
    const rest = bits & 31;
    return rest === 0 || ((this.keys[base + full]! ^ this.probe[full]!) & wordMask(rest)) === 0;
  }

  /** Bit `index` (0 = most significant) of the probe. */
  private probeBit(index: number): number {
    return (this.probe[index >>> 5]! >>> (31 - (index & 31))) & 1;
  }

  private keyBit(node: number, index: number): number {
    return (this.keys[node * this.words + (index >>> 5)]! >>> (31 - (index & 31))) & 1;
  }

  private childOf(node: number, side: number): number {
    return side === 0 ? this.child0[node]! : this.child1[node]!;
  }

  private grow(): void {
    const capacity = Math.max(INITIAL_NODES, this.capacity * 2);
    const keys = new Int32Array(capacity * this.words);
    keys.set(this.keys);
    this.keys = keys;
    for (const name of ['child0', 'child1', 'parents'] as const) {
      const next = new Int32Array(capacity);
      next.set(this[name]);
      this[name] = next;
    }
    const prefixBits = new Uint8Array(capacity);
    prefixBits.set(this.prefixBits);
    this.prefixBits = prefixBits;
    const hasValues = new Uint8Array(capacity);
    hasValues.set(this.hasValues);
    this.hasValues = hasValues;
    this.capacity = capacity;
  }

  /** A new node holding the probe masked to `bits`. */
  private allocate(bits: number): number {
    let node: number;
    if (this.freeHead !== NONE) {
      node = this.freeHead;
      this.freeHead = this.parents[node]!;
    } else {
      if (this.used === this.capacity) this.grow();
      node = this.used++;
    }
    const base = node * this.words;
    for (let w = 0; w < this.words; w++) {
      const left = bits - 32 * w;
      this.keys[base + w] = this.probe[w]! & (left >= 32 ? -1 : left <= 0 ? 0 : wordMask(left));
    }
    this.prefixBits[node] = bits;
    this.child0[node] = NONE;
    this.child1[node] = NONE;
    this.parents[node] = NONE;
    this.hasValues[node] = 0;
    this.values[node] = undefined;
    return node;
  }

  private release(node: number): void {
    this.hasValues[node] = 0;
    this.values[node] = undefined;
    this.parents[node] = this.freeHead;
    this.freeHead = node;
  }

  /** The node holding exactly this prefix, or NONE. */
  findExact(address: Uint8Array, bits: number): number {
    this.loadProbe(address, 0, bits);
    let node = this.root;
    while (node !== NONE && this.prefixBits[node]! <= bits && this.contains(node)) {
      if (this.prefixBits[node] === bits) return node;
      node = this.childOf(node, this.probeBit(this.prefixBits[node]!));
    }
    return NONE;
  }

  /** Returns the node for this prefix, creating it (and a split node if needed). */
  findOrCreate(address: Uint8Array, bits: number): number {
    this.loadProbe(address, 0, bits);
    let parent = NONE;
    let node = this.root;
    while (node !== NONE && this.prefixBits[node]! <= bits && this.contains(node)) {
      if (this.prefixBits[node] === bits) return node;
      parent = node;
      node = this.childOf(node, this.probeBit(this.prefixBits[node]!));
    }
    const created = this.allocate(bits);
    if (node === NONE) {
      this.link(parent, created);
      return created;
    }
    // `node` sits where the new prefix belongs but does not contain it (or is longer).
    const shared = Math.min(this.commonBits(node), bits);
    if (shared === bits) {
      // the new prefix contains `node`: it becomes node's parent
      this.link(parent, created);
      this.setChild(created, this.keyBit(node, bits), node);
    } else {
      // the two diverge at bit `shared`: a value-less node joins them
      const split = this.allocate(shared);
      this.link(parent, split);
      this.setChild(split, this.keyBit(node, shared), node);
      this.setChild(split, this.probeBit(shared), created);
    }
    return created;
  }

  /** Leading bits node's key shares with the probe. */
  private commonBits(node: number): number {
    const base = node * this.words;
    for (let w = 0; w < this.words; w++) {
      const x = this.keys[base + w]! ^ this.probe[w]!;
      if (x !== 0) return 32 * w + Math.clz32(x);
    }
    return 32 * this.words;
  }

  /** Puts `child` where the probe's path leaves `parent` (or at the root). */
  private link(parent: number, child: number): void {
    if (parent !== NONE) this.setChild(parent, this.probeBit(this.prefixBits[parent]!), child);
    else {
      this.root = child;
      this.parents[child] = NONE;
    }
  }

  private setChild(parent: number, side: number, child: number): void {
    if (side === 0) this.child0[parent] = child;
    else this.child1[parent] = child;
    if (child !== NONE) this.parents[child] = parent;
  }

  /** Clears a node's value and removes (frees) nodes that no longer join two branches. */
  clearValue(node: number): void {
    this.hasValues[node] = 0;
    this.values[node] = undefined;
    let current = node;
    while (current !== NONE && this.hasValues[current] === 0) {
      const left = this.child0[current]!;
      const right = this.child1[current]!;
      if (left !== NONE && right !== NONE) return; // still a split point
      const only = left !== NONE ? left : right;
      const parent = this.parents[current]!;
      if (parent !== NONE) this.setChild(parent, this.child0[parent] === current ? 0 : 1, only);
      else {
        this.root = only;
        if (only !== NONE) this.parents[only] = NONE;
      }
      this.release(current);
      if (only !== NONE) return; // the child took our place; the parent's shape is unchanged
      current = parent;
    }
  }

  /** Frees every node. */
  clear(): void {
    this.root = NONE;
    this.capacity = 0;
    this.used = 0;
    this.freeHead = NONE;
    this.keys = new Int32Array(0);
    this.prefixBits = new Uint8Array(0);
    this.child0 = new Int32Array(0);
    this.child1 = new Int32Array(0);
    this.parents = new Int32Array(0);
    this.hasValues = new Uint8Array(0);
    this.values = [];
  }

  lookup(buf: Uint8Array, offset: number): T | undefined {
    const maxBits = this.addressBytes * 8;
    this.loadProbe(buf, offset, maxBits);
    let node = this.root;
    let found: T | undefined;
    while (node !== NONE && this.contains(node)) {
      if (this.hasValues[node] === 1) found = this.values[node];
      const bits = this.prefixBits[node]!;
      if (bits === maxBits) break;
      node = this.childOf(node, this.probeBit(bits));
    }
    return found;
  }
}

/** A node of either trie, as nodesByValue keeps it: index * 2, + 1 for IPv6. */
type NodeRef = number;

export class AllowedIps<T> {
  private readonly v4 = new PrefixTrie<T>(4);
  private readonly v6 = new PrefixTrie<T>(16);
  /** Each value's nodes, for entriesFor and removeByValue. */
  private readonly nodesByValue = new Map<T, Set<NodeRef>>();
  /** forEachOf's reused address buffers. */
  private readonly v4Scratch = new Uint8Array(4);
  private readonly v6Scratch = new Uint8Array(16);

  private trieFor(family: 4 | 6, address: Uint8Array, bits: number): PrefixTrie<T> {
    const trie = family === 4 ? this.v4 : this.v6;
    const maxBits = trie.addressBytes * 8;
    if (address.length !== trie.addressBytes || !Number.isInteger(bits) || bits < 0 || bits > maxBits) {
      throw new RangeError(`not a valid IPv${family} prefix: ${address.length} bytes /${bits}`);
    }
    return trie;
  }

  private refOf(trie: PrefixTrie<T>, node: number): NodeRef {
    return node * 2 + (trie === this.v6 ? 1 : 0);
  }

  /** Routes `cidr` (host bits ignored) to `value`; a prefix routed elsewhere moves to `value`. */
  insert(cidr: Cidr, value: T): void {
    this.insertPrefix(cidr.family, cidr.address, cidr.bits, value);
  }

  /** As insert, with the prefix given as its parts (no Cidr object needed). */
  insertPrefix(family: 4 | 6, address: Uint8Array, bits: number, value: T): void {
    const trie = this.trieFor(family, address, bits);
    const node = trie.findOrCreate(address, bits);
    const ref = this.refOf(trie, node);
    if (trie.hasValue(node)) this.nodesByValue.get(trie.valueOf(node) as T)?.delete(ref);
    trie.setValue(node, value);
    let nodes = this.nodesByValue.get(value);
    if (!nodes) this.nodesByValue.set(value, (nodes = new Set()));
    nodes.add(ref);
  }

  /** Removes `cidr` if it is routed to `value`; returns whether it was. */
  remove(cidr: Cidr, value: T): boolean {
    return this.removePrefix(cidr.family, cidr.address, cidr.bits, value);
  }

  /** As remove, with the prefix given as its parts. */
  removePrefix(family: 4 | 6, address: Uint8Array, bits: number, value: T): boolean {
    const trie = this.trieFor(family, address, bits);
    const node = trie.findExact(address, bits);
    if (node === NONE || !trie.hasValue(node) || trie.valueOf(node) !== value) return false;
    const nodes = this.nodesByValue.get(value);
    if (nodes) {
      nodes.delete(this.refOf(trie, node));
      if (nodes.size === 0) this.nodesByValue.delete(value);
    }
    trie.clearValue(node);
    return true;
  }

  /** Removes every prefix routed to `value` (a peer being removed or replacing its allowed IPs). */
  removeByValue(value: T): void {
    const nodes = this.nodesByValue.get(value);
    if (!nodes) return;
    this.nodesByValue.delete(value);
    for (const ref of nodes) ((ref & 1) === 1 ? this.v6 : this.v4).clearValue(ref >>> 1);
  }

  /** The prefixes routed to `value`, IPv4 first, then by address and length. */
  entriesFor(value: T): Cidr[] {
    const out: Cidr[] = [];
    this.forEachOf(value, (family, address, bits) => out.push({ family, address: Uint8Array.from(address), bits }));
    return out;
  }

  /**
   * Visits the prefixes routed to `value` in entriesFor's order without making an object of
   * each: `address` is a buffer reused from call to call, valid only during it. `wg showconf`
   * of 1000 peers x 131 prefixes reads 131,000 of them; as Cidr objects all alive at once they
   * cost more in garbage collection than the rest of the reply.
   */
  forEachOf(value: T, visit: (family: 4 | 6, address: Uint8Array, bits: number) => void): void {
    const nodes = this.nodesByValue.get(value);
    if (!nodes) return;
    const v4: number[] = [];
    const v6: number[] = [];
    for (const ref of nodes) ((ref & 1) === 1 ? v6 : v4).push(ref >>> 1);
    v4.sort((a, b) => this.v4.compareNodes(a, b));
    v6.sort((a, b) => this.v6.compareNodes(a, b));
    for (const node of v4) visit(4, this.v4.keyBytesInto(node, this.v4Scratch), this.v4.bitsOf(node));
    for (const node of v6) visit(6, this.v6.keyBytesInto(node, this.v6Scratch), this.v6.bitsOf(node));
  }

  /** Removes everything. */
  clear(): void {
    this.v4.clear();
    this.v6.clear();
    this.nodesByValue.clear();
  }

  /** The value owning a 4- or 16-byte address; undefined if none (or another length). */
  lookup(address: Uint8Array): T | undefined {
    if (address.length === 4) return this.v4.lookup(address, 0);
    if (address.length === 16) return this.v6.lookup(address, 0);
    return undefined;
  }

  /**
   * The value owning the destination address of the IP packet at buffer[offset...]: IPv4's at
   * +16, IPv6's at +24, the version taken from the first nibble. Undefined for anything too
   * short or of another version. Allocates nothing.
   */
  lookupDestination(buffer: Uint8Array, offset: number): T | undefined {
    const version = buffer[offset]! >>> 4;
    if (version === 4) return offset + 20 <= buffer.length ? this.v4.lookup(buffer, offset + 16) : undefined;
    if (version === 6) return offset + 40 <= buffer.length ? this.v6.lookup(buffer, offset + 24) : undefined;
    return undefined;
  }

  /** As lookupDestination, for the source address (IPv4 at +12, IPv6 at +8). */
  lookupSource(buffer: Uint8Array, offset: number): T | undefined {
    const version = buffer[offset]! >>> 4;
    if (version === 4) return offset + 20 <= buffer.length ? this.v4.lookup(buffer, offset + 12) : undefined;
    if (version === 6) return offset + 40 <= buffer.length ? this.v6.lookup(buffer, offset + 8) : undefined;
    return undefined;
  }
}
