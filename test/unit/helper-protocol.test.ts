import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventSchema, requestSchema, resultSchemas, tunnelStateSchema, TUNNEL_NAME_PATTERN } from '../../engine/helper/protocol.js';
import { parseRequest } from '../../engine/helper/server.js';
import { hideSecrets } from '../../engine/helper/conf-info.js';

const line = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));

test('valid requests of every kind parse', () => {
  for (const request of [
    { id: 1, type: 'list' },
    { id: 2, type: 'import', name: 'office', confText: '[Interface]\nPrivateKey = x\n' },
    { id: 3, type: 'rename', name: 'office', newName: 'home_2' },
    { id: 4, type: 'status' },
    { id: 5, type: 'status', name: 'wg0' },
    { id: 6, type: 'subscribe', logs: true },
    { id: 7, type: 'logs', name: 'wg0', limit: 10 },
    { id: 8, type: 'show', name: 'a=b+c.d-e_f' },
  ]) {
    assert.equal(requestSchema.safeParse(request).success, true, JSON.stringify(request));
  }
});

test('tunnel names follow wg-quick: 1-15 of [a-zA-Z0-9_=+.-], never paths or control characters', () => {
  for (const bad of ['', 'a'.repeat(16), '../etc', 'a/b', 'a b', 'tab\t', 'nl\n', '.', '..', 'é']) {
    assert.equal(requestSchema.safeParse({ id: 1, type: 'connect', name: bad }).success, false, JSON.stringify(bad));
  }
  assert.ok(TUNNEL_NAME_PATTERN.test('a'.repeat(15)));
});

test('conf text refuses control characters other than tab and line breaks', () => {
  assert.equal(requestSchema.safeParse({ id: 1, type: 'import', name: 'x', confText: 'a\tb\r\nc' }).success, true);
  assert.equal(requestSchema.safeParse({ id: 1, type: 'import', name: 'x', confText: 'a\u0000b' }).success, false);
  assert.equal(requestSchema.safeParse({ id: 1, type: 'import', name: 'x', confText: 'a\u001bb' }).success, false);
});

test('unknown fields, wrong types and missing ids are refused', () => {
  assert.equal(requestSchema.safeParse({ id: 1, type: 'connect', name: 'a', extra: 1 }).success, false);
  assert.equal(requestSchema.safeParse({ id: '1', type: 'list' }).success, false);
  assert.equal(requestSchema.safeParse({ id: -1, type: 'list' }).success, false);
  assert.equal(requestSchema.safeParse({ id: 1.5, type: 'list' }).success, false);
  assert.equal(requestSchema.safeParse({ type: 'list' }).success, false);
});

test('parseRequest answers every malformed line with a code and, when readable, the id', () => {
  assert.deepEqual(parseRequest(line('{')), { ok: false, id: null, error: { code: 'bad_request', message: 'the message is not valid JSON' } });
  const notObject = parseRequest(line('[1,2]'));
  assert.equal(!notObject.ok && notObject.error.code, 'bad_request');
  const unknown = parseRequest(line({ id: 9, type: 'format_disk' }));
  assert.deepEqual(unknown.ok ? null : [unknown.id, unknown.error.code], [9, 'unknown_type']);
  const proto = parseRequest(line({ id: 10, type: '__proto__' }));
  assert.deepEqual(proto.ok ? null : [proto.id, proto.error.code], [10, 'unknown_type']);
  const badName = parseRequest(line({ id: 11, type: 'connect', name: '../../x' }));
  assert.ok(!badName.ok && badName.id === 11 && badName.error.code === 'bad_request' && badName.error.message.includes('name'));
  const ok = parseRequest(line({ id: 12, type: 'version' }));
  assert.ok(ok.ok && ok.request.type === 'version');
});

test('tunnel state is a discriminated union the UI can switch on', () => {
  assert.equal(tunnelStateSchema.safeParse({ state: 'connected', since: 1 }).success, true);
  assert.equal(tunnelStateSchema.safeParse({ state: 'connected' }).success, false);
  assert.equal(tunnelStateSchema.safeParse({ state: 'failed', reason: 'no route' }).success, true);
  assert.equal(tunnelStateSchema.safeParse({ state: 'failed', reason: 'two\nlines' }).success, false);
  assert.equal(tunnelStateSchema.safeParse({ state: 'sleeping' }).success, false);
});

test('results and events have schemas the client can check', () => {
  const status = { name: 'wg0', status: { state: 'disconnected' }, latestHandshake: null, rxBytes: 0, txBytes: 0, endpoint: null };
  assert.equal(resultSchemas.status.safeParse({ tunnels: [status] }).success, true);
  assert.equal(eventSchema.safeParse({ event: 'status', tunnels: [status] }).success, true);
  assert.equal(eventSchema.safeParse({ event: 'log', name: 'wg0', entry: { time: 1, level: 'info', message: 'up' } }).success, true);
  assert.equal(eventSchema.safeParse({ event: 'nope' }).success, false);
});

test('hideSecrets hides private and preshared keys, whatever the spacing and case', () => {
  const text = '[Interface]\nPrivateKey = abc=\n[Peer]\n  presharedkey=def=\nPublicKey = pub=\n';
  const hidden = hideSecrets(text);
  assert.ok(!hidden.includes('abc=') && !hidden.includes('def='));
  assert.ok(hidden.includes('PublicKey = pub='));
  assert.match(hidden, /PrivateKey = \(hidden\)/);
});
