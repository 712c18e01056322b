/**
 * A time-series chart drawn as plain SVG: a line with a filled area, horizontal grid lines at
 * round values (decimal, or powers of 1024 for bytes), and a hover read-out of the nearest point.
 * The time axis grows with the data in steps of `windowStepMs` up to `windowMsMax`, so a fresh
 * page does not squeeze its first seconds into a corner.
 */
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';

export interface ChartPoint {
  timeMs: number;
  value: number;
}

interface ChartProps {
  points: ChartPoint[];
  windowMsMax: number;
  /** 1024 puts grid lines at round binary sizes (KiB, MiB). */
  base?: 1000 | 1024;
  format: (value: number) => string;
  /** Colour class: `series-a` or `series-b` (app.css). */
  series: string;
  label: string;
}

const width = 640;
const height = 200;
const margin = { left: 64, right: 12, top: 12, bottom: 24 } as const;
const plotWidth = width - margin.left - margin.right;
const plotHeight = height - margin.top - margin.bottom;
const gridLinesTarget = 4;
const windowStepMs = 30_000;

/** A round step (1, 2 or 5 × 10^n, times a power of 1024 for bytes) so about `gridLinesTarget` lines cover `max`. */
export function niceStep(max: number, base: number): number {
  const unit = base === 1024 && max >= 1024 ? 1024 ** Math.floor(Math.log(max) / Math.log(1024)) : 1;
  const rough = max / unit / gridLinesTarget;
  const power = 10 ** Math.floor(Math.log10(rough));
  const fraction = rough / power;
  const nice = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10;
  return nice * power * unit;
}

function scaleFor(points: ChartPoint[], base: number): { top: number; step: number } {
  const max = Math.max(...points.map((p) => p.value), 0);
  const step = max > 0 ? niceStep(max, base) : 1;
  return { top: Math.max(Math.ceil(max / step), 1) * step, step };
}

export function Chart({ points, windowMsMax, base = 1000, format, series, label }: ChartProps) {
  const [hoverIndex, setHoverIndex] = useState<number | null>(null);
  const endMs = points.length > 0 ? points[points.length - 1]!.timeMs : Date.now();
  const spanMs = points.length > 0 ? endMs - points[0]!.timeMs : 0;
  const windowMs = Math.min(Math.max(Math.ceil(spanMs / windowStepMs), 1) * windowStepMs, windowMsMax);
  const startMs = endMs - windowMs;
  const visible = points.filter((p) => p.timeMs >= startMs);
  const { top, step } = scaleFor(visible, base);
  const x = (timeMs: number) => margin.left + ((timeMs - startMs) / windowMs) * plotWidth;
  const y = (value: number) => margin.top + plotHeight - (value / top) * plotHeight;
  const line = visible.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(p.timeMs).toFixed(1)},${y(p.value).toFixed(1)}`).join('');
  const area = visible.length > 1 ? `${line}L${x(endMs).toFixed(1)},${y(0)}L${x(visible[0]!.timeMs).toFixed(1)},${y(0)}Z` : '';
  const grid = [];
  for (let value = 0; value <= top + step / 2; value += step) grid.push(value);
  const hover = hoverIndex !== null ? visible[hoverIndex] : undefined;

  const onMove = (event: MouseEvent) => {
    const svg = event.currentTarget as SVGSVGElement;
    const box = svg.getBoundingClientRect();
    const timeMs = startMs + (((event.clientX - box.left) / box.width) * width - margin.left) / plotWidth * windowMs;
    let best: number | null = null;
    visible.forEach((p, i) => {
      if (best === null || Math.abs(p.timeMs - timeMs) < Math.abs(visible[best]!.timeMs - timeMs)) best = i;
    });
    setHoverIndex(best);
  };

  return html`
    <svg class="chart ${series}" viewBox="0 0 ${width} ${height}" role="img" aria-label=${label}
      onMouseMove=${onMove} onMouseLeave=${() => setHoverIndex(null)}>
      ${grid.map(
        (value) => html`
          <line class="grid" x1=${margin.left} x2=${width - margin.right} y1=${y(value)} y2=${y(value)} />
          <text class="axis" x=${margin.left - 8} y=${y(value) + 4} text-anchor="end">${format(value)}</text>`,
      )}
      <text class="axis" x=${margin.left} y=${height - 6}>−${Math.round(windowMs / 1000)} s</text>
      <text class="axis" x=${width - margin.right} y=${height - 6} text-anchor="end">now</text>
      ${area && html`<path class="area" d=${area} />`}
      ${line && html`<path class="line" d=${line} />`}
      ${hover &&
      html`
        <line class="cursor" x1=${x(hover.timeMs)} x2=${x(hover.timeMs)} y1=${margin.top} y2=${margin.top + plotHeight} />
        <circle class="dot" cx=${x(hover.timeMs)} cy=${y(hover.value)} r="4" />
        <text class="readout" x=${Math.min(x(hover.timeMs) + 8, width - 150)} y=${margin.top + 14}>
          ${format(hover.value)} · ${new Date(hover.timeMs).toLocaleTimeString()}
        </text>`}
      ${visible.length < 2 && html`<text class="axis" x=${margin.left + plotWidth / 2} y=${margin.top + plotHeight / 2} text-anchor="middle">collecting samples…</text>`}
    </svg>
  `;
}
