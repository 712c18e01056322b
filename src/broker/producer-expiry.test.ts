import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { encodeBatch } from '../format/record-batch.js';
import { startListeningBroker, type ListeningBroker } from './testing/listening-broker.js';

/** Short, so the test sees producers expire; long enough for a restart to fit well within it. */
const producerIdleMsMax = 2_000;

function start(dataDir: string): Promise<ListeningBroker> {
  return startListeningBroker(dataDir, { producerIdleMsMax });
}

function batchOf(value: string, producerId: bigint, sequence: number): Buffer {
  return encodeBatch([{ value: Buffer.from(value) }], { producerId, producerEpoch: 0, baseSequence: sequence });
}

test('idle producer ids are forgotten, also at a start from an older snapshot; a start from the log alone keeps those of recently written segments; a live producer\'s retry stays a duplicate', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'weir-producer-expiry-'));
  const snapshot = join(dataDir, 'topics', 'ids', '0.producers.json');
  let running = await start(dataDir);
  try {
    await running.connection.request('createTopic', { name: 'ids', config: {} as never });
    const produce = (batches: Buffer) => running.connection.request('produce', { topic: 'ids', partition: 0, acks: 'leader', batches });
    const idle: bigint[] = [];
    for (let i = 0; i < 50; i++) {
      const { producerId } = await running.connection.request('initProducerId', {});
      await produce(batchOf(`idle-${i}`, producerId, 0));
      idle.push(producerId);
    }
    const { producerId: live } = await running.connection.request('initProducerId', {});
    let sequence = 0;
    let last = batchOf('live-0', live, sequence);
    let lastOffset = (await produce(last)).baseOffset;
    assert.equal(running.broker.producerCount, 51);

    // The snapshot written at close holds all 51, each with when it was last seen.
    await running.stop();
    running = await start(dataDir);
    assert.equal(running.broker.producerCount, 51);
    await copyFile(snapshot, `${snapshot}.old`);

    // The live producer keeps sending while the idle ones expire.
    const forgotten = running.logged(/forgot 50 idempotent producer ids/, 3 * producerIdleMsMax);
    const sends: Promise<unknown>[] = [];
    const keepSending = setInterval(() => {
      const batch = batchOf(`live-${++sequence}`, live, sequence);
      sends.push(
        produce(batch).then((result) => {
          last = batch;
          lastOffset = result.baseOffset;
        }),
      );
    }, producerIdleMsMax / 8);
    try {
      await forgotten;
    } finally {
      clearInterval(keepSending);
      await Promise.all(sends);
    }
    assert.equal(running.broker.producerCount, 1);
    const retried = await produce(last);
    assert.equal(retried.duplicate, true, 'a live producer\'s retry after the sweep is answered as stored');
    assert.equal(retried.baseOffset, lastOffset);
    // A forgotten producer starts afresh at the sequence it sends.
    assert.equal((await produce(batchOf('idle-again', idle[0]!, 1))).duplicate, false);
    assert.equal(running.broker.producerCount, 2);

    // A crash before the snapshot was written again: the older one names the expired producers.
    await running.stop();
    await copyFile(`${snapshot}.old`, snapshot);
    running = await start(dataDir);
    assert.equal(running.broker.producerCount, 2, 'expired producers of an older snapshot stay forgotten');
    assert.equal((await produce(last)).duplicate, true);

    // A producer importing old events: its records' timestamps are a year back.
    const { producerId: importer } = await running.connection.request('initProducerId', {});
    const imported = encodeBatch([{ value: Buffer.from('imported'), timestamp: Date.now() - 365 * 86_400_000 }], { producerId: importer, producerEpoch: 0, baseSequence: 0 });
    const importedOffset = (await produce(imported)).baseOffset;

    // No snapshot at all: the state is rebuilt from the log. A replayed batch counts as seen when
    // its segment's file was last written (just now here), not by its records' timestamps.
    await running.stop();
    await rm(snapshot);
    running = await start(dataDir);
    assert.equal(running.broker.producerCount, 52, 'every producer of the segment written just now is kept: the log does not say which were idle');
    assert.equal((await produce(last)).duplicate, true);
    const importRetried = await produce(imported);
    assert.equal(importRetried.duplicate, true, 'the importer\'s retry after the restart is answered as stored, not stored twice');
    assert.equal(importRetried.baseOffset, importedOffset);
  } finally {
    await running.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
});
