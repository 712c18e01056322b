/**
 * A broker start after a crash, end to end: the real broker process is SIGKILLed while a producer
 * fills many partitions, and the start that follows validates every partition's log. Its memory
 * must not grow with the partition count, it keeps every acknowledged message, and a long start
 * says how far it got.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect, type SendCallback } from '../client/index.js';
import { take } from '../client/testing/take.js';
import { startProgressIntervalVariable } from '../cli/commands/start.js';
import { startBrokerProcess, type BrokerProcess } from './testing/broker-process.js';

const partitions = 200;
/** Per partition: past the 1 MiB a recovering partition reads at a time, so that each open reads its most. */
const bytesPerPartition = 1100 * 1024;
const valueBytes = 16 * 1024;
/**
 * Peak resident memory of the start. All partitions recovering at once, each with its 1 MiB scan
 * window and 1 MiB producer-state reads, took over 300 MiB here; a few at a time, about 110 MiB.
 */
const startResidentBytesMax = 200 * 1024 * 1024;

function debug(message: string): void {
  if (process.env['WEIR_TEST_DEBUG']) process.stderr.write(`${new Date().toISOString()} ${message}\n`);
}

/** The peak resident memory of a running process (VmHWM), in bytes. */
function residentBytesPeak(pid: number): number {
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(match, `no VmHWM in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

/** Fills every partition to `bytesPerPartition` and SIGKILLs the broker with sends in flight; returns each partition's last acknowledged offset and value. */
async function fillAndKill(broker: BrokerProcess): Promise<Array<{ offset: bigint; value: string }>> {
  const client = await connect(broker.url);
  await client.admin().createTopic('crowded', { partitions, flush: { kind: 'none' } });
  // A short delivery timeout: once the broker is killed, close() fails what was in flight instead of retrying it.
  const producer = client.producer({ acks: 'leader', lingerMs: 2, batchBytesMax: 256 * 1024, deliveryTimeoutMs: 500 });
  const acknowledged = new Array<{ offset: bigint; value: string }>(partitions);
  const messagesPerPartition = Math.ceil(bytesPerPartition / valueBytes);
  let settled = 0;
  let allSettled!: () => void;
  const settledAll = new Promise<void>((resolve) => (allSettled = resolve));
  for (let sequence = 0; sequence < messagesPerPartition + 4; sequence++) {
    for (let partition = 0; partition < partitions; partition++) {
      const value = `${partition}-${sequence}-`.padEnd(valueBytes, '.');
      const settle: SendCallback = (error, metadata) => {
        if (error === null && (acknowledged[partition] === undefined || metadata!.offset > acknowledged[partition]!.offset)) acknowledged[partition] = { offset: metadata!.offset, value };
        if (++settled === partitions * messagesPerPartition) allSettled();
      };
      while (!producer.sendNoWait('crowded', { partition, value: Buffer.from(value) }, settle)) await producer.ready();
    }
    // Killed under load: the last rounds are still being sent.
    if (sequence === messagesPerPartition - 1) await settledAll;
  }
  await broker.stop('SIGKILL');
  await client.close().catch(() => {});
  return acknowledged;
}

test(`a start after SIGKILL recovers ${partitions} partitions in bounded memory, keeps every acknowledged message and says how far it got`, { timeout: 60_000 }, async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'weir-start-up-'));
  try {
    const first = await startBrokerProcess(dataDir);
    try {
      assert.doesNotMatch(first.log(), /starting: /, 'a short start says nothing of its progress');
      assert.match(first.log(), /opened 2 topics \(2 partitions\) in \d+ ms/, 'a fresh data directory opens with its two internal topics');
    } catch (error) {
      await first.stop('SIGKILL');
      throw error;
    }
    const acknowledged = await fillAndKill(first);

    const broker = await startBrokerProcess(dataDir, { env: { [startProgressIntervalVariable]: '10' } });
    try {
      const peakBytes = residentBytesPeak(broker.child.pid!);
      debug(`restarted: the start peaked at ${(peakBytes / 2 ** 20).toFixed(0)} MiB resident`);
      const log = broker.log();
      assert.ok(peakBytes < startResidentBytesMax, `the start peaked at ${(peakBytes / 2 ** 20).toFixed(0)} MiB resident, over ${startResidentBytesMax / 2 ** 20} MiB`);
      assert.match(log, new RegExp(`info  ${partitions} of ${partitions + 2} partitions have no clean-shutdown checkpoint: validating about \\d+\\.\\d MiB of their logs`));
      const progress = log.split('\n').filter((line) => / starting: \d+ of \d+ partitions open, [\d.]+ of [\d.]+ MiB validated$/.test(line));
      assert.ok(progress.length > 0, `no progress line in:\n${log}`);
      assert.doesNotMatch(log, /info .*validating the log from offset/, 'no line per partition');
      assert.match(log, new RegExp(`opened 3 topics \\(${partitions + 2} partitions, validated \\d+\\.\\d MiB\\) in \\d+ ms`));

      const client = await connect(broker.url);
      try {
        const admin = client.admin();
        for (let partition = 0; partition < partitions; partition++) {
          const last = acknowledged[partition];
          assert.ok(last, `partition ${partition}: nothing was acknowledged`);
          assert.ok((await admin.latestOffset('crowded', partition)) > last.offset, `partition ${partition} ends before its acknowledged offset ${last.offset}`);
          const consumer = client.consumer({ partitions: [{ topic: 'crowded', partition }], from: last.offset });
          const [message] = await take(consumer, 1);
          await consumer.close();
          assert.equal(message?.offset, last.offset);
          assert.equal(message?.value?.toString(), last.value, `partition ${partition}: offset ${last.offset} holds something else`);
        }
      } finally {
        await client.close();
      }
    } finally {
      await broker.stop();
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});
