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

const timeFormat = new Intl.DateTimeFormat(undefined, {
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  fractionalSecondDigits: 3,
  hour12: false,
});

export function formatTime(timestampMs: number): string {
  return timestampMs < 0 ? '—' : timeFormat.format(new Date(timestampMs));
}

/** The value a `<input type="datetime-local">` shows for a timestamp (local time, to seconds). */
export function toLocalInput(timestampMs: number): string {
  const date = new Date(timestampMs - new Date(timestampMs).getTimezoneOffset() * 60_000);
  return date.toISOString().slice(0, 19);
}
