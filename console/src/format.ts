/** Numbers, sizes, durations and times as people read them. */

const byteUnits = ['B', 'KiB', 'MiB', 'GiB', 'TiB'] as const;

export function formatBytes(bytes: number): string {
  let value = bytes;
  let unitIndex = 0;
  while (Math.abs(value) >= 1024 && unitIndex < byteUnits.length - 1) {
    value /= 1024;
    unitIndex++;
  }
  const digits = unitIndex === 0 || value >= 100 ? 0 : 1;
  return `${value.toFixed(digits)} ${byteUnits[unitIndex]}`;
}

const countFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const compactFormat = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });

export function formatCount(count: number): string {
  return countFormat.format(count);
}

/** Short form for axes and cards: 1.2K, 3.4M. */
export function formatCompact(value: number): string {
  return Math.abs(value) < 1000 ? countFormat.format(value) : compactFormat.format(value);
}

/** "1 group", "2 groups". */
export function plural(count: number, noun: string): string {
  return `${formatCount(count)} ${noun}${count === 1 ? '' : 's'}`;
}

export function formatRate(perSecond: number, unit: 'msg' | 'bytes'): string {
  return unit === 'bytes' ? `${formatBytes(perSecond)}/s` : `${formatCompact(perSecond)} msg/s`;
}

const durationSteps = [
  [86_400_000, 'd'],
  [3_600_000, 'h'],
  [60_000, 'min'],
  [1000, 's'],
] as const;

/** 1500 → "1.5 s", 7_200_000 → "2 h"; null → "—". */
export function formatDuration(ms: number | null): string {
  if (ms === null) return '—';
  for (const [stepMs, unit] of durationSteps) {
    if (ms >= stepMs) {
      const value = ms / stepMs;
      return `${value >= 10 || Number.isInteger(value) ? Math.round(value) : value.toFixed(1)} ${unit}`;
    }
  }
  return `${Math.round(ms)} ms`;
}

const pad = (value: number, digits = 2) => String(value).padStart(digits, '0');

/** Local time as `2024-05-01 13:45:07.123` (sortable, the same in every locale). */
export function formatTime(timestampMs: number): string {
  if (timestampMs < 0) return '—';
  const d = new Date(timestampMs);
  const date = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  return `${date} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** The value a `<input type="datetime-local">` shows for a timestamp (local time, to seconds). */
export function toLocalInput(timestampMs: number): string {
  const date = new Date(timestampMs - new Date(timestampMs).getTimezoneOffset() * 60_000);
  return date.toISOString().slice(0, 19);
}
