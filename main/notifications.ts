/**
 * Which desktop notifications a change deserves. Pure: index.ts shows them.
 *
 * Tunnels, by transition of their state (one notification per transition, never per status
 * update: the helper sends one a second with fresh counters):
 *   connecting -> connected                  "Connected to NAME"
 *   connected -> reconnecting / connecting   "NAME dropped" (its server stopped answering)
 *   reconnecting -> connected                "NAME restored"
 *   anything -> failed                       "NAME failed" with the helper's reason
 *   on -> disconnected, not asked for        "NAME disconnected"
 * A disconnect the person asked for is not news; `requestedDisconnects` names the tunnels main
 * turned off itself (it forgets each one once seen disconnected).
 *
 * The helper: leaving `running` is "the helper stopped", once, until it runs again.
 */
import type { TunnelState, TunnelStatus } from '../engine/helper/protocol.js';
import type { HelperAvailability } from './ipc-schema.js';

export interface TunnelNotification {
  title: string;
  body: string;
}

type StateName = TunnelState['state'];

function isOn(state: StateName): boolean {
  return state === 'connecting' || state === 'connected' || state === 'reconnecting';
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
    if (now.state === 'disconnected' && requestedDisconnects.delete(status.name)) continue;
    const note = tunnelNotification(status, was);
    if (note) notes.push(note);
  }
  return notes;
}

function tunnelNotification(status: TunnelStatus, was: StateName): TunnelNotification | null {
  const { name } = status;
  const now = status.status;
  switch (now.state) {
    case 'connected':
      if (was === 'reconnecting') return { title: `${name} restored`, body: 'Its server answers again; traffic flows through the tunnel.' };
      return { title: `Connected to ${name}`, body: status.endpoint ? `Through ${status.endpoint}.` : 'The tunnel is up.' };
    case 'reconnecting':
    case 'connecting':
      if (was !== 'connected') return null;
      return { title: `${name} dropped`, body: 'Its server stopped answering; Wirelane keeps trying to reconnect.' };
    case 'failed':
      return { title: `${name} failed`, body: now.reason };
    case 'disconnected':
      return isOn(was) ? { title: `${name} disconnected`, body: 'The tunnel went down.' } : null;
  }
}

/** "The helper stopped" when the app loses a helper that was running; null otherwise. */
export function helperNotificationFor(previous: HelperAvailability, next: HelperAvailability): TunnelNotification | null {
  if (previous.state !== 'running' || next.state === 'running') return null;
  return {
    title: 'The Wirelane service stopped',
    body: 'Tunnel states are unknown until it is back; tunnels that were on come back on when it restarts.',
  };
}
