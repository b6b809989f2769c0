/**
 * Which desktop notifications a change of tunnel states deserves: connected, dropped, failed
 * (with the helper's reason), and the gate that keeps it to one notification per event.
 *
 * A disconnect the person asked for is not news; `requestedDisconnects` names the tunnels main
 * turned off itself (it forgets each one once seen disconnected).
 */
import type { TunnelStatus } from '../engine/helper/protocol.js';

/** What happened to the tunnel; with its name, the key two reports of one event share. */
export type NotificationKind = 'connected' | 'failed' | 'dropped' | 'disconnected';

export interface TunnelNotification {
  tunnel: string;
  kind: NotificationKind;
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
    const tunnel = status.name;
    if (was === undefined || was === now.state) continue;
    if (now.state === 'connected') {
      const title = was === 'reconnecting' ? `Reconnected to ${tunnel}` : `Connected to ${tunnel}`;
      notes.push({ tunnel, kind: 'connected', title, body: status.endpoint ? `Through ${status.endpoint}.` : 'The tunnel is up.' });
    } else if (now.state === 'failed') {
      notes.push({ tunnel, kind: 'failed', title: `${tunnel} failed`, body: now.reason });
    } else if (now.state === 'disconnected') {
      if (requestedDisconnects.delete(tunnel)) continue;
      if (was === 'connected' || was === 'reconnecting') notes.push({ tunnel, kind: 'disconnected', title: `${tunnel} disconnected`, body: 'The tunnel went down.' });
    } else if ((now.state === 'connecting' || now.state === 'reconnecting') && was === 'connected') {
      notes.push({ tunnel, kind: 'dropped', title: `${tunnel} dropped`, body: 'The connection was lost; reconnecting.' });
    }
  }
  return notes;
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
