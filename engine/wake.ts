/**
 * Noticing that the machine slept: the monotonic clock stands still during sleep and the wall
 * clock does not, so between two ticks the wall clock runs ahead of the monotonic one by about
 * the time asleep. After a wake every session's timers are stale; a re-handshake at once beats
 * waiting for them (the helper and the stand-alone engine both do this).
 */
import { performance } from 'node:perf_hooks';

/** A wall-clock jump ahead of the monotonic clock bigger than this between ticks means we slept. */
export const WAKE_JUMP_MS = 5000;

/** How far the wall clock ran ahead of the monotonic clock between `before` and `now` (ms). */
export function wallClockJump(before: { wall: number; mono: number }, now: { wall: number; mono: number }): number {
  return now.wall - before.wall - (now.mono - before.mono);
}

/** Calls `onWake(msAsleep)` after each sleep, checking every `intervalMs`; returns the way to stop. */
export function watchForWake(onWake: (msAsleep: number) => void, intervalMs = 1000): () => void {
  let last = { wall: Date.now(), mono: performance.now() };
  const timer = setInterval(() => {
    const now = { wall: Date.now(), mono: performance.now() };
    const jump = wallClockJump(last, now);
    last = now;
    if (jump > WAKE_JUMP_MS) onWake(jump);
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
