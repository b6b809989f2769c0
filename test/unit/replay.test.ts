/**
 * The replay window against the Linux kernel's counter self-test
 * (drivers/net/wireguard/selftest/counter.c): its 34 fixed cases and its 6 bulk runs, with
 * COUNTER_WINDOW_SIZE = 8128 and REJECT_AFTER_MESSAGES = 2^64 - 2^13 - 1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReplayWindow, counterWords } from '../../engine/noise/replay.js';
import { REJECT_AFTER_MESSAGES, REPLAY_WINDOW_SIZE } from '../../engine/noise/constants.js';

const WINDOW = BigInt(REPLAY_WINDOW_SIZE);
const LIM = WINDOW + 1n; // the self-test's T_LIM
const REJECT = REJECT_AFTER_MESSAGES;

function check(window: ReplayWindow, counter: bigint): boolean {
  const [lo, hi] = counterWords(counter);
  return window.validate(lo, hi);
}

// [counter, expected] in the self-test's order; numbered as in counter.c.
const FIXED_CASES: Array<[bigint, boolean]> = [
  /*  1 */ [0n, true],
  /*  2 */ [1n, true],
  /*  3 */ [1n, false],
  /*  4 */ [9n, true],
  /*  5 */ [8n, true],
  /*  6 */ [7n, true],
  /*  7 */ [7n, false],
  /*  8 */ [LIM, true],
  /*  9 */ [LIM - 1n, true],
  /* 10 */ [LIM - 1n, false],
  /* 11 */ [LIM - 2n, true],
  /* 12 */ [2n, true],
  /* 13 */ [2n, false],
  /* 14 */ [LIM + 16n, true],
  /* 15 */ [3n, false],
  /* 16 */ [LIM + 16n, false],
  /* 17 */ [LIM * 4n, true],
  /* 18 */ [LIM * 4n - (LIM - 1n), true],
  /* 19 */ [10n, false],
  /* 20 */ [LIM * 4n - LIM, false],
  /* 21 */ [LIM * 4n - (LIM + 1n), false],
  /* 22 */ [LIM * 4n - (LIM - 2n), true],
  /* 23 */ [LIM * 4n + 1n - LIM, false],
  /* 24 */ [0n, false],
  /* 25 */ [REJECT, false],
  /* 26 */ [REJECT - 1n, true],
  /* 27 */ [REJECT, false],
  /* 28 */ [REJECT - 1n, false],
  /* 29 */ [REJECT - 2n, true],
  /* 30 */ [REJECT + 1n, false],
  /* 31 */ [REJECT + 2n, false],
  /* 32 */ [REJECT - 2n, false],
  /* 33 */ [REJECT - 3n, true],
  /* 34 */ [0n, false],
];

test('replay window: the 34 fixed cases of the kernel self-test', () => {
  assert.equal(FIXED_CASES.length, 34);
  const window = new ReplayWindow();
  FIXED_CASES.forEach(([counter, expected], i) => {
    assert.equal(check(window, counter), expected, `case ${i + 1}: counter ${counter}`);
  });
});

test('replay window: bulk run 1, 1..WINDOW ascending then 0', () => {
  const w = new ReplayWindow();
  for (let i = 1n; i <= WINDOW; i++) assert.equal(check(w, i), true, `counter ${i}`);
  assert.equal(check(w, 0n), true);
  assert.equal(check(w, 0n), false);
});

test('replay window: bulk run 2, 2..WINDOW+1 ascending then 1 and 0', () => {
  const w = new ReplayWindow();
  for (let i = 2n; i <= WINDOW + 1n; i++) assert.equal(check(w, i), true, `counter ${i}`);
  assert.equal(check(w, 1n), true);
  assert.equal(check(w, 0n), false);
});

test('replay window: bulk run 3, WINDOW..0 descending', () => {
  const w = new ReplayWindow();
  for (let i = WINDOW + 1n; i-- > 0n; ) assert.equal(check(w, i), true, `counter ${i}`);
});

test('replay window: bulk run 4, WINDOW+1..1 descending then 0', () => {
  const w = new ReplayWindow();
  for (let i = WINDOW + 2n; i-- > 1n; ) assert.equal(check(w, i), true, `counter ${i}`);
  assert.equal(check(w, 0n), false);
});

test('replay window: bulk run 5, WINDOW..1 descending, WINDOW+1, then 0', () => {
  const w = new ReplayWindow();
  for (let i = WINDOW + 1n; i-- > 1n; ) assert.equal(check(w, i), true, `counter ${i}`);
  assert.equal(check(w, WINDOW + 1n), true);
  assert.equal(check(w, 0n), false);
});

test('replay window: bulk run 6, WINDOW..1 descending, 0, then WINDOW+1', () => {
  const w = new ReplayWindow();
  for (let i = WINDOW + 1n; i-- > 1n; ) assert.equal(check(w, i), true, `counter ${i}`);
  assert.equal(check(w, 0n), true);
  assert.equal(check(w, WINDOW + 1n), true);
});

test('replay window: crossing a 2^32 boundary keeps the window exact', () => {
  const w = new ReplayWindow();
  const base = (1n << 32n) - 5n;
  assert.equal(check(w, base), true);
  assert.equal(check(w, base + 10n), true); // now past 2^32
  assert.equal(check(w, base + 1n), true);
  assert.equal(check(w, base), false);
  assert.equal(check(w, base + 10n - WINDOW), true);
  assert.equal(check(w, base + 9n - WINDOW), false);
  assert.equal(check(w, (1n << 40n)), true);
  assert.equal(check(w, base + 10n), false);
  w.reset();
  assert.equal(check(w, 0n), true);
});
