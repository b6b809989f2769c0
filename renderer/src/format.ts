/** How numbers and times read on screen. */

/** "just now", "12 seconds ago", "3 minutes ago", "2 hours ago", "Never". */
export function handshakeAge(latestHandshakeMs: number | null, nowMs: number): string {
  if (latestHandshakeMs === null) return 'Never';
  const seconds = Math.max(0, Math.floor((nowMs - latestHandshakeMs) / 1000));
  if (seconds < 1) return 'just now';
  if (seconds < 60) return `${seconds} second${seconds === 1 ? '' : 's'} ago`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} minute${minutes === 1 ? '' : 's'} ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} hour${hours === 1 ? '' : 's'} ago`;
  const days = Math.floor(hours / 24);
  return `${days} days ago`;
}

const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** 1536 -> "1.50 KiB". */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(2)} ${units[unit]}`;
}

/** Bytes per second as bits per second, three significant digits: "12.3 kbit/s", "400 Mbit/s". */
export function formatRate(bytesPerSecond: number): string {
  const bits = bytesPerSecond * 8;
  if (bits < 1000) return `${Math.round(bits)} bit/s`;
  const [scale, unit] = bits < 999.5e3 ? [1e3, 'kbit/s'] : bits < 999.5e6 ? [1e6, 'Mbit/s'] : [1e9, 'Gbit/s'];
  const value = bits / scale;
  return `${value.toFixed(value < 99.95 ? 1 : 0)} ${unit}`;
}

/** A duration for "connected for": "45 s", "12 min", "3 h 05 min", "2 days 4 h". */
export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${String(seconds % 60).padStart(2, '0')} s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${String(minutes % 60).padStart(2, '0')} min`;
  return `${Math.floor(hours / 24)} days ${hours % 24} h`;
}
