/**
 * Idle Kafka connections against the real broker process (`weir start
 * --kafka-connection-idle-ms-max`): a connection with nothing in progress is closed once the limit
 * passes, and counted; one that keeps sending, or that has a fetch parked longer than the limit,
 * stays open; a kafkajs producer goes on producing across the close.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { RawClient } from '../protocol/kafka/kafka-raw-client.js';
import { decodeResponse } from '../protocol/kafka/wire/codec.js';
import { kafkaMessages as m } from '../protocol/kafka/wire/messages.js';
import { startBrokerProcess, type BrokerProcess } from './testing/broker-process.js';
import { metricSample } from './testing/metrics.js';

const idleMsMax = 600;
/** The broker's count of idle kafka connections it closed. */
const idleClosed = 'weir_connections_idle_closed_total{protocol="kafka"}';
let broker: BrokerProcess;
let dataDir: string;

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'weir-kafka-idle-'));
  broker = await startBrokerProcess(dataDir, { args: ['--kafka-connection-idle-ms-max', String(idleMsMax), '--log-level', 'debug'] });
});

after(async () => {
  await broker?.stop('SIGTERM');
  await rm(dataDir, { recursive: true, force: true });
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** When the socket closes (Date.now()), or null if it is still open after `timeoutMs`. */
async function closedAt(client: RawClient, timeoutMs: number): Promise<number | null> {
  return (await client.closedWithin(timeoutMs)) ? Date.now() : null;
}

test('an idle connection is closed once the limit passes, cleanly, and counted', { timeout: 20_000 }, async () => {
  const countBefore = await metricSample(broker, idleClosed);
  const client = await RawClient.open(broker.kafkaPort!);
  try {
    await client.call(m.apiVersions, 2, {});
    const answeredAt = Date.now();
    assert.equal(await client.closedWithin(idleMsMax / 2), false, 'open before the limit');
    const closed = await closedAt(client, 10_000);
    assert.ok(closed !== null, 'the broker closed the idle connection');
    assert.ok(closed - answeredAt >= idleMsMax - 50, `closed ${closed - answeredAt} ms after its last response`);
    assert.equal(await metricSample(broker, idleClosed), countBefore + 1);
    assert.match(broker.log(), /debug kafka: closing connection from [^:]+.*: idle for \d+ ms \(connection idle limit 600 ms\)/); // --log-level debug
  } finally {
    client.close();
  }
});

test('a connection that keeps sending requests is not closed', { timeout: 20_000 }, async () => {
  const client = await RawClient.open(broker.kafkaPort!);
  try {
    const started = Date.now();
    // Four times the limit, a request every third of it.
    while (Date.now() - started < idleMsMax * 4) {
      await client.call(m.apiVersions, 2, {});
      await sleep(idleMsMax / 3);
    }
    assert.equal(client.closed, false);
    await client.call(m.apiVersions, 2, {});
  } finally {
    client.close();
  }
});

test('a fetch parked longer than the limit keeps its connection open; idle time counts from its answer', { timeout: 20_000 }, async () => {
  const client = await RawClient.open(broker.kafkaPort!);
  try {
    await client.call(m.metadata, 4, { topics: [{ name: 'idle-parked' }], allowAutoTopicCreation: true });
    const waitMs = idleMsMax * 4;
    const started = Date.now();
    const id = client.send(m.fetch, 11, {
      maxWaitMs: waitMs,
      minBytes: 1,
      topics: [{ topic: 'idle-parked', partitions: [{ partition: 0, fetchOffset: 0n, partitionMaxBytes: 1 << 20 }] }],
    });
    const frame = await client.next(waitMs + 5000);
    assert.ok(frame, `the connection closed while the fetch was parked (after ${Date.now() - started} ms)`);
    const answeredAt = Date.now();
    const response = decodeResponse(m.fetch, 11, frame);
    assert.equal(response.correlationId, id);
    assert.equal(response.body.responses[0]!.partitions[0]!.errorCode, 0);
    assert.ok(answeredAt - started >= waitMs - 100, `the fetch waited its whole ${waitMs} ms (${answeredAt - started} ms)`);
    // Now nothing is in progress: the limit runs from the answer.
    const closed = await closedAt(client, 10_000);
    assert.ok(closed !== null, 'closed once idle after the fetch');
    assert.ok(closed - answeredAt >= idleMsMax - 50, `closed ${closed - answeredAt} ms after the fetch was answered`);
  } finally {
    client.close();
  }
});

test('a kafkajs producer keeps producing across an idle close', { timeout: 30_000 }, async () => {
  const kafka = new Kafka({ clientId: 'idle-producer', brokers: [`127.0.0.1:${broker.kafkaPort}`], logLevel: logLevel.NOTHING, retry: { retries: 5, initialRetryTime: 100 } });
  const producer = kafka.producer({ allowAutoTopicCreation: true });
  await producer.connect();
  try {
    const countBefore = await metricSample(broker, idleClosed);
    await producer.send({ topic: 'idle-produced', messages: [{ value: 'before' }] });
    // Idle past the limit: the broker closes every connection the producer holds.
    const deadline = Date.now() + 10_000;
    while ((await metricSample(broker, idleClosed)) === countBefore) {
      assert.ok(Date.now() < deadline, 'the broker closed no idle producer connection');
      await sleep(100);
    }
    await sleep(idleMsMax); // any second connection too
    await producer.send({ topic: 'idle-produced', messages: [{ value: 'after' }] });
  } finally {
    await producer.disconnect();
  }
  const consumer = await RawClient.open(broker.kafkaPort!);
  try {
    const fetched = await consumer.call(m.fetch, 11, {
      maxWaitMs: 0,
      minBytes: 1,
      topics: [{ topic: 'idle-produced', partitions: [{ partition: 0, fetchOffset: 0n, partitionMaxBytes: 1 << 20 }] }],
    });
    const partition = fetched.responses[0]!.partitions[0]!;
    assert.equal(partition.errorCode, 0);
    assert.equal(partition.highWatermark, 2n, 'both messages stored');
  } finally {
    consumer.close();
  }
});
