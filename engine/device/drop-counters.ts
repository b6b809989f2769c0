/**
 * Why packets were dropped, counted by reason. Dropping is normal (the OS sends IPv6 router
 * solicitations and multicast into the TUN; the Internet sends junk to any open UDP port), so the
 * device never logs per packet: it counts here and reports the totals at debug level now and then.
 */

export const DROP_REASONS = [
  /** A packet from the TUN whose destination no peer's allowed IPs cover. */
  'noRoute',
  /** A packet from the TUN that is not IPv4/IPv6 or is shorter than its header. */
  'badTunPacket',
  /** The peer has no endpoint to send to yet. */
  'noEndpoint',
  /** No private key is set: nothing can be encrypted or handshaken. */
  'noPrivateKey',
  /** A datagram too short to hold a message type, or of an unknown type. */
  'unknownMessageType',
  /** A handshake or transport message whose size does not match its type. */
  'badMessageSize',
  /** A transport message naming a receiver index we do not have. */
  'unknownReceiver',
  /** A transport message whose authentication, counter or keypair was rejected. */
  'decryptFailed',
  /** A decrypted packet that is not a well-formed IP packet. */
  'badInnerPacket',
  /** A decrypted packet whose source address is not in the sending peer's allowed IPs. */
  'sourceNotAllowed',
  /** A handshake message with a wrong mac1. */
  'badMac1',
  /** A handshake message dropped because the handshake queue was full. */
  'handshakeQueueFull',
  /** Under load and no valid mac2: answered with a cookie reply instead. */
  'cookieReplySent',
  /** Under load, valid mac2, but the source exceeded its handshake rate. */
  'rateLimited',
  /** An initiation that did not decrypt, or from a public key that is not our peer. */
  'badInitiation',
  /** An initiation our peer's session refused (replayed timestamp, flood from one peer). */
  'initiationRefused',
  /** A response or cookie reply that did not match a handshake of ours. */
  'badResponse',
  /** The TUN refused packets on write. */
  'tunWriteFailed',
  /** The UDP socket refused datagrams on send. */
  'sendFailed',
] as const;

export type DropReason = (typeof DROP_REASONS)[number];

export class DropCounters {
  private readonly counts = new Float64Array(DROP_REASONS.length);
  private readonly reported = new Float64Array(DROP_REASONS.length);
  private static readonly indexOf = new Map<DropReason, number>(DROP_REASONS.map((r, i) => [r, i]));

  add(reason: DropReason, n = 1): void {
    this.counts[DropCounters.indexOf.get(reason)!]! += n;
  }

  get(reason: DropReason): number {
    return this.counts[DropCounters.indexOf.get(reason)!]!;
  }

  total(): number {
    let sum = 0;
    for (const c of this.counts) sum += c;
    return sum;
  }

  /** Every reason with its count (zeros included). */
  snapshot(): Record<DropReason, number> {
    const out = {} as Record<DropReason, number>;
    DROP_REASONS.forEach((reason, i) => (out[reason] = this.counts[i]!));
    return out;
  }

  /** "noRoute=12 badMac1=3" for the counts that grew since the last call, or null if none did. */
  takeReport(): string | null {
    const parts: string[] = [];
    DROP_REASONS.forEach((reason, i) => {
      const grown = this.counts[i]! - this.reported[i]!;
      if (grown > 0) parts.push(`${reason}=${grown}`);
      this.reported[i] = this.counts[i]!;
    });
    return parts.length === 0 ? null : parts.join(' ');
  }
}
