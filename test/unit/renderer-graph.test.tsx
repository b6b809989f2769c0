import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, render, screen } from '@testing-library/react';
import { MIN_AXIS_BITS, rateAxis, timeTicks } from '../../renderer/src/graph-scale.js';
import { ThroughputGraph } from '../../renderer/src/components/ThroughputGraph.js';
import type { RateSample } from '../../renderer/src/store.js';

afterEach(cleanup);

const NOW = 1_800_000_000_000;

describe('the rate axis', () => {
  it('reads right at every size: labels differ, are round, and the top is at least the peak', () => {
    for (const peak of [0, 1, 900, 2_000, 6_000, 9_999, 12_345, 400e6, 399e6, 401e6, 1.2e9, 9.5e9, 37e9]) {
      const axis = rateAxis(peak);
      expect(axis.max).toBeGreaterThanOrEqual(Math.max(peak, MIN_AXIS_BITS));
      expect(axis.ticks[0]).toBe(0);
      expect(axis.ticks.at(-1)).toBeCloseTo(axis.max);
      expect(new Set(axis.labels).size, `${peak}: ${axis.labels.join(' | ')}`).toBe(axis.labels.length);
      expect(axis.ticks.length).toBeGreaterThanOrEqual(3);
      expect(axis.ticks.length).toBeLessThanOrEqual(7);
      // Increasing values read as increasing labels (no "2.0 kbit/s" above "6.0 kbit/s").
      const numbers = axis.labels.map((l) => parseFloat(l));
      for (let i = 1; i < numbers.length; i++) expect(numbers[i]!).toBeGreaterThan(numbers[i - 1]!);
    }
  });

  it('400 Mbit/s reads as Mbit/s, never as 0.0', () => {
    const axis = rateAxis(400e6);
    expect(axis.labels.at(-1)).toBe('400 Mbit/s');
    expect(axis.labels.slice(1).every((l) => l.endsWith('Mbit/s') && parseFloat(l) > 0)).toBe(true);
  });

  it('time ticks are relative to now over two minutes', () => {
    expect(timeTicks(120).map((t) => t.label)).toEqual(['2 min ago', '90 s ago', '1 min ago', '30 s ago', 'now']);
    // A narrow plot gets fewer, so its labels never touch.
    expect(timeTicks(120, 250).map((t) => t.label)).toEqual(['2 min ago', '1 min ago', 'now']);
  });
});

function samples(count: number, bytesPerSecond: number): RateSample[] {
  return Array.from({ length: count }, (_, i) => ({ time: NOW / 1000 - (count - 1 - i), rxPerSecond: bytesPerSecond, txPerSecond: bytesPerSecond / 2 }));
}

describe('ThroughputGraph', () => {
  it('with one sample the time axis still spans the last two minutes', () => {
    render(<ThroughputGraph samples={samples(1, 1000)} now={NOW} label="Throughput of office" />);
    const xs = [...document.querySelectorAll('.graph-x-label')].map((e) => e.textContent);
    expect(xs).toEqual(['2 min ago', '90 s ago', '1 min ago', '30 s ago', 'now']);
    expect(screen.getByTestId('rate-rx').textContent).toBe('8.0 kbit/s');
  });

  it('draws labels that fit their gutter and lines inside the plot, colours from the theme', () => {
    render(<ThroughputGraph samples={samples(60, 50e6)} now={NOW} label="Throughput of office" />);
    const labels = [...document.querySelectorAll('.graph-y-label')].map((e) => e.textContent ?? '');
    expect(labels.at(-1)).toBe('400 Mbit/s');
    for (const label of document.querySelectorAll('.graph-y-label')) expect(Number(label.getAttribute('x'))).toBeGreaterThan((label.textContent ?? '').length * 6);
    expect(document.querySelector('.graph-rx')?.getAttribute('d')).toMatch(/^M[\d.]+,[\d.]+(L[\d.]+,[\d.]+){59}$/);
    expect(screen.getByRole('img').getAttribute('aria-label')).toContain('received 400 Mbit/s');
    // No raw legend of a charting library.
    expect(document.body.textContent).not.toContain('Time');
  });

  it('an idle or empty graph says so in words', () => {
    render(<ThroughputGraph samples={[]} now={NOW} label="Throughput of office" />);
    expect(screen.getByTestId('rate-rx').textContent).toBe('–');
    expect([...document.querySelectorAll('.graph-y-label')].map((e) => e.textContent)).toEqual(['0', '2 kbit/s', '4 kbit/s', '6 kbit/s', '8 kbit/s']);
  });
});
