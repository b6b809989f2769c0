/**
 * The throughput graph's axes, as pure functions: a y axis of round rates whose labels always
 * differ and always fit the gutter, at every data size, and a time axis of fixed width (the last
 * two minutes, "now" at the right), so one sample or a hundred read the same way.
 */

export interface RateAxis {
  /** Top of the axis, bits per second. */
  max: number;
  /** Tick values from 0 to max, bits per second. */
  ticks: number[];
  /** One label per tick, e.g. "2.5 Mbit/s". */
  labels: string[];
}

/** The scale never shrinks below this, so an idle tunnel draws a flat line low down, not noise. */
export const MIN_AXIS_BITS = 8_000;

const rateUnits = [
  { scale: 1e9, unit: 'Gbit/s' },
  { scale: 1e6, unit: 'Mbit/s' },
  { scale: 1e3, unit: 'kbit/s' },
  { scale: 1, unit: 'bit/s' },
];

/** A round step (1, 2, 2.5 or 5 times a power of ten) giving about `count` intervals up to max. */
export function niceStep(max: number, count = 4): number {
  const raw = max / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const residual = raw / magnitude;
  const factor = residual <= 1 ? 1 : residual <= 2 ? 2 : residual <= 2.5 ? 2.5 : residual <= 5 ? 5 : 10;
  return factor * magnitude;
}

/** Decimals needed to write `value` exactly (up to 3). */
function decimalsOf(value: number): number {
  for (let decimals = 0; decimals < 3; decimals++) {
    const scaled = value * 10 ** decimals;
    if (Math.abs(scaled - Math.round(scaled)) < 1e-6) return decimals;
  }
  return 3;
}

/** The y axis for a peak rate in bits per second. */
export function rateAxis(peakBitsPerSecond: number, count = 4): RateAxis {
  const peak = Number.isFinite(peakBitsPerSecond) ? Math.max(peakBitsPerSecond, MIN_AXIS_BITS) : MIN_AXIS_BITS;
  const step = niceStep(peak, count);
  const max = Math.ceil(peak / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let i = 0; i * step <= max + step / 1000; i++) ticks.push(i * step);
  // One unit for the whole axis, the one the top tick reads best in; decimals from the step, so
  // neighbouring labels never round to the same text.
  const { scale, unit } = rateUnits.find((u) => max >= u.scale) ?? { scale: 1, unit: 'bit/s' };
  const decimals = decimalsOf(step / scale);
  const labels = ticks.map((t) => (t === 0 ? '0' : `${(t / scale).toFixed(decimals)} ${unit}`));
  return { max, ticks, labels };
}

export interface TimeTick {
  /** Seconds before now. */
  ago: number;
  label: string;
}

/**
 * Ticks over a window of `windowSeconds`, labelled relative to now: every 30 s, or every 60 s
 * where the plot is too narrow for labels that far apart (they would touch).
 */
export function timeTicks(windowSeconds: number, plotWidth = Infinity): TimeTick[] {
  const ticks: TimeTick[] = [];
  const every = (plotWidth * 30) / windowSeconds >= 80 ? 30 : 60;
  for (let ago = windowSeconds; ago >= 0; ago -= every) {
    ticks.push({ ago, label: ago === 0 ? 'now' : ago % 60 === 0 ? `${ago / 60} min ago` : `${ago} s ago` });
  }
  return ticks;
}
