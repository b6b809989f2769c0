/**
 * Which desktop notifications a change deserves, and the gate that keeps them to one per event
 * (NotificationGate). Pure: index.ts shows them.
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

/** What happened; with the tunnel's name, the key that two reports of one event share. */
export type NotificationKind = 'connected' | 'restored' | 'dropped' | 'failed' | 'disconnected' | 'helper-stopped';

export interface TunnelNotification {
  /** The tunnel's name ('' for the helper's own). */
  tunnel: string;
  kind: NotificationKind;
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
  const tunnel = name;
  const now = status.status;
  switch (now.state) {
    case 'connected':
      if (was === 'reconnecting') return { tunnel, kind: 'restored', title: `${name} restored`, body: 'Its server answers again; traffic flows through the tunnel.' };
      return { tunnel, kind: 'connected', title: `Connected to ${name}`, body: status.endpoint ? `Through ${status.endpoint}.` : 'The tunnel is up.' };
    case 'reconnecting':
    case 'connecting':
      if (was !== 'connected') return null;
      return { tunnel, kind: 'dropped', title: `${name} dropped`, body: 'Its server stopped answering; Wirelane keeps trying to reconnect.' };
    case 'failed':
      return { tunnel, kind: 'failed', title: `${name} failed`, body: now.reason };
    case 'disconnected':
      return isOn(was) ? { tunnel, kind: 'disconnected', title: `${name} disconnected`, body: 'The tunnel went down.' } : null;
  }
}

/** "The helper stopped" when the app loses a helper that was running; null otherwise. */
export function helperNotificationFor(previous: HelperAvailability, next: HelperAvailability): TunnelNotification | null {
  if (previous.state !== 'running' || next.state === 'running') return null;
  return {
    tunnel: '',
    kind: 'helper-stopped',
    title: 'The Wirelane service stopped',
    body: 'Tunnel states are unknown until it is back; tunnels that were on come back on when it restarts.',
  };
}

/** A failed connect request as a notification (the tray has no window to show it in). */
export function connectFailureNotification(tunnel: string, message: string): TunnelNotification {
  return { tunnel, kind: 'failed', title: `${tunnel} did not connect`, body: message };
}

/**
 * One notification per event. A failed connect from the tray is reported twice over: by the
 * request's error reply and by the tunnel's state turning to failed, in either order. Both go
 * through here; the second report of the same tunnel and kind is dropped when it comes within
 * `windowMs` of the first, or, for a request, when the first came after the request began.
 */
export class NotificationGate {
  private readonly lastShown = new Map<string, number>();

  constructor(
    private readonly show: (note: TunnelNotification) => void,
    private readonly now: () => number = Date.now,
    private readonly windowMs = 5000,
  ) {}

  /**
   * Shows `note` unless the same event was shown already. `since`: the moment the event began
   * (a request's start); a report of the same tunnel and kind shown after it covers this one.
   */
  offer(note: TunnelNotification, since?: number): boolean {
    const key = `${note.tunnel}\n${note.kind}`;
    const now = this.now();
    const last = this.lastShown.get(key);
    const coveredFrom = since ?? now - this.windowMs;
    if (last !== undefined && last >= coveredFrom) return false;
    this.lastShown.set(key, now);
    this.show(note);
    return true;
  }
}
