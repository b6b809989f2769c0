/**
 * Which desktop notifications a change of tunnel states deserves: connected, dropped, failed
 * (with the helper's reason). Pure: index.ts shows them.
 *
 * A disconnect the person asked for is not news; `requestedDisconnects` names the tunnels main
 * turned off itself (it forgets each one once seen disconnected).
 */
import type { TunnelStatus } from '../engine/helper/protocol.js';

export interface TunnelNotification {
  title: string;
  body: string;
}

export function notificationsFor(
  previous: readonly TunnelStatus[],
  next: readonly TunnelStatus[],
  requestedDisconnects: Set<string>,
): TunnelNotification[] {
  const before = new Map(previous.map((status) => [status.name, status.status]));
  const notes: TunnelNotification[] = [];
  for (const status of next) {
    const was = before.get(status.name)?.state;
    const now = status.status;
    if (was === undefined || was === now.state) continue;
    if (now.state === 'connected') {
      notes.push({ title: `Connected to ${status.name}`, body: status.endpoint ? `Through ${status.endpoint}.` : 'The tunnel is up.' });
    } else if (now.state === 'failed') {
      notes.push({ title: `${status.name} failed`, body: now.reason });
    } else if (now.state === 'disconnected') {
      if (requestedDisconnects.delete(status.name)) continue;
      if (was === 'connected') notes.push({ title: `${status.name} disconnected`, body: 'The tunnel went down.' });
    } else if ((now.state === 'connecting' || now.state === 'reconnecting') && was === 'connected') {
      notes.push({ title: `${status.name} dropped`, body: 'The connection was lost; reconnecting.' });
    }
  }
  return notes;
}
