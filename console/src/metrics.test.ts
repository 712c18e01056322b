import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMetrics } from './metrics.js';

test('process figures come from the well-known series; connections are summed', () => {
  const text = [
    '# HELP process_resident_memory_bytes Resident set size.',
    '# TYPE process_resident_memory_bytes gauge',
    'process_resident_memory_bytes 1.5e8',
    'process_start_time_seconds 1000',
    'weir_connections{protocol="native"} 3',
    'weir_connections{protocol="http"} 4',
    'weir_connections_total 99',
    'weir_other NaN',
  ].join('\n');
  assert.deepEqual(parseMetrics(text, 1_060_000), { residentBytes: 150_000_000, uptimeMs: 60_000, connections: 7 });
});

test('missing series are null', () => {
  assert.deepEqual(parseMetrics('# nothing here\n'), { residentBytes: null, uptimeMs: null, connections: null });
});
