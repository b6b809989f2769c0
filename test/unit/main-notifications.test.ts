import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TunnelState, TunnelStatus } from '../../engine/helper/protocol.js';
import { notificationsFor } from '../../main/notifications.js';

const status = (name: string, s: TunnelState): TunnelStatus => ({ name, status: s, latestHandshake: null, rxBytes: 0, txBytes: 0, endpoint: '192.0.2.1:51820' });

test('connect, failure with reason, drop and unexpected disconnect are announced', () => {
  const none = new Set<string>();
  assert.deepEqual(notificationsFor([status('a', { state: 'connecting', since: 1 })], [status('a', { state: 'connected', since: 1 })], none), [
    { title: 'Connected to a', body: 'Through 192.0.2.1:51820.' },
  ]);
  assert.deepEqual(notificationsFor([status('a', { state: 'connecting', since: 1 })], [status('a', { state: 'failed', reason: 'cannot resolve vpn.example.com' })], none), [
    { title: 'a failed', body: 'cannot resolve vpn.example.com' },
  ]);
  assert.equal(notificationsFor([status('a', { state: 'connected', since: 1 })], [status('a', { state: 'connecting', since: 1 })], none)[0]?.title, 'a dropped');
  assert.equal(notificationsFor([status('a', { state: 'connected', since: 1 })], [status('a', { state: 'disconnected' })], none)[0]?.title, 'a disconnected');
});

test('a disconnect the person asked for, an unchanged state and a new tunnel are quiet', () => {
  const requested = new Set(['a']);
  assert.deepEqual(notificationsFor([status('a', { state: 'connected', since: 1 })], [status('a', { state: 'disconnected' })], requested), []);
  assert.equal(requested.has('a'), false, 'the request is forgotten once seen');
  assert.deepEqual(notificationsFor([status('a', { state: 'connected', since: 1 })], [status('a', { state: 'connected', since: 1 })], requested), []);
  assert.deepEqual(notificationsFor([], [status('b', { state: 'connected', since: 1 })], requested), []);
});
