// What one durable append costs on this disk, without any broker: a write of `--bytes` at the end
// of a file followed by fdatasync, once per `--pace-ms` (W4 sends about one 5 KiB batch per
// millisecond), `--count` times. Prints the latency percentiles of write+fdatasync and the CPU it
// took, for a file that grows and for one whose blocks were written before (no size change to
// journal: what the log's preallocation gives its appends; docs/format/segment.md), and for the
// latter once more through an O_DSYNC descriptor (one write call that returns once the data is
// durable: how the log writes under flush `always`). This is the floor under Weir's
// publish-to-consume latency with flush `always`.
//
//   node bench/fsync-latency.mjs [--dir DIR] [--bytes 5120] [--count 3000] [--pace-ms 1]
import { closeSync, constants, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
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
  const path = join(dir, kind);
  let fd = openSync(path, 'w+');
  const chunk = Buffer.alloc(bytes, 0x5a);
  if (kind !== 'growing') {
    const zeros = Buffer.alloc(1 << 20);
    for (let at = 0; at < bytes * count; at += zeros.length) writeSync(fd, zeros, 0, zeros.length, at);
    fdatasyncSync(fd);
  }
  const dsync = kind === 'o_dsync';
  if (dsync) {
    closeSync(fd);
    fd = openSync(path, constants.O_RDWR | constants.O_DSYNC);
  }
  const latencies = new Float64Array(count);
  const cpuBefore = process.cpuUsage();
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    writeSync(fd, chunk, 0, bytes, i * bytes);
    if (!dsync) fdatasyncSync(fd);
    latencies[i] = performance.now() - started;
    if (paceMs > 0) await sleep(paceMs);
  }
  const cpu = process.cpuUsage(cpuBefore);
  closeSync(fd);
  latencies.sort();
  const at = (q) => latencies[Math.min(count - 1, Math.floor(q * count))].toFixed(3);
  console.log(`${kind.padEnd(10)} ${dsync ? 'O_DSYNC write' : 'write+fdatasync'} of ${bytes} B every ${paceMs} ms, ${count} times: p50 ${at(0.5)} p90 ${at(0.9)} p99 ${at(0.99)} p99.9 ${at(0.999)} max ${latencies[count - 1].toFixed(3)} ms, CPU ${((cpu.user + cpu.system) / count).toFixed(0)} µs each`);
}

try {
  await run('growing');
  await run('prewritten');
  await run('o_dsync');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
