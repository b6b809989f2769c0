/**
 * What a running tunnel's state is, from what its engine measured: a pure function, so every
 * rule is tested with a fake clock (test/unit/helper-tunnel-state.test.ts).
 *
 *   connecting {since}  --a peer completed a handshake-->  connected {since: that handshake}
 *   connected           --a peer left us unanswered for UNANSWERED_FOR_RECONNECTING_MS while
 *                         a handshake initiation of ours waits-->  reconnecting {since, unansweredSince}
 *   reconnecting        --the peer answered (nothing waits unanswered any more)-->  connected {since}
 *
 * "Connected" is never claimed without a completed handshake: a server with the wrong key, or
 * down, keeps the tunnel connecting however long it is on.
 *
 * How the engine decides a peer is not answering follows WireGuard's own timers: data sent and
 * nothing heard back for KEEPALIVE_TIMEOUT + REKEY_TIMEOUT (15 s) makes it start a handshake,
 * retried every REKEY_TIMEOUT (5 s). The peer's `unansweredSince` is the first packet it left
 * unanswered (data or initiation) while an initiation waits, so a server that goes silent under
 * traffic shows as reconnecting about 15 s after it stopped answering, and a handshake towards
 * an idle tunnel's server after 15 s of unanswered attempts (three tries). Keepalives expect no
 * answer and do not count; a rekey answered within its retries never shows.
 */
import type { TunnelState } from './protocol.js';

/** How long a peer must have left us unanswered (with an initiation waiting) to be "not answering". */
export const UNANSWERED_FOR_RECONNECTING_MS = 15_000;

/** What the engine measured about one peer, all in wall-clock Unix ms. */
export interface PeerMeasurement {
  /** The last completed handshake; null when none. */
  latestHandshake: number | null;
  /** See PeerSession.unansweredSince; null when no initiation waits for an answer. */
  unansweredSince: number | null;
}

/**
 * The state a running tunnel moves to, given its current one and its peers' measurements at
 * `nowMs`. States other than connecting, connected and reconnecting are not the engine's to
 * change and come back as they are.
 */
export function nextTunnelState(current: TunnelState, peers: readonly PeerMeasurement[], nowMs: number): TunnelState {
  switch (current.state) {
    case 'connecting': {
      // The device is new at connect, so any completed handshake belongs to this connection.
      const first = earliest(peers.map((p) => p.latestHandshake));
      return first === null ? current : { state: 'connected', since: first };
    }
    case 'connected': {
      const unanswered = notAnsweringSince(peers, nowMs);
      return unanswered === null ? current : { state: 'reconnecting', since: current.since, unansweredSince: unanswered };
    }
    case 'reconnecting': {
      const unanswered = notAnsweringSince(peers, nowMs);
      if (unanswered === null) return { state: 'connected', since: current.since };
      return unanswered === current.unansweredSince ? current : { ...current, unansweredSince: unanswered };
    }
    default:
      return current;
  }
}

/** The earliest unansweredSince among peers unanswered for long enough; null when none is. */
function notAnsweringSince(peers: readonly PeerMeasurement[], nowMs: number): number | null {
  return earliest(peers.map((p) => (p.unansweredSince !== null && nowMs - p.unansweredSince >= UNANSWERED_FOR_RECONNECTING_MS ? p.unansweredSince : null)));
}

function earliest(times: ReadonlyArray<number | null>): number | null {
  let best: number | null = null;
  for (const t of times) if (t !== null && (best === null || t < best)) best = t;
  return best;
}
