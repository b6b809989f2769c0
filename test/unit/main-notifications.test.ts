import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TunnelState, TunnelStatus } from '../../engine/helper/protocol.js';
import { connectFailureNotification, NotificationGate, notificationsFor, type TunnelNotification } from '../../main/notifications.js';

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
  assert.equal(notificationsFor([status('a', reconnecting)], [status('a', { state: 'connected', since: 1 })], none)[0]?.title, 'Reconnected to a');
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
