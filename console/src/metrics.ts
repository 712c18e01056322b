/**
 * Reads a few process figures out of the Prometheus text the broker serves at /metrics. Only
 * well-known names are used; a figure that is not there is null (the card leaves it out).
 */

export interface ProcessFigures {
  residentBytes: number | null;
  uptimeMs: number | null;
  /** Sum of the gauges whose name ends in `_connections` (open connections per listener). */
  connections: number | null;
}

const sampleLine = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/;

export function parseMetrics(text: string, nowMs = Date.now()): ProcessFigures {
  const figures: ProcessFigures = { residentBytes: null, uptimeMs: null, connections: null };
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = sampleLine.exec(line);
    if (match === null) continue;
    const name = match[1]!;
    const value = Number(match[3]);
    if (!Number.isFinite(value)) continue;
    if (name === 'process_resident_memory_bytes') figures.residentBytes = value;
    else if (name === 'process_start_time_seconds') figures.uptimeMs = Math.max(nowMs - value * 1000, 0);
    else if (name.endsWith('_connections')) figures.connections = (figures.connections ?? 0) + value;
  }
  return figures;
}
