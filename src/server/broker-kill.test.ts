/**
 * Durability end to end: the real broker process is SIGKILLed again and again while a producer
 * sends with acks 'leader'; after every restart the acknowledged messages must all be there,
 * exactly once and in per-partition order.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect } from '../client/index.js';
import { freePort, startBrokerProcess } from './testing/broker-process.js';

const cycles = 20;
const partitions = 4;

test(`SIGKILL the broker ${cycles} times under load: every acknowledged message survives exactly once, in order`, { timeout: 240_000 }, async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'weir-kill-'));
  const acknowledged = new Map<string, { partition: number; offset: bigint; sequence: number }>();
  let sequence = 0;
  try {
    // The same port across restarts, so the producer's client reconnects on its own and resends
    // what was not acknowledged (idempotent: a resent batch that was stored is not stored again).
    const port = await freePort();
    let broker = await startBrokerProcess(dataDir, { port });
    const setup = await connect(broker.url);
    await setup.admin().createTopic('durable', { partitions });
    await setup.close();
    const client = await connect(broker.url, { reconnectBackoffMsMin: 20, reconnectBackoffMsMax: 200 });
    const producer = client.producer({ acks: 'leader', lingerMs: 1 });
    let stop = false;
    const pending = new Set<Promise<void>>();
    const sending = (async () => {
      while (!stop) {
        while (pending.size < 2_000 && !stop) {
          const seq = sequence++;
          const value = `m${seq}`;
          const sent: Promise<void> = producer.send('durable', { key: `k${seq % 16}`, value }).then(
            (meta) => {
              const m = meta as { partition: number; offset: bigint };
              acknowledged.set(value, { partition: m.partition, offset: m.offset, sequence: seq });
            },
            () => {}, // not acknowledged: may or may not be stored, but never twice
          );
          pending.add(sent);
          void sent.then(() => pending.delete(sent));
        }
        await Promise.race([...pending].slice(0, 1).concat(new Promise<void>((r) => setTimeout(r, 5))));
      }
    })();
    for (let cycle = 0; cycle < cycles; cycle++) {
      await new Promise((r) => setTimeout(r, 200 + Math.random() * 400));
      await broker.stop('SIGKILL');
      broker = await startBrokerProcess(dataDir, { port });
      if (process.env['WEIR_TEST_DEBUG']) process.stderr.write(`cycle ${cycle}: ${acknowledged.size} acknowledged\n`);
    }
    stop = true;
    await sending;
    await Promise.all(pending);
    await client.close();
    assert.ok(acknowledged.size > 1000, `only ${acknowledged.size} messages were acknowledged: the load was too light to prove much`);

    // Read everything back.
    const reader = await connect(broker.url);
    const consumer = reader.consumer({ partitions: Array.from({ length: partitions }, (_, partition) => ({ topic: 'durable', partition })), from: 'earliest' });
    const admin = reader.admin();
    const ends = await Promise.all(Array.from({ length: partitions }, (_, p) => admin.latestOffset('durable', p)));
    const total = ends.reduce((a, b) => a + b, 0n);
    const seen = new Map<string, { partition: number; offset: bigint }>();
    let read = 0n;
    const lastSequence = new Map<number, number>();
    for await (const message of consumer) {
      const value = message.value!.toString();
      assert.ok(!seen.has(value), `${value} is stored twice (offsets ${seen.get(value)?.offset} and ${message.offset})`);
      seen.set(value, { partition: message.partition, offset: message.offset });
      const seq = Number(value.slice(1));
      const previous = lastSequence.get(message.partition) ?? -1;
      assert.ok(seq > previous, `partition ${message.partition}: m${seq} stored after m${previous}`);
      lastSequence.set(message.partition, seq);
      if (++read === total) break;
      if (process.env['WEIR_TEST_DEBUG'] && read % 5000n === 0n) process.stderr.write(`read ${read} of ${total}\n`);
    }
    await consumer.close();
    await reader.close();
    for (const [value, ack] of acknowledged) {
      const found = seen.get(value);
      assert.ok(found, `acknowledged ${value} (partition ${ack.partition}, offset ${ack.offset}) is missing after ${cycles} kills`);
      assert.equal(found.partition, ack.partition);
      assert.equal(found.offset, ack.offset, `${value} moved from its acknowledged offset`);
    }
    await broker.stop('SIGTERM');
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});
