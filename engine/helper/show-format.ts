/**
 * `wg show` text for a tunnel the helper runs, plus its state: what `wirelane show` prints.
 * The layout follows wg(8)'s: "interface:" then indented fields, a blank line, then each peer;
 * durations as "1 minute, 5 seconds ago", sizes as "1.23 KiB".
 */
import type { DeviceDetails, TunnelStatus } from './protocol.js';

/** wg's pretty_time: "N days, N hours, N minutes, N seconds", units that are zero left out. */
export function formatDuration(totalSeconds: number): string {
  let left = Math.max(0, Math.floor(totalSeconds));
  const parts: string[] = [];
  const units: Array<[string, number]> = [
    ['year', 365 * 24 * 3600],
    ['day', 24 * 3600],
    ['hour', 3600],
    ['minute', 60],
    ['second', 1],
  ];
  for (const [unit, size] of units) {
    const n = Math.floor(left / size);
    left -= n * size;
    if (n > 0) parts.push(`${n} ${unit}${n === 1 ? '' : 's'}`);
  }
  return parts.length > 0 ? parts.join(', ') : 'Now';
}

/** wg's pretty_bytes: "512 B", "1.50 KiB", "2.00 MiB", ... */
export function formatBytes(bytes: number): string {
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  if (bytes < 1024) return `${bytes} B`;
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(2)} ${units[unit]}`;
}

export function formatState(status: TunnelStatus, nowMs: number): string {
  const s = status.status;
  switch (s.state) {
    case 'connected':
      return `connected for ${formatDuration((nowMs - s.since) / 1000).replace('Now', 'less than a second')}`;
    case 'connecting':
      return `connecting for ${formatDuration((nowMs - s.since) / 1000).replace('Now', 'less than a second')}, no handshake completed yet`;
    case 'reconnecting':
      return `reconnecting: not answering for ${formatDuration((nowMs - s.unansweredSince) / 1000).replace('Now', 'less than a second')}`;
    case 'failed':
      return `failed: ${s.reason}`;
    default:
      return s.state;
  }
}

/** The `wirelane show NAME` text. */
export function formatShow(name: string, status: TunnelStatus, device: DeviceDetails | null, nowMs: number): string {
  const lines: string[] = [];
  lines.push(`interface: ${device?.interfaceName ?? name}`);
  lines.push(`  state: ${formatState(status, nowMs)}`);
  if (device) {
    if (device.publicKey) {
      lines.push(`  public key: ${device.publicKey}`);
      lines.push('  private key: (hidden)');
    }
    if (device.listenPort) lines.push(`  listening port: ${device.listenPort}`);
    if (device.fwmark) lines.push(`  fwmark: 0x${device.fwmark.toString(16)}`);
    for (const peer of device.peers) {
      lines.push('');
      lines.push(`peer: ${peer.publicKey}`);
      if (peer.hasPresharedKey) lines.push('  preshared key: (hidden)');
      if (peer.endpoint) lines.push(`  endpoint: ${peer.endpoint}`);
      lines.push(`  allowed ips: ${peer.allowedIps.length > 0 ? peer.allowedIps.join(', ') : '(none)'}`);
      if (peer.latestHandshake !== null) {
        lines.push(`  latest handshake: ${formatDuration((nowMs - peer.latestHandshake) / 1000)}${nowMs - peer.latestHandshake >= 1000 ? ' ago' : ''}`);
      }
      if (peer.rxBytes > 0 || peer.txBytes > 0) {
        lines.push(`  transfer: ${formatBytes(peer.rxBytes)} received, ${formatBytes(peer.txBytes)} sent`);
      }
      if (peer.persistentKeepalive > 0) lines.push(`  persistent keepalive: every ${formatDuration(peer.persistentKeepalive)}`);
    }
  }
  return lines.join('\n') + '\n';
}
