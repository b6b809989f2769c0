import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TunnelState, TunnelStatus } from '../../engine/helper/protocol.js';
import { connectFailureNotification, helperNotificationFor, NotificationGate, notificationsFor, type TunnelNotification } from '../../main/notifications.js';
import type { HelperAvailability } from '../../main/ipc-schema.js';

const status = (name: string, s: TunnelState): TunnelStatus => ({ name, status: s, latestHandshake: null, rxBytes: 0, txBytes: 0, endpoint: '192.0.2.1:51820' });

test('connect, failure with reason, drop and unexpected disconnect are announced', () => {
  const none = new Set<string>();
  assert.deepEqual(notificationsFor([status('a', { state: 'connecting', since: 1 })], [status('a', { state: 'connected', since: 1 })], none), [
    { tunnel: 'a', kind: 'connected', title: 'Connected to a', body: 'Through 192.0.2.1:51820.' },
  ]);
  assert.deepEqual(notificationsFor([status('a', { state: 'connecting', since: 1 })], [status('a', { state: 'failed', reason: 'cannot resolve vpn.example.com' })], none), [
    { tunnel: 'a', kind: 'failed', title: 'a failed', body: 'cannot resolve vpn.example.com' },
  ]);
  assert.equal(notificationsFor([status('a', { state: 'connected', since: 1 })], [status('a', { state: 'connecting', since: 1 })], none)[0]?.title, 'a dropped');
  assert.equal(notificationsFor([status('a', { state: 'connected', since: 1 })], [status('a', { state: 'disconnected' })], none)[0]?.title, 'a disconnected');
  const reconnecting = { state: 'reconnecting', since: 1, unansweredSince: 2 } as const;
  assert.equal(notificationsFor([status('a', { state: 'connected', since: 1 })], [status('a', reconnecting)], none)[0]?.title, 'a dropped');
  assert.equal(notificationsFor([status('a', reconnecting)], [status('a', { state: 'connected', since: 1 })], none)[0]?.title, 'a restored');
});

test('a failed connect from the tray is notified once, whichever report comes first', () => {
  let clock = 1000;
  for (const order of ['reply first', 'state first'] as const) {
    const shown: TunnelNotification[] = [];
    const gate = new NotificationGate((note) => shown.push(note), () => clock);
    const clickedAt = clock;
    clock += 700; // the connect attempt takes a while
    const fromState = notificationsFor([status('a', { state: 'connecting', since: 1 })], [status('a', { state: 'failed', reason: 'no route to host' })], new Set());
    const fromReply = connectFailureNotification('a', "tunnel 'a' failed to connect: no route to host");
    if (order === 'reply first') {
      gate.offer(fromReply, clickedAt);
      clock += 900; // the next status broadcast
      for (const note of fromState) gate.offer(note);
    } else {
      for (const note of fromState) gate.offer(note);
      clock += 30;
      gate.offer(fromReply, clickedAt);
    }
    assert.equal(shown.length, 1, order);
    assert.equal(shown[0]?.kind, 'failed');
    clock += 60_000;
  }
});

test('the gate keeps separate events: another tunnel, another kind, a later failure', () => {
  let clock = 0;
  const shown: string[] = [];
  const gate = new NotificationGate((note) => shown.push(note.title), () => clock);
  const failed = (tunnel: string): TunnelNotification => ({ tunnel, kind: 'failed', title: `${tunnel} failed`, body: '' });
  gate.offer(failed('a'));
  gate.offer(failed('b'));
  gate.offer({ tunnel: 'a', kind: 'connected', title: 'Connected to a', body: '' });
  clock += 1000;
  gate.offer(failed('a')); // the same event reported again
  clock += 60_000;
  // A retry clicked a minute later fails again: news again.
  const retryAt = clock;
  clock += 500;
  gate.offer(connectFailureNotification('a', 'again'), retryAt);
  assert.deepEqual(shown, ['a failed', 'b failed', 'Connected to a', 'a did not connect']);
});

test('a disconnect the person asked for, an unchanged state and a new tunnel are quiet', () => {
  const requested = new Set(['a']);
  assert.deepEqual(notificationsFor([status('a', { state: 'connected', since: 1 })], [status('a', { state: 'disconnected' })], requested), []);
  assert.equal(requested.has('a'), false, 'the request is forgotten once seen');
  assert.deepEqual(notificationsFor([status('a', { state: 'connected', since: 1 })], [status('a', { state: 'connected', since: 1 })], requested), []);
  assert.deepEqual(notificationsFor([], [status('b', { state: 'connected', since: 1 })], requested), []);
});

test('dropped (connected -> reconnecting), restored (reconnecting -> connected), failed: exactly one notification per event over a run of status updates', () => {
  const none = new Set<string>();
  // What the helper sends once a second, counters and the unanswered time moving on each.
  const timeline: TunnelState[] = [
    { state: 'connecting', since: 1 },
    { state: 'connecting', since: 1 },
    { state: 'connected', since: 2 },
    { state: 'connected', since: 2 },
    { state: 'reconnecting', since: 2, unansweredSince: 10 },
    { state: 'reconnecting', since: 2, unansweredSince: 10 },
    { state: 'reconnecting', since: 2, unansweredSince: 12 },
    { state: 'connected', since: 2 },
    { state: 'connected', since: 2 },
    { state: 'reconnecting', since: 2, unansweredSince: 30 },
    { state: 'failed', reason: 'the interface a was removed' },
    { state: 'failed', reason: 'the interface a was removed' },
  ];
  const titles: string[] = [];
  for (let i = 1; i < timeline.length; i++) {
    const before = { ...status('a', timeline[i - 1]!), rxBytes: i };
    const after = { ...status('a', timeline[i]!), rxBytes: i + 1 };
    for (const note of notificationsFor([before], [after], none)) titles.push(note.title);
  }
  assert.deepEqual(titles, ['Connected to a', 'a dropped', 'a restored', 'a dropped', 'a failed']);
  assert.deepEqual(notificationsFor([status('a', { state: 'connecting', since: 1 })], [status('a', { state: 'reconnecting', since: 1, unansweredSince: 2 })], none), []);
  assert.equal(notificationsFor([status('a', { state: 'reconnecting', since: 1, unansweredSince: 2 })], [status('a', { state: 'connected', since: 1 })], none)[0]?.body, 'Its server answers again; traffic flows through the tunnel.');
});

test('"the helper stopped" once when a running helper goes away, not again until it ran again', () => {
  const socketPath = '/run/wirelane/helper.sock';
  const running: HelperAvailability = { state: 'running', socketPath, helperVersion: '1', platform: 'linux' };
  const gone: HelperAvailability = { state: 'not_running', socketPath, detail: 'nothing listens on its socket' };
  const connecting: HelperAvailability = { state: 'connecting', socketPath };
  const sequence = [connecting, running, running, gone, connecting, gone, running, gone];
  const notes = sequence.slice(1).map((next, i) => helperNotificationFor(sequence[i]!, next)).filter((n) => n !== null);
  assert.equal(notes.length, 2);
  assert.equal(notes[0]?.title, 'The Wirelane service stopped');
});
