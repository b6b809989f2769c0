/**
 * Always-on: tunnels wanted on come back at start, a failing one is retried with a doubling delay
 * (capped), and the retries stop the moment the user turns it off or on by hand.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AlwaysOn, RETRY_FIRST_MS, RETRY_MAX_MS } from '../../engine/helper/always-on.js';
import type { TunnelStatus } from '../../engine/helper/protocol.js';
import { silentLogger } from '../../engine/logger.js';

const status = (name: string, failed: boolean): TunnelStatus => ({
  name,
  status: failed ? { state: 'failed', reason: 'network unreachable' } : { state: 'connecting', since: 1 },
  latestHandshake: null,
  rxBytes: 0,
  txBytes: 0,
  endpoint: null,
});

function harness(wanted: string[], failuresBeforeSuccess: Record<string, number>) {
  const on = new Set(wanted);
  const active = new Set<string>();
  const timers: Array<{ fn: () => void; ms: number; cleared: boolean }> = [];
  const connects: string[] = [];
  const alwaysOn = new AlwaysOn({
    wantedOn: () => [...on].sort(),
    isWantedOn: (name) => on.has(name),
    isActive: (name) => active.has(name),
    connect: async (name) => {
      connects.push(name);
      const left = failuresBeforeSuccess[name] ?? 0;
      if (left > 0) {
        failuresBeforeSuccess[name] = left - 1;
        return status(name, true);
      }
      active.add(name);
      return status(name, false);
    },
    logger: silentLogger,
    setTimer: (fn, ms) => {
      const timer = { fn, ms, cleared: false };
      timers.push(timer);
      return timer;
    },
    clearTimer: (timer) => {
      (timer as { cleared: boolean }).cleared = true;
    },
  });
  /** Fires the latest pending timer; returns its delay. */
  const fire = async () => {
    const timer = timers.filter((t) => !t.cleared).at(-1)!;
    timer.cleared = true;
    timer.fn();
    await new Promise((r) => setImmediate(r));
    return timer.ms;
  };
  return { alwaysOn, on, active, timers, connects, fire };
}

test('every tunnel wanted on is connected at start; one that is off is not', async () => {
  const h = harness(['home', 'office'], {});
  await h.alwaysOn.restore();
  assert.deepEqual(h.connects.sort(), ['home', 'office']);
  assert.deepEqual(h.alwaysOn.pending(), []);
});

test('a failing connect is retried with a doubling delay up to the cap, until it comes up', async () => {
  const h = harness(['office'], { office: 8 });
  await h.alwaysOn.restore();
  const delays: number[] = [];
  while (h.alwaysOn.pending().length > 0) delays.push(await h.fire());
  assert.deepEqual(delays, [RETRY_FIRST_MS, 4000, 8000, 16000, 32000, RETRY_MAX_MS, RETRY_MAX_MS, RETRY_MAX_MS]);
  assert.equal(h.connects.length, 9);
  assert.ok(h.active.has('office'));
});

test('turning it off (or on by hand) stops the retries; a stopped helper retries nothing', async () => {
  const h = harness(['office', 'home'], { office: 5, home: 5 });
  await h.alwaysOn.restore();
  assert.deepEqual(h.alwaysOn.pending(), ['home', 'office']);
  h.on.delete('office');
  h.alwaysOn.cancel('office');
  assert.deepEqual(h.alwaysOn.pending(), ['home']);
  h.alwaysOn.stop();
  assert.deepEqual(h.alwaysOn.pending(), []);
  assert.equal(h.timers.every((t) => t.cleared), true);
});
