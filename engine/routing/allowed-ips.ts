/**
 * Cryptokey routing: which peer owns an inner IP address.
 *
 * WireGuard binds each allowed-IP prefix to exactly one peer. On send, the destination address of
 * a packet read from the TUN selects the peer (longest prefix wins); on receive, the source
 * address of a decrypted packet must map back to the peer it came from, or the packet is dropped.
 *
 * The table is a path-compressed binary trie per address family, the structure the kernel and
 * wireguard-go use. Every node holds a prefix (key bytes with host bits cleared, and its length)
 * and two children chosen by the bit just after the prefix; nodes without a value exist only
 * where two branches split. A lookup walks from the root while the node's prefix contains the
 * address, remembering the last node with a value: at most 33 / 129 steps, no allocation.
 *
 * Inserting an existing prefix moves it to the new value (as `wg set ... allowed-ips` moves a
 * route from one peer to another). Each value's nodes are also kept in a set, so removing a peer
 * and listing its prefixes do not walk the whole trie.
 */
import { compareCidr, type Cidr } from './cidr.js';

interface TrieNode<T> {
  /** Prefix bytes, host bits cleared (4 or 16 bytes). */
  readonly key: Uint8Array;
  /** Prefix length in bits. */
  readonly bits: number;
  readonly children: [TrieNode<T> | null, TrieNode<T> | null];
  parent: TrieNode<T> | null;
  hasValue: boolean;
  value: T | undefined;
}

/** Bit `index` (0 = most significant bit of byte 0) of the address at buf[offset...]. */
function bitAt(buf: Uint8Array, offset: number, index: number): 0 | 1 {
  return ((buf[offset + (index >>> 3)]! >>> (7 - (index & 7))) & 1) as 0 | 1;
}

/** Whether the address at buf[offset...] lies inside the node's prefix. */
function prefixContains<T>(node: TrieNode<T>, buf: Uint8Array, offset: number): boolean {
  const key = node.key;
  const fullBytes = node.bits >>> 3;
  for (let i = 0; i < fullBytes; i++) if (key[i] !== buf[offset + i]) return false;
  const rest = node.bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((buf[offset + fullBytes]! ^ key[fullBytes]!) & mask) === 0;
}

/** Number of leading bits two equally long addresses share. */
function commonBits(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i]! ^ b[i]!;
    if (x !== 0) return i * 8 + Math.clz32(x) - 24;
  }
  return a.length * 8;
}

/** A copy of `address` keeping only its first `bits` bits. */
function masked(address: Uint8Array, bits: number): Uint8Array {
  const out = new Uint8Array(address.length);
  const fullBytes = bits >>> 3;
  out.set(address.subarray(0, fullBytes));
  const rest = bits & 7;
  if (rest !== 0) out[fullBytes] = address[fullBytes]! & ((0xff << (8 - rest)) & 0xff);
  return out;
}

function newNode<T>(key: Uint8Array, bits: number): TrieNode<T> {
  return { key, bits, children: [null, null], parent: null, hasValue: false, value: undefined };
}

/** One family's trie. */
class PrefixTrie<T> {
  root: TrieNode<T> | null = null;

  constructor(readonly addressBytes: 4 | 16) {}

  /** The node holding exactly this prefix, or null. `key` must be masked to `bits`. */
  findExact(key: Uint8Array, bits: number): TrieNode<T> | null {
    let node = this.root;
    while (node && node.bits <= bits && prefixContains(node, key, 0)) {
      if (node.bits === bits) return node;
      node = node.children[bitAt(key, 0, node.bits)];
    }
    return null;
  }

  /** Returns the node for this prefix, creating it (and a split node if needed). */
  findOrCreate(key: Uint8Array, bits: number): TrieNode<T> {
    let parent: TrieNode<T> | null = null;
    let node = this.root;
    while (node && node.bits <= bits && prefixContains(node, key, 0)) {
      if (node.bits === bits) return node;
      parent = node;
      node = node.children[bitAt(key, 0, node.bits)];
    }
    const created = newNode<T>(key, bits);
    if (!node) {
      this.link(parent, created, key);
      return created;
    }
    // `node` sits where the new prefix belongs but does not contain it (or is longer).
    const shared = Math.min(commonBits(node.key, key), bits);
    if (shared === bits) {
      // the new prefix contains `node`: it becomes node's parent
      this.link(parent, created, key);
      this.setChild(created, bitAt(node.key, 0, bits), node);
    } else {
      // the two diverge at bit `shared`: a value-less node joins them
      const split = newNode<T>(masked(key, shared), shared);
      this.link(parent, split, key);
      this.setChild(split, bitAt(node.key, 0, shared), node);
      this.setChild(split, bitAt(key, 0, shared), created);
    }
    return created;
  }

  /** Puts `child` where the path of `key` leaves `parent` (or at the root). */
  private link(parent: TrieNode<T> | null, child: TrieNode<T>, key: Uint8Array): void {
    if (parent) this.setChild(parent, bitAt(key, 0, parent.bits), child);
    else {
      this.root = child;
      child.parent = null;
    }
  }

  private setChild(parent: TrieNode<T>, side: 0 | 1, child: TrieNode<T> | null): void {
    parent.children[side] = child;
    if (child) child.parent = parent;
  }

  /** Clears a node's value and removes nodes that no longer join two branches. */
  clearValue(node: TrieNode<T>): void {
    node.hasValue = false;
    node.value = undefined;
    let current: TrieNode<T> | null = node;
    while (current && !current.hasValue) {
      const [left, right] = current.children;
      if (left && right) return; // still a split point
      const only = left ?? right;
      const parent: TrieNode<T> | null = current.parent;
      if (parent) this.setChild(parent, parent.children[0] === current ? 0 : 1, only);
      else {
        this.root = only;
        if (only) only.parent = null;
      }
      if (only) return; // the child took our place; the parent's shape is unchanged
      current = parent;
    }
  }

  lookup(buf: Uint8Array, offset: number): T | undefined {
    let node = this.root;
    let found: T | undefined;
    const maxBits = this.addressBytes * 8;
    while (node !== null && prefixContains(node, buf, offset)) {
      if (node.hasValue) found = node.value;
      if (node.bits === maxBits) break;
      node = node.children[bitAt(buf, offset, node.bits)];
    }
    return found;
  }
}

export class AllowedIps<T> {
  private readonly v4 = new PrefixTrie<T>(4);
  private readonly v6 = new PrefixTrie<T>(16);
  /** Each value's nodes, for entriesFor and removeByValue. */
  private readonly nodesByValue = new Map<T, Set<TrieNode<T>>>();

  private trieFor(cidr: Cidr): PrefixTrie<T> {
    const trie = cidr.family === 4 ? this.v4 : this.v6;
    const maxBits = trie.addressBytes * 8;
    if (cidr.address.length !== trie.addressBytes || !Number.isInteger(cidr.bits) || cidr.bits < 0 || cidr.bits > maxBits) {
      throw new RangeError(`not a valid IPv${cidr.family} prefix: ${cidr.address.length} bytes /${cidr.bits}`);
    }
    return trie;
  }

  /** Routes `cidr` (host bits ignored) to `value`; a prefix routed elsewhere moves to `value`. */
  insert(cidr: Cidr, value: T): void {
    const trie = this.trieFor(cidr);
    const node = trie.findOrCreate(masked(cidr.address, cidr.bits), cidr.bits);
    if (node.hasValue) this.nodesByValue.get(node.value as T)?.delete(node);
    node.hasValue = true;
    node.value = value;
    let nodes = this.nodesByValue.get(value);
    if (!nodes) this.nodesByValue.set(value, (nodes = new Set()));
    nodes.add(node);
  }

  /** Removes `cidr` if it is routed to `value`; returns whether it was. */
  remove(cidr: Cidr, value: T): boolean {
    const trie = this.trieFor(cidr);
    const node = trie.findExact(masked(cidr.address, cidr.bits), cidr.bits);
    if (!node || !node.hasValue || node.value !== value) return false;
    this.forget(node);
    trie.clearValue(node);
    return true;
  }

  /** Removes every prefix routed to `value` (a peer being removed or replacing its allowed IPs). */
  removeByValue(value: T): void {
    const nodes = this.nodesByValue.get(value);
    if (!nodes) return;
    this.nodesByValue.delete(value);
    for (const node of nodes) (node.key.length === 4 ? this.v4 : this.v6).clearValue(node);
  }

  /** The prefixes routed to `value`, IPv4 first, then by address and length. */
  entriesFor(value: T): Cidr[] {
    const nodes = this.nodesByValue.get(value);
    if (!nodes) return [];
    const out: Cidr[] = [];
    for (const node of nodes) out.push({ family: node.key.length === 4 ? 4 : 6, address: new Uint8Array(node.key), bits: node.bits });
    return out.sort(compareCidr);
  }

  /** Removes everything. */
  clear(): void {
    this.v4.root = null;
    this.v6.root = null;
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

  private forget(node: TrieNode<T>): void {
    const nodes = this.nodesByValue.get(node.value as T);
    if (!nodes) return;
    nodes.delete(node);
    if (nodes.size === 0) this.nodesByValue.delete(node.value as T);
  }
}
