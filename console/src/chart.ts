/**
 * A time-series chart drawn as plain SVG: a line with a filled area over the last `windowMs`,
 * horizontal grid lines at round values, and a hover read-out of the nearest point.
 */
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';

export interface ChartPoint {
  timeMs: number;
  value: number;
}

interface ChartProps {
  points: ChartPoint[];
  windowMs: number;
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

/** A round step (1, 2 or 5 × 10^n) so that about `gridLinesTarget` lines cover `max`. */
function niceStep(max: number): number {
  const rough = max / gridLinesTarget;
  const power = 10 ** Math.floor(Math.log10(rough));
  const fraction = rough / power;
  const nice = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10;
  return nice * power;
}

function scaleFor(points: ChartPoint[]): { top: number; step: number } {
  const max = Math.max(...points.map((p) => p.value), 0);
  const step = max > 0 ? niceStep(max) : 1;
  return { top: Math.max(Math.ceil(max / step), 1) * step, step };
}

export function Chart({ points, windowMs, format, series, label }: ChartProps) {
  const [hoverIndex, setHoverIndex] = useState<number | null>(null);
  const endMs = points.length > 0 ? points[points.length - 1]!.timeMs : Date.now();
  const startMs = endMs - windowMs;
  const visible = points.filter((p) => p.timeMs >= startMs);
  const { top, step } = scaleFor(visible);
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
