// What one durable append costs on this disk, without any broker: a write of `--bytes` at the end
// of a file followed by fdatasync, once per `--pace-ms` (W4 sends about one 5 KiB batch per
// millisecond), `--count` times. Prints the latency percentiles of write+fdatasync and the CPU it
// took, for a file that grows and for one whose blocks were written before (no size change to
// journal: what the log's preallocation gives its appends; docs/format/segment.md). This is the
// floor under Weir's publish-to-consume latency with flush `always`.
//
//   node bench/fsync-latency.mjs [--dir DIR] [--bytes 5120] [--count 3000] [--pace-ms 1]
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    dir: { type: 'string', default: tmpdir() },
    bytes: { type: 'string', default: '5120' },
    count: { type: 'string', default: '3000' },
    'pace-ms': { type: 'string', default: '1' },
  },
});
const bytes = Number(values.bytes);
const count = Number(values.count);
const paceMs = Number(values['pace-ms']);
if (!(bytes > 0 && count > 0 && paceMs >= 0)) throw new Error('--bytes and --count must be positive, --pace-ms at least 0');

const dir = mkdtempSync(join(values.dir, 'weir-fsync-'));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function run(kind) {
  const fd = openSync(join(dir, kind), 'w+');
  const chunk = Buffer.alloc(bytes, 0x5a);
  if (kind === 'prewritten') {
    const zeros = Buffer.alloc(1 << 20);
    for (let at = 0; at < bytes * count; at += zeros.length) writeSync(fd, zeros, 0, zeros.length, at);
    fdatasyncSync(fd);
  }
  const latencies = new Float64Array(count);
  const cpuBefore = process.cpuUsage();
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    writeSync(fd, chunk, 0, bytes, i * bytes);
    fdatasyncSync(fd);
    latencies[i] = performance.now() - started;
    if (paceMs > 0) await sleep(paceMs);
  }
  const cpu = process.cpuUsage(cpuBefore);
  closeSync(fd);
  latencies.sort();
  const at = (q) => latencies[Math.min(count - 1, Math.floor(q * count))].toFixed(3);
  console.log(`${kind.padEnd(10)} write+fdatasync of ${bytes} B every ${paceMs} ms, ${count} times: p50 ${at(0.5)} p90 ${at(0.9)} p99 ${at(0.99)} p99.9 ${at(0.999)} max ${latencies[count - 1].toFixed(3)} ms, CPU ${((cpu.user + cpu.system) / count).toFixed(0)} µs each`);
}

try {
  await run('growing');
  await run('prewritten');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
