/**
 * An IP prefix as WireGuard's allowed IPs and wg-quick's Address and AllowedIPs hold them.
 * `address` has its host bits cleared for allowed IPs (as `wg` does); conf Addresses keep them.
 */
export interface Cidr {
  readonly family: 4 | 6;
  /** 4 or 16 bytes, network byte order. */
  readonly address: Uint8Array;
  /** Prefix length: 0..32 for IPv4, 0..128 for IPv6. */
  readonly bits: number;
}
