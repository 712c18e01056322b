/**
 * Storage benchmark (`npm run bench:storage`): on one temporary directory under the OS temp dir,
 *
 *  1. the partition log's append throughput with flush `always` (every acknowledged append is
 *     fdatasync'ed; group commit) under concurrent appenders, for 100-byte and 1 KiB records in
 *     16 KiB and 64 KiB batches built with RecordBatchBuilder;
 *  2. raw sequential write bandwidth on the same disk: pwrite of a fixed size followed by fdatasync,
 *     repeated — at the size of one group commit (all appenders' batches: the write size the log
 *     issues, reported as "avg write"), measured just before and after each log case and averaged,
 *     and at the batch size (64 KiB) for reference;
 *  3. sequential read throughput of the log (page cache, 1 MiB reads).
 *
 * Prints a table, then as its last line one JSON object (appendMBps, rawFdatasyncMBps, readMBps
 * and every case). Runs for a bounded time (about 30 s) and removes its directory.
 */
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordBatchBuilder } from '../format/record-batch.js';
import { logConfigDefaults } from '../storage/config.js';
import { HandlePool } from '../storage/handle-pool.js';
import { PartitionLog } from '../storage/partition-log.js';

const caseSeconds = Number(process.env.WEIR_BENCH_SECONDS ?? 3);
const appenders = 16;
const mebibyte = 1024 * 1024;

interface AppendCase {
  name: string;
  recordBytes: number;
  batchBytes: number;
  appendMBps: number;
  recordsPerSecond: number;
  averageWriteBytes: number;
  appendsPerSync: number;
  rawSameWriteMBps: number;
}

function buildBatch(recordBytes: number, batchBytes: number, seed: number): Buffer {
  const builder = new RecordBatchBuilder();
  const value = Buffer.alloc(recordBytes, 97 + (seed % 26));
  const key = Buffer.from(`key-${seed}`);
  while (builder.sizeBytes + RecordBatchBuilder.recordSizeBytes({ key, value }) <= batchBytes) {
    builder.add({ key, value, timestamp: Date.now() });
  }
  return builder.build();
}

/** Sequential pwrite of `writeBytes` + fdatasync, for `seconds`; MB/s (10^6 bytes). */
function rawWriteMBps(dir: string, writeBytes: number, seconds: number): number {
  const path = join(dir, `raw-${writeBytes}.bin`);
  const handle = openSync(path, 'w');
  const buffer = Buffer.alloc(writeBytes, 120);
  let written = 0;
  const start = performance.now();
  const deadline = start + seconds * 1000;
  try {
    while (performance.now() < deadline) {
      writeSync(handle, buffer, 0, buffer.length, written);
      fdatasyncSync(handle);
      written += buffer.length;
    }
  } finally {
    closeSync(handle);
    rmSync(path, { force: true });
  }
  return written / 1e6 / ((performance.now() - start) / 1000);
}

async function appendCase(dir: string, recordBytes: number, batchBytes: number): Promise<AppendCase & { log: PartitionLog }> {
  const log = await PartitionLog.open(join(dir, `log-${recordBytes}-${batchBytes}`), { ...logConfigDefaults, batchBytesMax: 1024 * 1024 }, {
    handles: new HandlePool({ handlesMax: 16 }),
  });
  // Raw bandwidth at the write size the log will issue (all appenders' batches in one group),
  // measured just before and just after the log's run: the disk's speed drifts on a shared machine.
  const groupBytes = appenders * batchBytes;
  const rawBefore = rawWriteMBps(dir, groupBytes, caseSeconds / 2);
  let bytes = 0;
  let records = 0;
  const start = performance.now();
  const deadline = start + caseSeconds * 1000;
  const appender = async (id: number) => {
    // Each appender owns its buffer: append stamps offsets into it, so it is reused only once acknowledged.
    const batch = buildBatch(recordBytes, batchBytes, id);
    const count = batch.readInt32BE(57);
    while (performance.now() < deadline) {
      await log.append(batch);
      bytes += batch.length;
      records += count;
    }
  };
  await Promise.all(Array.from({ length: appenders }, (_, id) => appender(id)));
  const seconds = (performance.now() - start) / 1000;
  const stats = log.stats;
  const averageWriteBytes = Math.round(stats.bytesWritten / stats.writes);
  return {
    log,
    name: `${recordBytes} B records, ${batchBytes / 1024} KiB batches`,
    recordBytes,
    batchBytes,
    appendMBps: bytes / 1e6 / seconds,
    recordsPerSecond: records / seconds,
    averageWriteBytes,
    appendsPerSync: stats.appends / Math.max(1, stats.syncs),
    rawSameWriteMBps: (rawBefore + rawWriteMBps(dir, groupBytes, caseSeconds / 2)) / 2,
  };
}

async function readMBps(log: PartitionLog): Promise<number> {
  const start = performance.now();
  let bytes = 0;
  for (let pass = 0; pass < 3; pass++) {
    let offset = log.offsetStart;
    while (offset < log.highWatermark) {
      const chunk = await log.read(offset, mebibyte);
      bytes += chunk.length;
      // The last batch's last offset: read the header of each batch would cost; step by its base.
      let position = 0;
      let last = offset;
      while (position + 61 <= chunk.length) {
        last = chunk.readBigInt64BE(position) + BigInt(chunk.readInt32BE(position + 23));
        position += chunk.readInt32BE(position + 8) + 12;
      }
      offset = last + 1n;
    }
  }
  return bytes / 1e6 / ((performance.now() - start) / 1000);
}

function row(cells: Array<string | number>): string {
  return cells.map((cell, i) => String(typeof cell === 'number' ? cell.toFixed(cell < 10 ? 2 : 0) : cell).padEnd(i === 0 ? 34 : 14)).join('');
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'weir-storage-bench-'));
  try {
    console.log(`storage benchmark in ${dir}: flush always, ${appenders} concurrent appenders, ${caseSeconds} s per case`);
    const cases: AppendCase[] = [];
    let readLog: PartitionLog | null = null;
    for (const [recordBytes, batchBytes] of [[100, 16384], [100, 65536], [1024, 16384], [1024, 65536]] as const) {
      const result = await appendCase(dir, recordBytes, batchBytes);
      const { log, ...figures } = result;
      cases.push(figures);
      if (recordBytes === 1024 && batchBytes === 65536) readLog = log;
      else await log.destroy();
    }
    const rawBatchMBps = rawWriteMBps(dir, 65536, caseSeconds);
    const read = await readMBps(readLog!);
    const headline = cases.find((c) => c.recordBytes === 1024 && c.batchBytes === 65536)!;
    console.log('');
    console.log(row(['case', 'append MB/s', 'records/s', 'avg write', 'appends/sync', 'raw same-size MB/s']));
    for (const c of cases) {
      console.log(row([c.name, c.appendMBps, Math.round(c.recordsPerSecond), `${(c.averageWriteBytes / 1024).toFixed(0)} KiB`, c.appendsPerSync, c.rawSameWriteMBps]));
    }
    console.log(row(['raw 64 KiB pwrite + fdatasync', rawBatchMBps]));
    console.log(row(['sequential read (page cache)', read]));
    console.log(`append / raw at the same write size: ${((100 * headline.appendMBps) / headline.rawSameWriteMBps).toFixed(0)} %`);
    await readLog!.destroy();
    console.log(
      JSON.stringify({
        appendMBps: Number(headline.appendMBps.toFixed(1)),
        rawFdatasyncMBps: Number(headline.rawSameWriteMBps.toFixed(1)),
        rawFdatasync64KiBMBps: Number(rawBatchMBps.toFixed(1)),
        readMBps: Number(read.toFixed(1)),
        appenders,
        cases: cases.map((c) => ({ ...c, appendMBps: Number(c.appendMBps.toFixed(1)), rawSameWriteMBps: Number(c.rawSameWriteMBps.toFixed(1)) })),
      }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
