/**
 * Who is on the other end of a TCP connection to 127.0.0.1, on Linux: the kernel lists every
 * socket of the network namespace in /proc/net/tcp with its owner's uid, so the browser host can
 * serve only the user who started it (and refuse another local user who learnt its address), as
 * SO_PEERCRED does for the helper's Unix socket. A connection whose owner cannot be found (it
 * closed already, or /proc is not there) counts as a stranger's.
 *
 * Other systems have no such table open to a user process (macOS would need the private
 * proc_pidfdinfo walk): there loopbackPeerCheck() returns null and the host relies on its token.
 */
import { readFileSync } from 'node:fs';
import { endianness } from 'node:os';

const LOOPBACK_HEX = endianness() === 'LE' ? '0100007F' : '7F000001';

/**
 * The uid that owns the client end of the connection clientPort -> 127.0.0.1:serverPort, read
 * from /proc/net/tcp text ("sl local_address rem_address st ... uid ..."), or null.
 */
export function loopbackPeerUid(procNetTcp: string, serverPort: number, clientPort: number): number | null {
  const local = `${LOOPBACK_HEX}:${hexPort(clientPort)}`;
  const remote = `${LOOPBACK_HEX}:${hexPort(serverPort)}`;
  for (const line of procNetTcp.split('\n')) {
    const fields = line.trim().split(/\s+/);
    // sl, local, remote, st, tx:rx, tr:when, retrnsmt, uid, ...
    if (fields.length < 8 || fields[1] !== local || fields[2] !== remote) continue;
    const uid = fields[7]!;
    return /^\d+$/.test(uid) ? Number(uid) : null;
  }
  return null;
}

function hexPort(port: number): string {
  return port.toString(16).toUpperCase().padStart(4, '0');
}

/** A check for accepted connections: whether the peer's uid is one of `allowed`; null off Linux. */
export function loopbackPeerCheck(allowed: ReadonlySet<number>, procFile = '/proc/net/tcp'): ((serverPort: number, clientPort: number) => { allowed: boolean; uid: number | null }) | null {
  if (process.platform !== 'linux') return null;
  return (serverPort, clientPort) => {
    let text: string;
    try {
      text = readFileSync(procFile, 'utf8');
    } catch {
      return { allowed: false, uid: null };
    }
    const uid = loopbackPeerUid(text, serverPort, clientPort);
    return { allowed: uid !== null && allowed.has(uid), uid };
  };
}
