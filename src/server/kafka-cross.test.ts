/**
 * The two protocols over one broker process: messages produced with kcat (librdkafka) are read
 * by the Weir client and the other way round, and a kafkajs consumer group's committed offsets
 * show up through the native admin API.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { connect, type Client } from '../client/index.js';
import { startBrokerProcess, type BrokerProcess } from './testing/broker-process.js';

const run = promisify(execFile);
let broker: BrokerProcess;
let client: Client;
let dataDir: string;

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'weir-cross-'));
  broker = await startBrokerProcess(dataDir);
  client = await connect(broker.url);
});

after(async () => {
  await client?.close();
  await broker?.stop('SIGTERM');
  await rm(dataDir, { recursive: true, force: true });
});

function kcat(args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('kcat', ['-b', `127.0.0.1:${broker.kafkaPort}`, ...args], { timeout: 30_000 }, (error, stdout, stderr) =>
      error ? reject(new Error(`kcat ${args.join(' ')} failed: ${error.message}\n${stderr}`)) : resolve(stdout),
    );
    if (input !== undefined) child.stdin!.end(input);
  });
}

test('kcat produces, the Weir client consumes the same keys and values', async () => {
  await client.admin().createTopic('from-kafka', { partitions: 1 });
  const lines = Array.from({ length: 50 }, (_, i) => `key${i % 5}:value ${i}`);
  await kcat(['-P', '-t', 'from-kafka', '-K:', '-z', 'snappy'], `${lines.join('\n')}\n`);
  const consumer = client.consumer({ partitions: [{ topic: 'from-kafka', partition: 0 }], from: 'earliest' });
  const got: string[] = [];
  for await (const message of consumer) {
    got.push(`${message.key}:${message.value}`);
    if (got.length === lines.length) break;
  }
  await consumer.close();
  assert.deepEqual(got, lines);
});

test('the Weir client produces, kcat consumes the same keys, values and headers', async () => {
  const producer = client.producer();
  await producer.send(
    'from-weir',
    Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: `native ${i}`, headers: { origin: 'weir' } })),
  );
  await producer.close();
  const partitions = (await client.admin().describeTopic('from-weir')).partitions.length;
  const out = await kcat(['-C', '-t', 'from-weir', '-o', 'beginning', '-e', '-q', '-f', '%k|%s|%h\n']);
  const got = out.trim().split('\n').sort();
  const expected = Array.from({ length: 20 }, (_, i) => `k${i}|native ${i}|origin=weir`).sort();
  assert.equal(partitions, 1);
  assert.deepEqual(got, expected);
});

test('a kafkajs consumer group commits; the offsets and lag show in the native admin API', async () => {
  const kafka = new Kafka({ brokers: [`127.0.0.1:${broker.kafkaPort}`], clientId: 'cross', logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic: 'kgroup-topic', messages: Array.from({ length: 30 }, (_, i) => ({ value: `v${i}` })) });
  await producer.disconnect();
  const consumer = kafka.consumer({ groupId: 'kgroup' });
  await consumer.connect();
  await consumer.subscribe({ topic: 'kgroup-topic', fromBeginning: true });
  let seen = 0;
  await new Promise<void>((resolve) => {
    void consumer.run({
      eachMessage: async () => {
        if (++seen === 20) resolve();
      },
    });
  });
  await consumer.stop(); // commits what was handled
  await consumer.disconnect();
  const group = await client.admin().describeGroup('kgroup');
  const offset = group.offsets.find((o) => o.topic === 'kgroup-topic' && o.partition === 0);
  assert.ok(offset, 'no committed offset for kgroup-topic/0');
  assert.ok(offset.offset >= 20n && offset.offset <= 30n, `committed ${offset.offset}`);
  assert.equal(offset.lag, 30n - offset.offset);
});

async function clusterId(): Promise<string> {
  const admin = new Kafka({ brokers: [`127.0.0.1:${broker.kafkaPort}`], clientId: 'cluster-id', logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    return (await admin.describeCluster()).clusterId;
  } finally {
    await admin.disconnect();
  }
}

test('after a broker restart, a kafkajs group resumes exactly at its committed offset, and the cluster id is the same', { timeout: 60_000 }, async () => {
  const before = (await client.admin().describeGroup('kgroup')).offsets.find((o) => o.topic === 'kgroup-topic')!;
  const id = await clusterId();
  assert.match(id, /^[A-Za-z0-9_-]{22}$/);
  await client.close();
  assert.equal(await broker.stop('SIGTERM'), 0, `the broker did not shut down cleanly:\n${broker.log()}`);
  broker = await startBrokerProcess(dataDir);
  assert.equal(await clusterId(), id);
  client = await connect(broker.url);
  const kafka = new Kafka({ brokers: [`127.0.0.1:${broker.kafkaPort}`], clientId: 'cross-again', logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: 'kgroup' });
  await consumer.connect();
  await consumer.subscribe({ topic: 'kgroup-topic', fromBeginning: true });
  const values: string[] = [];
  await new Promise<void>((resolve) => {
    void consumer.run({
      eachMessage: async ({ message }) => {
        values.push(message.value!.toString());
        if (message.value!.toString() === 'v29') resolve();
      },
    });
  });
  await consumer.disconnect();
  assert.deepEqual(values, Array.from({ length: 30 - Number(before.offset) }, (_, i) => `v${Number(before.offset) + i}`));
});
