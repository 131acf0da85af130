// A stacked bar chart of counts over time, drawn as SVG (colours come from the stylesheet's c0..c9 classes).
import { h, svg } from './ui.ts';

export interface Series {
  name: string;
  counts: number[];
}

const PALETTE = 10;

/** `starts`: each bucket's start time; every series has one count per bucket. */
export function stackedBars(starts: Date[], bucketMs: number, series: Series[], title: string): HTMLElement {
  const width = 760;
  const height = 220;
  const pad = { left: 40, right: 10, top: 10, bottom: 28 };
  const totals = starts.map((_, i) => series.reduce((n, s) => n + (s.counts[i] ?? 0), 0));
  const max = Math.max(1, ...totals);
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const barW = plotW / Math.max(1, starts.length);
  const y = (v: number) => pad.top + plotH - (v / max) * plotH;
  const parts: SVGElement[] = [];
  // Grid lines and their labels: 0, half, max.
  for (const v of [0, Math.round(max / 2), max]) {
    parts.push(svg('line', { x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v), class: 'grid' }));
    parts.push(svg('text', { x: pad.left - 6, y: y(v) + 4, class: 'axis', 'text-anchor': 'end' }, String(v)));
  }
  starts.forEach((start, i) => {
    let base = 0;
    series.forEach((s, si) => {
      const n = s.counts[i] ?? 0;
      if (n === 0) return;
      const top = y(base + n);
      parts.push(
        svg(
          'rect',
          { x: pad.left + i * barW + 1, y: top, width: Math.max(1, barW - 2), height: y(base) - top, class: `bar c${si % PALETTE}`, 'data-series': s.name, 'data-count': n },
          svg('title', null, `${s.name}: ${n} (${label(start, bucketMs)})`),
        ),
      );
      base += n;
    });
  });
  // Time labels: the first bucket, the middle one and the last.
  for (const i of [0, Math.floor(starts.length / 2), starts.length - 1]) {
    const s = starts[i];
    if (!s) continue;
    parts.push(svg('text', { x: pad.left + i * barW + barW / 2, y: height - 8, class: 'axis', 'text-anchor': 'middle' }, label(s, bucketMs)));
  }
  const chart = svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img', 'aria-label': title }, parts);
  const legend = h(
    'ul',
    { class: 'legend' },
    series.map((s, si) => h('li', null, h('span', { class: `swatch c${si % PALETTE}` }), `${s.name} (${s.counts.reduce((a, b) => a + b, 0)})`)),
  );
  return h('figure', { class: 'chart-figure' }, chart, legend);
}

function label(d: Date, bucketMs: number): string {
  const iso = d.toISOString();
  return bucketMs >= 24 * 3600_000 ? iso.slice(5, 10) : bucketMs >= 3600_000 ? `${iso.slice(5, 10)} ${iso.slice(11, 16)}` : iso.slice(11, 16);
}
