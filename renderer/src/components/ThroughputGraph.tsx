/** The live throughput graph of one tunnel (uPlot), received and sent, bits per second. */
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { RateSample } from '../store.js';
import { formatRate } from '../format.js';

/** A legend value: uPlot passes null (its types say number) where the cursor is on no sample. */
function legendRate(value: number | null | undefined): string {
  return value === null || value === undefined ? '–' : formatRate(value);
}

export function ThroughputGraph({ samples, label }: { samples: readonly RateSample[]; label: string }) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    if (!host.current) return;
    const style = getComputedStyle(document.documentElement);
    const rx = style.getPropertyValue('--graph-rx').trim() || '#2a7ae2';
    const tx = style.getPropertyValue('--graph-tx').trim() || '#d9822b';
    const axis = style.getPropertyValue('--text-muted').trim() || '#888';
    const created = new uPlot(
      {
        width: host.current.clientWidth || 480,
        height: 160,
        legend: { show: true },
        cursor: { drag: { x: false, y: false } },
        scales: { y: { range: (_u, _min, max) => [0, Math.max(max, 1024)] } },
        axes: [
          { stroke: axis, grid: { show: false } },
          { stroke: axis, size: 70, values: (_u, values) => values.map((v) => formatRate(v)) },
        ],
        series: [
          {},
          { label: 'Received', stroke: rx, width: 2, value: (_u, v) => legendRate(v) },
          { label: 'Sent', stroke: tx, width: 2, value: (_u, v) => legendRate(v) },
        ],
      },
      [[], [], []],
      host.current,
    );
    plot.current = created;
    const resize = new ResizeObserver(() => {
      if (host.current) created.setSize({ width: host.current.clientWidth, height: 160 });
    });
    resize.observe(host.current);
    return () => {
      resize.disconnect();
      created.destroy();
      plot.current = null;
    };
  }, []);

  useEffect(() => {
    plot.current?.setData([samples.map((s) => s.time), samples.map((s) => s.rxPerSecond), samples.map((s) => s.txPerSecond)]);
  }, [samples]);

  return <div ref={host} className="graph" role="img" aria-label={label} />;
}
