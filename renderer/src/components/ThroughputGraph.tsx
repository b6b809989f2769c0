/**
 * The live throughput graph of one tunnel, received and sent, in bits per second: a small SVG of
 * our own. Its colours are CSS variables, so it follows a theme switch at once; its axes come
 * from graph-scale.ts (round rates that fit, the last two minutes with "now" at the right).
 */
import { useEffect, useRef, useState, type RefObject } from 'react';
import { formatRate } from '../format.js';
import { rateAxis, timeTicks } from '../graph-scale.js';
import type { RateSample } from '../store.js';

export const GRAPH_WINDOW_SECONDS = 120;
const HEIGHT = 140;
const TOP = 8;
const BOTTOM = 22;
const RIGHT = 14;
/** Approximate width of one character of the 11 px axis labels (tabular digits). */
const LABEL_CHAR_PX = 6.6;
/** Samples further apart than this are not joined: the tunnel was off or the window asleep. */
const GAP_SECONDS = 5;

export interface ThroughputGraphProps {
  samples: readonly RateSample[];
  /** Wall clock, ms: the right edge. */
  now: number;
  label: string;
}

function useWidth(): [RefObject<HTMLDivElement | null>, number] {
  const ref = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(480);
  useEffect(() => {
    const element = ref.current;
    if (!element || typeof ResizeObserver === 'undefined') return;
    const observer = new ResizeObserver(() => {
      if (element.clientWidth > 0) setWidth(element.clientWidth);
    });
    observer.observe(element);
    return () => observer.disconnect();
  }, []);
  return [ref, width];
}

/** SVG path data for one series, broken where samples are missing. */
function pathOf(points: readonly { x: number; y: number; time: number }[]): string {
  let d = '';
  let last: number | null = null;
  for (const point of points) {
    d += `${last === null || point.time - last > GAP_SECONDS ? 'M' : 'L'}${point.x.toFixed(1)},${point.y.toFixed(1)}`;
    last = point.time;
  }
  return d;
}

export function ThroughputGraph({ samples, now, label }: ThroughputGraphProps) {
  const [host, width] = useWidth();
  const end = now / 1000;
  const start = end - GRAPH_WINDOW_SECONDS;
  const visible = samples.filter((s) => s.time >= start - GAP_SECONDS && s.time <= end + GAP_SECONDS);
  const peak = Math.max(0, ...visible.map((s) => Math.max(s.rxPerSecond, s.txPerSecond) * 8));
  const axis = rateAxis(peak);
  const gutter = Math.ceil(Math.max(...axis.labels.map((l) => l.length)) * LABEL_CHAR_PX) + 10;
  const plotWidth = Math.max(40, width - gutter - RIGHT);
  const plotHeight = HEIGHT - TOP - BOTTOM;
  const x = (time: number) => gutter + ((Math.min(Math.max(time, start), end) - start) / GRAPH_WINDOW_SECONDS) * plotWidth;
  const y = (bits: number) => TOP + plotHeight - (Math.min(bits, axis.max) / axis.max) * plotHeight;
  const series = (pick: (s: RateSample) => number) => visible.map((s) => ({ x: x(s.time), y: y(pick(s) * 8), time: s.time }));
  const latest = samples[samples.length - 1];
  const fresh = latest !== undefined && Math.abs(end - latest.time) <= GAP_SECONDS;
  const rxNow = fresh ? formatRate(latest.rxPerSecond) : '–';
  const txNow = fresh ? formatRate(latest.txPerSecond) : '–';
  const summary = `${label}, last two minutes: received ${rxNow}, sent ${txNow} now; peak ${formatRate(peak / 8)}`;

  return (
    <figure className="graph" data-testid="graph">
      <div ref={host} className="graph-host">
        <svg width={width} height={HEIGHT} role="img" aria-label={summary} data-testid="graph-svg">
          {axis.ticks.map((tick, index) => (
            <g key={tick} className="graph-y-tick">
              <line x1={gutter} x2={gutter + plotWidth} y1={y(tick)} y2={y(tick)} className="graph-grid" />
              <text x={gutter - 6} y={y(tick)} dy="0.35em" textAnchor="end" className="graph-label graph-y-label">
                {axis.labels[index]}
              </text>
            </g>
          ))}
          {timeTicks(GRAPH_WINDOW_SECONDS, plotWidth).map((tick) => (
            <text
              key={tick.ago}
              x={x(end - tick.ago)}
              y={HEIGHT - 6}
              textAnchor={tick.ago === GRAPH_WINDOW_SECONDS ? 'start' : tick.ago === 0 ? 'end' : 'middle'}
              className="graph-label graph-x-label"
            >
              {tick.label}
            </text>
          ))}
          <path d={pathOf(series((s) => s.rxPerSecond))} className="graph-line graph-rx" />
          <path d={pathOf(series((s) => s.txPerSecond))} className="graph-line graph-tx" />
        </svg>
      </div>
      <figcaption className="graph-legend">
        <span className="legend-item">
          <span className="swatch swatch-rx" aria-hidden="true" /> Received <strong data-testid="rate-rx">{rxNow}</strong>
        </span>
        <span className="legend-item">
          <span className="swatch swatch-tx" aria-hidden="true" /> Sent <strong data-testid="rate-tx">{txNow}</strong>
        </span>
      </figcaption>
    </figure>
  );
}
