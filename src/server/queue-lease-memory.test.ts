/**
 * The broker-wide bound on leased bytes, against the real broker process: many queue consumers
 * with every credit, which never settle and never read their socket, hold about the lease memory
 * together instead of every subscription's whole backlog; consumers that read get the rest
 * meanwhile, and every message once the holders are gone.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Connection } from '../client/connection.js';
import { connect } from '../client/index.js';
import { encodeBatch } from '../format/record-batch.js';
import { queueHolder } from '../protocol/native/testing-queue-holder.js';
import { startBrokerProcess, type BrokerProcess } from './testing/broker-process.js';
import { requestsAnswered } from './testing/metrics.js';
import { residentBytes, sampleResidentPeak } from './testing/resident-memory.js';

const topic = 'large';
/** 512 messages of 250,000 bytes: about 122 MiB, which each subscription's holders took whole before. */
const messageCount = 512;
const valueBytes = 250_000;
const messagesPerBatch = 4;
const subscriptionCount = 6;
/** Consumers per subscription that take every credit, never settle and never read: 180 in all. */
const holdersPerSubscription = 30;
const config = JSON.stringify({ ackTimeoutMs: 600_000, backoff: { kind: 'fixed', delayMs: 0 } });

let broker: BrokerProcess;
let dataDir: string;

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'weir-lease-memory-'));
  broker = await startBrokerProcess(dataDir, { args: ['--no-kafka'] });
  const setup = await Connection.open({ host: '127.0.0.1', port: broker.port, clientId: 'setup', connectTimeoutMs: 2000, requestTimeoutMs: 10_000 });
  try {
    await setup.request('createTopic', { name: topic, config: { partitions: 1 } as never });
    for (let s = 0; s < subscriptionCount; s++) await setup.request('createSubscription', { topic, name: `s${s}`, configJson: config });
    const value = Buffer.alloc(valueBytes, 7);
    for (let i = 0; i < messageCount; i += messagesPerBatch) {
      await setup.request('produce', { topic, partition: 0, acks: 'leader', batches: encodeBatch(Array.from({ length: messagesPerBatch }, () => ({ value }))) });
    }
  } finally {
    setup.close();
  }
});

after(async () => {
  await broker?.stop('SIGTERM');
  await rm(dataDir, { recursive: true, force: true });
});

test('queue consumers with every credit that never settle or read hold about the lease memory, not each subscription\'s backlog; readers get every message', { timeout: 60_000 }, async () => {
  const pid = broker.child.pid!;
  const startBytes = await residentBytes(pid);
  const subscribedBefore = await requestsAnswered(broker, 'native', 'queueSubscribe');
  const sampler = sampleResidentPeak(pid);
  const sockets: Socket[] = [];
  const client = await connect(broker.url);
  try {
    for (let s = 0; s < subscriptionCount; s++) for (let h = 0; h < holdersPerSubscription; h++) sockets.push(await queueHolder(broker.port, topic, `s${s}`));
    const deadline = Date.now() + 20_000;
    while ((await requestsAnswered(broker, 'native', 'queueSubscribe')) - subscribedBefore < sockets.length) {
      assert.ok(Date.now() < deadline, 'every queueSubscribe answered within 20 s');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }

    // A reader per subscription gets what the holders do not hold; once they are gone, the rest.
    const admin = client.admin();
    const seen = Array.from({ length: subscriptionCount }, () => new Set<bigint>());
    const readers = seen.map((offsets, s) => {
      const consumer = client.queueConsumer({ topic, subscription: `s${s}`, prefetch: 20 });
      const done = new AbortController();
      const running = consumer.run({
        eachMessage: (message) => {
          offsets.add(message.offset);
          if (offsets.size === messageCount) done.abort();
        },
      });
      return { consumer, finished: Promise.race([once(done.signal, 'abort'), running]) };
    });
    const readDeadline = Date.now() + 20_000;
    for (let s = 0; s < subscriptionCount; s++) {
      // Every message left is leased (to the holders, or in the reader's hands).
      for (;;) {
        const description = await admin.describeSubscription(topic, `s${s}`);
        if (description.backlogMessages === description.inFlight) break;
        assert.ok(Date.now() < readDeadline, `subscription s${s}: the reader took every message the holders do not hold within 20 s`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    for (const socket of sockets) socket.destroy();
    await Promise.all(readers.map(async ({ consumer, finished }) => {
      await finished;
      await consumer.close();
    }));
    assert.deepEqual(seen.map((offsets) => offsets.size), seen.map(() => messageCount), 'every reader received every message');

    const grownMiB = ((await sampler.stop()) - startBytes) / (1 << 20);
    // The lease memory (64 MiB), a message per holder beyond it (about 43 MiB), the windows' read
    // ahead and garbage not yet collected: about 150 MiB. Without the bound each subscription's
    // holders took its whole backlog, and the broker grew by about 660 MiB.
    assert.ok(grownMiB < 256, `the broker's resident memory grew by ${grownMiB.toFixed(0)} MiB`);
  } finally {
    await sampler.stop();
    for (const socket of sockets) socket.destroy();
    await client.close();
  }
});
