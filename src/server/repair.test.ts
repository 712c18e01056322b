/**
 * A partition damaged in the middle of its log (a flipped byte in a sealed segment, found by the
 * recovery that runs without a clean-shutdown checkpoint) stops `weir start` with an error naming
 * the file and the way out; `weir start --repair` cuts the log at the damage and serves the rest.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect } from '../client/index.js';
import { take } from '../client/testing/take.js';
import { startBrokerProcess } from './testing/broker-process.js';

/**
 * What a start that must fail says: startBrokerProcess's error, which carries the exit code and
 * the broker's stderr. A broker that starts after all is stopped, and the answer is null.
 */
async function refusedStart(dataDir: string): Promise<string | null> {
  try {
    const started = await startBrokerProcess(dataDir, { args: ['--no-kafka', '--no-http'] });
    await started.stop('SIGKILL');
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

test('a log damaged mid-way stops the start, naming --repair; --repair cuts it there and keeps what came before', { timeout: 120_000 }, async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'weir-repair-'));
  try {
    let broker = await startBrokerProcess(dataDir);
    const client = await connect(broker.url);
    await client.admin().createTopic('fragile', { partitions: 1, segmentBytesMax: 16 * 1024, messageBytesMax: 16 * 1024 });
    const producer = client.producer();
    for (let i = 0; i < 300; i++) await producer.send('fragile', { value: `m${i}`.padEnd(200, '.') });
    await client.close();
    assert.equal(await broker.stop('SIGTERM'), 0);

    const partitionDir = join(dataDir, 'topics', 'fragile', '0');
    const first = join(partitionDir, '00000000000000000000.log');
    const bytes = await readFile(first);
    bytes[8_000] ^= 0xff; // inside a record of a batch in the middle of the first (sealed) segment
    await writeFile(first, bytes);
    await rm(join(partitionDir, 'checkpoint')); // as after a crash: recovery checks every batch

    const refused = await refusedStart(dataDir);
    assert.ok(refused !== null, 'the broker started on a damaged log');
    assert.match(refused, /broker exited with [1-9]\d* before it was ready/);
    assert.match(refused, /00000000000000000000\.log is damaged at byte position \d+/);
    assert.match(refused, /weir start --repair/);

    broker = await startBrokerProcess(dataDir, { args: ['--repair'] });
    assert.match(broker.log(), /repair: truncating .*00000000000000000000\.log at \d+/);
    const reader = await connect(broker.url);
    const consumer = reader.consumer({ topics: ['fragile'], from: 'earliest' });
    const kept = await take(consumer, 300, 3_000);
    await consumer.close();
    assert.ok(kept.length > 0 && kept.length < 300, `kept ${kept.length} messages`);
    kept.forEach((m, i) => assert.equal(m.value!.toString().replace(/\.+$/, ''), `m${i}`, 'the messages before the damage, in order'));
    const producerAfter = reader.producer();
    const [next] = await producerAfter.send('fragile', [{ value: 'after' }]);
    assert.equal(next!.offset, BigInt(kept.length), 'appends go on from the cut');
    await reader.close();
    assert.equal(await broker.stop('SIGTERM'), 0);
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});
