import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HelperLog } from '../../engine/helper/helper-log.js';
import { requestSchema, resultSchemas } from '../../engine/helper/protocol.js';
import type { Logger } from '../../engine/logger.js';

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, debug: (m) => lines.push(`debug ${m}`), info: (m) => lines.push(`info ${m}`), warn: (m) => lines.push(`warn ${m}`), error: (m) => lines.push(`error ${m}`) };
}

test('the whole log keeps the helper’s own lines and every tunnel’s, in order, each line once', () => {
  let now = 1000;
  const log = new HelperLog(() => now++);
  const stderr = recordingLogger();
  const sent: string[] = [];
  const logger = log.tee(stderr, (entry) => sent.push(entry.message));
  logger.info('helper listening');
  log.addTunnelLine('office', { time: 5, level: 'info', message: 'connecting' });
  // The tunnel manager writes an engine line to the tunnel's ring, then to the helper's logger.
  log.addTunnelLine('office', { time: 6, level: 'warn', message: 'handshake did not complete' });
  logger.warn('office: handshake did not complete');
  logger.error('bad\nline');
  assert.deepEqual(
    log.recent().map((e) => [e.name, e.level, e.message]),
    [
      [null, 'info', 'helper listening'],
      ['office', 'info', 'connecting'],
      ['office', 'warn', 'handshake did not complete'],
      [null, 'error', 'bad line'],
    ],
  );
  // The helper's logger still gets every line (its journal), subscribers the helper's own.
  assert.equal(stderr.lines.length, 3);
  assert.deepEqual(sent, ['helper listening', 'bad line']);
  assert.equal(log.recent(1).length, 1);
  for (const entry of log.recent()) assert.ok(resultSchemas.helperLog.shape.entries.element.safeParse(entry).success);
});

test('the ring is bounded', () => {
  const log = new HelperLog(() => 0, 3);
  const logger = log.tee(recordingLogger());
  for (let i = 0; i < 10; i++) logger.info(`line ${i}`);
  assert.deepEqual(log.recent().map((e) => e.message), ['line 7', 'line 8', 'line 9']);
});

test('helperLog is a request of the protocol, with an optional bounded limit', () => {
  assert.ok(requestSchema.safeParse({ id: 1, type: 'helperLog' }).success);
  assert.ok(requestSchema.safeParse({ id: 1, type: 'helperLog', limit: 50 }).success);
  assert.ok(!requestSchema.safeParse({ id: 1, type: 'helperLog', limit: 0 }).success);
  assert.ok(!requestSchema.safeParse({ id: 1, type: 'helperLog', name: 'office' }).success);
});
