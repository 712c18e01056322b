/**
 * The broker-wide bound on queue window memory, against the real broker process: many queue
 * subscriptions on one large backlog read ahead into memory that they share, so the broker's
 * resident memory no longer grows by a window per subscription, and every subscription still
 * receives every message once its consumers come.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { once } from 'node:events';
import { Connection } from '../client/connection.js';
import { connect } from '../client/index.js';
import { encodeBatch } from '../format/record-batch.js';
import { startBrokerProcess } from './testing/broker-process.js';
import { metricSample } from './testing/metrics.js';

const topic = 'backlog';
const partitionCount = 2;
/** 400 messages of 10,000 bytes per partition: 4 MB, about what one window read ahead before. */
const messagesPerPartition = 400;
const recordsPerBatch = 20;
const valueBytes = 10_000;
/** Each held its whole backlog (about 8 MiB) before, all of them about 400 MiB; they share 64 MiB now. */
const subscriptionCount = 48;
/** Growth of the broker's resident memory allowed over the run: the shared window memory, what the consumers hold in flight, garbage not yet collected. */
const growthBytesMax = 256 * 1024 * 1024;

async function residentBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  assert.ok(match, 'VmRSS in /proc/PID/status');
  return Number(match[1]) * 1024;
}

test(`${subscriptionCount} queue subscriptions on one large backlog stay within the shared window memory, and each receives every message`, { timeout: 60_000 }, async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'weir-queue-memory-'));
  const broker = await startBrokerProcess(dataDir, { args: ['--no-kafka'] });
  const pid = broker.child.pid!;
  let peakBytes = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peakBytes = Math.max(peakBytes, await residentBytes(pid));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  const setup = await Connection.open({ host: '127.0.0.1', port: broker.port, clientId: 'setup', connectTimeoutMs: 2000, requestTimeoutMs: 10_000 });
  const client = await connect(broker.url);
  try {
    await setup.request('createTopic', { name: topic, config: { partitions: partitionCount } as never });
    const value = Buffer.alloc(valueBytes, 7);
    for (let partition = 0; partition < partitionCount; partition++) {
      for (let i = 0; i < messagesPerPartition; i += recordsPerBatch) {
        const batches = encodeBatch(Array.from({ length: recordsPerBatch }, () => ({ value })));
        await setup.request('produce', { topic, partition, acks: 'leader', batches });
      }
    }
    const baseBytes = await residentBytes(pid);
    peakBytes = baseBytes;

    // Every subscription reads ahead as soon as it exists, before any consumer comes.
    const admin = client.admin();
    for (let s = 0; s < subscriptionCount; s++) await admin.createSubscription(topic, `s${s}`);
    const total = partitionCount * messagesPerPartition;
    const received = await Promise.all(Array.from({ length: subscriptionCount }, async (_, s) => {
      const consumer = client.queueConsumer({ topic, subscription: `s${s}`, prefetch: 20 });
      const seen = new Set<string>();
      const done = new AbortController();
      const running = consumer.run({
        eachMessage: (message) => {
          seen.add(`${message.partition}:${message.offset}`);
          if (seen.size === total) done.abort();
        },
      });
      await Promise.race([once(done.signal, 'abort'), running]);
      await consumer.close();
      return seen.size;
    }));
    assert.deepEqual(received, Array.from({ length: subscriptionCount }, () => total), 'every subscription received every message');
    const growthBytes = peakBytes - baseBytes;
    assert.ok(growthBytes < growthBytesMax, `the broker grew by ${(growthBytes / 2 ** 20).toFixed(0)} MiB, more than ${growthBytesMax / 2 ** 20} MiB`);
    // Every window is empty now, and gave back all it held (the gauge follows within 50 ms).
    const deadline = Date.now() + 2_000;
    let heldBytes = await metricSample(broker, 'weir_queue_window_memory_bytes');
    while (heldBytes !== 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      heldBytes = await metricSample(broker, 'weir_queue_window_memory_bytes');
    }
    assert.equal(heldBytes, 0, 'the drained windows hold nothing');
  } finally {
    sampling = false;
    await sampler;
    await client.close();
    setup.close();
    await broker.stop('SIGTERM');
    await rm(dataDir, { recursive: true, force: true });
  }
});
