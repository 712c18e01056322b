/**
 * Queue subscriptions end to end against the real broker process: competing consumers drain a
 * large backlog exactly once; consumer processes are SIGKILLed while holding leases; the broker
 * is SIGKILLed during a drain. Nothing may be lost, poison messages are dead-lettered exactly
 * once, and an acknowledgement the broker confirmed is never undone.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type Client, type QueueMessage, type QueueSubscriptionConfig } from '../client/index.js';
import { take } from '../client/testing/take.js';
import { freePort, startBrokerProcess } from './testing/broker-process.js';
import { waitFor } from '../util/testing/wait.js';

const workerScript = join(dirname(fileURLToPath(import.meta.url)), 'testing', 'queue-worker.js');

async function produceAll(client: Client, topic: string, values: string[]): Promise<void> {
  const producer = client.producer();
  for (let i = 0; i < values.length; i += 5000) {
    await Promise.all(values.slice(i, i + 5000).map((value, j) => producer.send(topic, { key: `k${(i + j) % 64}`, value })));
  }
  await producer.close();
}

/** Creates `topic` with subscription 'w' and stores `total` messages m0, m1, … through a client of its own. */
async function loadQueue(url: string, topic: string, partitions: number, total: number, config?: Partial<QueueSubscriptionConfig>): Promise<void> {
  const setup = await connect(url);
  await setup.admin().createTopic(topic, { partitions });
  await setup.admin().createSubscription(topic, 'w', config);
  await produceAll(setup, topic, Array.from({ length: total }, (_, i) => `m${i}`));
  await setup.close();
}

test('4 competing consumers drain 100,000 messages through the broker process: none lost, none twice', { timeout: 120_000 }, async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'weir-queue-drain-'));
  const broker = await startBrokerProcess(dataDir);
  try {
    const total = 100_000;
    const setup = await connect(broker.url);
    await setup.admin().createTopic('drain', { partitions: 4 });
    await setup.admin().createSubscription('drain', 'workers');
    await produceAll(setup, 'drain', Array.from({ length: total }, (_, i) => `m${i}`));
    const seen = new Uint8Array(total);
    let received = 0;
    const perConsumer: number[] = [];
    await Promise.all([0, 1, 2, 3].map(async (i) => {
      const client = await connect(broker.url);
      const consumer = client.queueConsumer({ topic: 'drain', subscription: 'workers', prefetch: 500 });
      perConsumer[i] = 0;
      const iterator = consumer[Symbol.asyncIterator]();
      // One next() at a time: a next() abandoned to a timeout would swallow the message it gets.
      let pending = iterator.next();
      while (received < total) {
        const next = await Promise.race([pending, new Promise<null>((r) => setTimeout(() => r(null), 500))]);
        if (next === null) continue;
        if (next.done) break;
        pending = iterator.next();
        const index = Number(next.value.value!.toString().slice(1));
        seen[index]!++;
        received++;
        perConsumer[i]!++;
        void next.value.ack();
      }
      await consumer.close();
      await client.close();
    }));
    const twice = seen.findIndex((n) => n > 1);
    const missing = seen.findIndex((n) => n === 0);
    assert.equal(twice, -1, `m${twice} was delivered twice`);
    assert.equal(missing, -1, `m${missing} was never delivered`);
    assert.ok(perConsumer.every((n) => n > 0), `every consumer took part: ${perConsumer}`);
    const described = await setup.admin().describeSubscription('drain', 'workers');
    assert.equal(described.ackedTotal, total);
    assert.equal(described.backlogMessages, 0);
    await setup.close();
  } finally {
    await broker.stop('SIGTERM');
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('consumers SIGKILLed 50 times while holding leases: nothing lost, every poison message dead-lettered exactly once', { timeout: 180_000 }, async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'weir-queue-kills-'));
  const broker = await startBrokerProcess(dataDir);
  const workers = new Set<ChildProcess>();
  try {
    const total = 3000;
    const poison = new Set(Array.from({ length: 30 }, (_, i) => `poison${i}`));
    const values = Array.from({ length: total }, (_, i) => (i % 100 === 7 ? `poison${Math.floor(i / 100)}` : `m${i}`));
    const setup = await connect(broker.url);
    const admin = setup.admin();
    await admin.createTopic('kills', { partitions: 2 });
    await admin.createSubscription('kills', 'w', { deliveriesMax: 3, ackTimeoutMs: 60_000, backoff: { kind: 'fixed', delayMs: 0 } });
    await produceAll(setup, 'kills', values);

    // Each worker logs what it acknowledges to a file of its own (see queue-worker.ts); the pause
    // of 1 ms per message stretches the drain over a dozen kills.
    let spawned = 0;
    const spawnWorker = (): void => {
      const logFile = join(dataDir, `worker-${spawned++}.log`);
      const child = spawn(process.execPath, [workerScript, broker.url, 'kills', 'w', '40', logFile, '1'], { stdio: ['ignore', 'ignore', 'inherit'] });
      workers.add(child);
      child.once('exit', () => workers.delete(child));
    };
    for (let i = 0; i < 3; i++) spawnWorker();
    let kills = 0;
    while (kills < 50) {
      await new Promise((r) => setTimeout(r, 60 + Math.random() * 120));
      const victim = [...workers][Math.floor(Math.random() * workers.size)];
      if (victim === undefined) continue;
      victim.kill('SIGKILL');
      await new Promise((r) => victim.once('exit', r));
      kills++;
      spawnWorker();
    }
    for (const child of [...workers]) {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
    // Finish: acknowledge what is left and fail the poison messages until they are dead letters.
    const handled: { value: string; partition: number; offset: bigint; deliveryCount: number }[] = [];
    const finisher = setup.queueConsumer({ topic: 'kills', subscription: 'w', prefetch: 200 });
    const finishing = finisher.run({
      eachMessage: async (message: QueueMessage) => {
        const value = message.value!.toString();
        if (poison.has(value)) throw new Error('poison'); // nacked
        handled.push({ value, partition: message.partition, offset: message.offset, deliveryCount: message.deliveryCount });
      },
    });
    await waitFor(async () => (await admin.describeSubscription('kills', 'w')).backlogMessages === 0, 60_000, 'the backlog drained');
    await finisher.close();
    await finishing;

    for (let i = 0; i < spawned; i++) {
      const log = await readFile(join(dataDir, `worker-${i}.log`), 'utf8').catch(() => ''); // a worker killed before its first message has none
      for (const line of log.split('\n')) {
        const [word, value, partition, offset, deliveryCount] = line.split(' ');
        if (word === 'ack') handled.push({ value: value!, partition: Number(partition), offset: BigInt(offset!), deliveryCount: Number(deliveryCount) });
      }
    }
    const again = handled.filter((h) => h.deliveryCount > 1).length;
    assert.ok(again > 0, 'the kills caught ordinary messages in flight (none was delivered again)');
    // Every message a consumer handled carried the value stored at its offset.
    const stored = new Map<string, string>();
    const reader = setup.consumer({ topics: ['kills'], from: 'earliest' });
    for await (const message of reader) {
      stored.set(`${message.partition}@${message.offset}`, message.value!.toString());
      if (stored.size === total) break;
    }
    await reader.close();
    const mismatched = handled.filter((h) => stored.get(`${h.partition}@${h.offset}`) !== h.value);
    assert.deepEqual(mismatched.slice(0, 5), [], `${mismatched.length} messages were handed out with another offset's value`);

    // A kill can take an ordinary message's third delivery with it: that message is a dead letter
    // too, by the subscription's deliveriesMax. Each message ends acknowledged or dead-lettered, once.
    const described = await admin.describeSubscription('kills', 'w');
    const letters = await admin.listDeadLetters('kills.w.dlq', { max: 1000 });
    const lettered = letters.map((l) => l.value!.toString());
    assert.equal(new Set(lettered).size, lettered.length, 'no message dead-lettered twice');
    assert.ok([...poison].every((value) => lettered.includes(value)), 'every poison message dead-lettered');
    assert.ok(letters.every((l) => l.deliveryCount === 3 && l.originalTopic === 'kills'), 'each after 3 deliveries');
    assert.equal(described.deadLettersTotal, letters.length);
    assert.equal(described.ackedTotal, total - letters.length, 'every other message acknowledged exactly once');
    // A message can be acknowledged once (a second ack of it is INVALID_RECEIPT), so the counts
    // above prove each was settled once; the logs prove each settled one reached a consumer.
    const reached = new Set([...handled.map((h) => h.value), ...lettered]);
    const unhandled = values.filter((v) => !reached.has(v));
    assert.deepEqual(unhandled.slice(0, 5), [], `${unhandled.length} messages were settled without reaching a consumer`);
    await setup.close();
  } finally {
    for (const child of workers) child.kill('SIGKILL');
    await broker.stop('SIGTERM');
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('the broker SIGKILLed during a drain: nothing lost, and no confirmed acknowledgement is delivered again', { timeout: 180_000 }, async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'weir-queue-broker-kill-'));
  const port = await freePort();
  let broker = await startBrokerProcess(dataDir, { port });
  try {
    const total = 20_000;
    await loadQueue(broker.url, 'bk', 2, total, { ackTimeoutMs: 5_000 });

    const client = await connect(broker.url, { reconnectBackoffMsMin: 20, reconnectBackoffMsMax: 200 });
    const consumer = client.queueConsumer({ topic: 'bk', subscription: 'w', prefetch: 200 });
    const confirmed = new Set<string>();
    const delivered = new Set<string>();
    let redelivered = 0;
    let violation: string | null = null;
    const draining = (async () => {
      for await (const message of consumer) {
        const value = message.value!.toString();
        if (confirmed.has(value)) violation ??= `${value} was delivered again after its acknowledgement was confirmed`;
        if (delivered.has(value)) redelivered++;
        delivered.add(value);
        // Slow enough that the kills land mid-drain.
        if (delivered.size % 500 === 0) await new Promise((r) => setTimeout(r, 20));
        // An acknowledgement whose answer a kill cut off may or may not have been stored: only
        // confirmed ones are held to "never again".
        message.ack().then(() => confirmed.add(value), () => {});
      }
    })();
    const confirmedAtKills: number[] = [];
    for (let kill = 0; kill < 4; kill++) {
      await new Promise((r) => setTimeout(r, 150 + Math.random() * 200));
      confirmedAtKills.push(confirmed.size);
      await broker.stop('SIGKILL');
      broker = await startBrokerProcess(dataDir, { port });
    }
    const admin = client.admin();
    await waitFor(async () => delivered.size === total && (await admin.describeSubscription('bk', 'w')).backlogMessages === 0, 90_000, 'every message delivered and settled');
    await consumer.close();
    await draining;
    await client.close();
    assert.ok(confirmedAtKills.filter((n) => n < total).length >= 2, `the kills landed mid-drain (acknowledged at each: ${confirmedAtKills})`);
    assert.equal(violation, null);
    assert.equal(delivered.size, total, 'every message delivered');
    // Redelivery is limited to messages unacknowledged at a kill: at most the in-flight window
    // (prefetch, plus acknowledgements not yet confirmed) per kill.
    assert.ok(redelivered <= 4 * 2 * 200, `${redelivered} redeliveries after 4 kills with prefetch 200`);
  } finally {
    await broker.stop('SIGTERM');
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('messages that failed once and were then acknowledged survive a SIGKILL after close(): none delivered again', { timeout: 60_000 }, async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'weir-queue-nack-ack-kill-'));
  const port = await freePort();
  let broker = await startBrokerProcess(dataDir, { port });
  try {
    const total = 2_000;
    // Redelivered at once: a message's failure and its acknowledgement mostly share one append of
    // the state log (run() sends both without asking for answers, which may wait a few ms).
    await loadQueue(broker.url, 'na', 1, total, { deliveriesMax: 10, backoff: { kind: 'fixed', delayMs: 0 } });
    const client = await connect(broker.url, { reconnectBackoffMsMin: 20, reconnectBackoffMsMax: 200 });
    const consumer = client.queueConsumer({ topic: 'na', subscription: 'w', prefetch: 100 });
    let acknowledged = 0;
    const running = consumer.run({
      eachMessage: (message) => {
        if (message.deliveryCount === 1) throw new Error('fails the first time');
        acknowledged++;
      },
    });
    await waitFor(() => acknowledged === total, 30_000, 'every message acknowledged');
    // close() returns once the settlements are durable; the kill comes right after, before the
    // next checkpoint (every 10 s) would cover them.
    await consumer.close();
    await running;
    await broker.stop('SIGKILL');
    await client.close();

    broker = await startBrokerProcess(dataDir, { port });
    const again = await connect(broker.url);
    const described = await again.admin().describeSubscription('na', 'w');
    await again.close();
    assert.equal(described.backlogMessages, 0, `${described.backlogMessages} acknowledged messages came back after the kill`);
  } finally {
    await broker.stop('SIGTERM');
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('rejects the broker confirmed survive a SIGKILL right after the answer: every letter written, none delivered again', { timeout: 60_000 }, async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'weir-queue-reject-kill-'));
  const port = await freePort();
  let broker = await startBrokerProcess(dataDir, { port });
  try {
    const total = 500;
    await loadQueue(broker.url, 'rj', 1, total);
    const client = await connect(broker.url, { reconnectBackoffMsMin: 20, reconnectBackoffMsMax: 200 });
    const consumer = client.queueConsumer({ topic: 'rj', subscription: 'w', prefetch: total });
    const messages = consumer[Symbol.asyncIterator]();
    const held: QueueMessage[] = [];
    while (held.length < total) held.push((await messages.next()).value as QueueMessage);
    // One settle request for all of them; the kill comes as soon as it is answered.
    await Promise.all(held.map((message) => message.reject('poison')));
    await broker.stop('SIGKILL');
    broker = await startBrokerProcess(dataDir, { port });
    await consumer.close().catch(() => {});
    await client.close();

    const again = await connect(broker.url);
    const described = await again.admin().describeSubscription('rj', 'w');
    const letters = await again.admin().listDeadLetters('rj.w.dlq', { max: 10_000 });
    await again.close();
    assert.equal(described.backlogMessages, 0, `${described.backlogMessages} rejected messages came back after the kill`);
    assert.equal(letters.length, total);
    assert.equal(new Set(letters.map((letter) => letter.originalOffset)).size, total, 'each message dead-lettered once');
  } finally {
    await broker.stop('SIGTERM');
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('after a broker SIGKILL, settlements of deliveries from before it fail with INVALID_RECEIPT and leave the new leases alone', { timeout: 60_000 }, async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'weir-queue-stale-'));
  const port = await freePort();
  let broker = await startBrokerProcess(dataDir, { port });
  try {
    await loadQueue(broker.url, 'stale', 1, 3, { ackTimeoutMs: 60_000 });
    const before = await connect(broker.url, { reconnectBackoffMsMin: 20, reconnectBackoffMsMax: 200 });
    const early = before.queueConsumer({ topic: 'stale', subscription: 'w', prefetch: 3, mode: 'pull' });
    const held = await take(early, 3);
    await broker.stop('SIGKILL');
    broker = await startBrokerProcess(dataDir, { port });

    // The crash left no trace of the leases: the messages come again, with the same delivery count.
    const after = await connect(broker.url);
    const late = after.queueConsumer({ topic: 'stale', subscription: 'w', prefetch: 10 });
    const current = await take(late, 3);
    assert.deepEqual(current.map((m) => [m.value!.toString(), m.deliveryCount]), held.map((m) => [m.value!.toString(), m.deliveryCount]));
    assert.notEqual(current[0]!.leaseEpoch, held[0]!.leaseEpoch);

    const outcome = (settling: Promise<void>) => settling.then(() => 'ok', (error: { code?: string }) => error.code);
    const stale = [await outcome(held[0]!.ack()), await outcome(held[1]!.reject('stale')), await outcome(held[2]!.nack({ delayMs: 0 }))];
    assert.deepEqual(stale, ['INVALID_RECEIPT', 'INVALID_RECEIPT', 'INVALID_RECEIPT']);
    assert.deepEqual(await Promise.all(current.map((m) => outcome(m.ack()))), ['ok', 'ok', 'ok'], 'the current leases were untouched');
    const described = await after.admin().describeSubscription('stale', 'w');
    assert.equal(described.ackedTotal, 3);
    assert.equal(described.deadLettersTotal, 0);
    await late.close();
    await early.close().catch(() => {});
    await after.close();
    await before.close();
  } finally {
    await broker.stop('SIGTERM');
    await rm(dataDir, { recursive: true, force: true });
  }
});

/**
 * Drains a preloaded queue with run() (acknowledgements sent without answers), SIGKILLs the
 * broker (after the consumer's close(), or with the consumer still open `afterMs` after the last
 * delivery), restarts it and returns the subscription's backlog.
 */
async function backlogAfterQuietDrainAndKill(topic: string, total: number, kill: 'after close' | { afterMs: number }): Promise<number> {
  const dataDir = await mkdtemp(join(tmpdir(), `weir-queue-${topic}-`));
  const port = await freePort();
  let broker = await startBrokerProcess(dataDir, { port });
  try {
    await loadQueue(broker.url, topic, 1, total);

    const client = await connect(broker.url, { reconnectBackoffMsMin: 20, reconnectBackoffMsMax: 200 });
    const consumer = client.queueConsumer({ topic, subscription: 'w', prefetch: 100 });
    let received = 0;
    const running = consumer.run({ eachMessage: () => void received++ });
    await waitFor(() => received === total, 30_000, 'every message received');
    if (kill === 'after close') {
      // close() returns once the quiet acknowledgements are durable; the kill comes right after.
      await consumer.close();
      await running;
      await broker.stop('SIGKILL');
    } else {
      // No close(): the broker writes quiet settlements within a few milliseconds on its own.
      await sleep(kill.afterMs);
      await broker.stop('SIGKILL');
      await consumer.close();
      await running;
    }
    await client.close();

    broker = await startBrokerProcess(dataDir, { port });
    const again = await connect(broker.url);
    const described = await again.admin().describeSubscription(topic, 'w');
    await again.close();
    return described.backlogMessages;
  } finally {
    await broker.stop('SIGTERM');
    await rm(dataDir, { recursive: true, force: true });
  }
}

test('run() acknowledges without answers; after close() a SIGKILL delivers none of them again', { timeout: 60_000 }, async () => {
  const backlog = await backlogAfterQuietDrainAndKill('quiet', 5_000, 'after close');
  assert.equal(backlog, 0, `${backlog} acknowledged messages came back after the kill`);
});

test('acknowledgements sent without answers reach the disk by themselves: a SIGKILL without close() delivers none of them again', { timeout: 60_000 }, async () => {
  const backlog = await backlogAfterQuietDrainAndKill('quietkill', 3_000, { afterMs: 200 });
  assert.equal(backlog, 0, `${backlog} acknowledged messages came back after the kill`);
});

/**
 * After a restart, opens a consumer of `topic`/w and resolves with the deliveries it got once
 * `done` holds (checked as deliveries come and every 50 ms).
 */
async function deliveriesUntil(url: string, topic: string, done: (delivered: number) => boolean | Promise<boolean>, what: string): Promise<QueueMessage[]> {
  const client = await connect(url);
  const delivered: QueueMessage[] = [];
  const consumer = client.queueConsumer({ topic, subscription: 'w', prefetch: 10 });
  const running = consumer.run({ eachMessage: (message) => void delivered.push(message) });
  try {
    await waitFor(() => delivered.length > 0 || done(delivered.length), 20_000, what);
  } finally {
    await consumer.close();
    await running;
    await client.close();
  }
  return delivered;
}

test('a message a checkpoint saw at its last delivery is dead-lettered after a broker SIGKILL, not delivered once more', { timeout: 60_000 }, async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'weir-queue-counted-out-'));
  const port = await freePort();
  let broker = await startBrokerProcess(dataDir, { port });
  try {
    const config = { deliveriesMax: 2, ackTimeoutMs: 60_000, backoff: { kind: 'fixed', delayMs: 0 } } as const;
    await loadQueue(broker.url, 'cap', 1, 1, config);
    const client = await connect(broker.url, { reconnectBackoffMsMin: 20, reconnectBackoffMsMax: 200 });
    const consumer = client.queueConsumer({ topic: 'cap', subscription: 'w', prefetch: 1 });
    const messages = consumer[Symbol.asyncIterator]();
    await ((await messages.next()).value as QueueMessage).nack({ delayMs: 0 });
    const last = (await messages.next()).value as QueueMessage;
    assert.equal(last.deliveryCount, 2);
    // Setting the subscription's settings writes a checkpoint of it: it holds the count 2.
    await client.admin().createSubscription('cap', 'w', config);
    await broker.stop('SIGKILL');
    broker = await startBrokerProcess(dataDir, { port });
    await consumer.close().catch(() => {});
    await client.close();

    const admin = await connect(broker.url);
    const letters = async () => (await admin.admin().listDeadLetters('cap.w.dlq').catch(() => [])).length > 0;
    const delivered = await deliveriesUntil(broker.url, 'cap', letters, 'a letter or a delivery');
    assert.deepEqual(delivered.map((m) => m.deliveryCount), [], 'not delivered past deliveriesMax');
    const [letter] = await admin.admin().listDeadLetters('cap.w.dlq');
    assert.deepEqual([letter?.originalOffset, letter?.deliveryCount], [0n, 2]);
    assert.equal((await admin.admin().describeSubscription('cap', 'w')).backlogMessages, 0);
    await admin.close();
  } finally {
    await broker.stop('SIGTERM');
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('a last delivery in flight when the broker is SIGKILLed counts: the message is dead-lettered after the restart, not delivered once more', { timeout: 60_000 }, async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'weir-queue-last-delivery-'));
  const port = await freePort();
  let broker = await startBrokerProcess(dataDir, { port });
  try {
    await loadQueue(broker.url, 'once', 1, 1, { deliveriesMax: 1, ackTimeoutMs: 60_000 });
    const client = await connect(broker.url, { reconnectBackoffMsMin: 20, reconnectBackoffMsMax: 200 });
    const consumer = client.queueConsumer({ topic: 'once', subscription: 'w', prefetch: 1 });
    const [held] = await take(consumer, 1);
    assert.equal(held?.deliveryCount, 1);
    // No checkpoint since the delivery (one comes every 10 s), no settlement.
    await broker.stop('SIGKILL');
    broker = await startBrokerProcess(dataDir, { port });
    await consumer.close().catch(() => {});
    await client.close();

    const admin = await connect(broker.url);
    const letters = async () => (await admin.admin().listDeadLetters('once.w.dlq').catch(() => [])).length > 0;
    const delivered = await deliveriesUntil(broker.url, 'once', letters, 'a letter or a delivery');
    assert.deepEqual(delivered.map((m) => m.deliveryCount), [], 'not delivered past deliveriesMax');
    const [letter] = await admin.admin().listDeadLetters('once.w.dlq');
    assert.deepEqual([letter?.originalOffset, letter?.deliveryCount], [0n, 1]);
    await admin.close();
  } finally {
    await broker.stop('SIGTERM');
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('a counted-out message whose letter the dead-letter topic refuses is not delivered again after a broker SIGKILL', { timeout: 60_000 }, async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'weir-queue-refused-letter-'));
  const port = await freePort();
  let broker = await startBrokerProcess(dataDir, { port });
  try {
    const setup = await connect(broker.url, { reconnectBackoffMsMin: 20, reconnectBackoffMsMax: 200 });
    await setup.admin().createTopic('tight.dlq', { messageBytesMax: 1024 });
    await setup.admin().createSubscription('big', 'w', { deadLetterTopic: 'tight.dlq', deliveriesMax: 1, backoff: { kind: 'fixed', delayMs: 0 } });
    await setup.producer().send('big', { value: Buffer.alloc(2000, 'x') });
    const consumer = setup.queueConsumer({ topic: 'big', subscription: 'w', prefetch: 1 });
    const [message] = await take(consumer, 1);
    await assert.rejects(message!.nack(), (error: { code?: string }) => error.code === 'MESSAGE_TOO_LARGE');
    // No checkpoint since the delivery (one comes every 10 s): only the failure record keeps its count.
    await broker.stop('SIGKILL');
    broker = await startBrokerProcess(dataDir, { port });
    await consumer.close().catch(() => {});
    await setup.close();

    const refusedAgain = () => /big\/0@0 subscription w: dead-lettering to tight\.dlq failed \(attempt 1\)/.test(broker.log());
    const delivered = await deliveriesUntil(broker.url, 'big', refusedAgain, 'the letter refused again, or a delivery');
    assert.deepEqual(delivered.map((m) => m.deliveryCount), [], 'not delivered past deliveriesMax');
    // Once the topic takes it, the letter is written (tried again after 1 s).
    const admin = await connect(broker.url);
    await admin.admin().alterTopic('tight.dlq', { messageBytesMax: 8192 });
    await waitFor(async () => (await admin.admin().listDeadLetters('tight.dlq')).length === 1, 10_000, 'the letter written');
    const [letter] = await admin.admin().listDeadLetters('tight.dlq');
    assert.deepEqual([letter?.originalOffset, letter?.deliveryCount], [0n, 1]);
    await admin.close();
  } finally {
    await broker.stop('SIGTERM');
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('messages a closing consumer gave back unseen keep their delivery counts across a broker SIGKILL', { timeout: 60_000 }, async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'weir-queue-released-'));
  const port = await freePort();
  let broker = await startBrokerProcess(dataDir, { port });
  try {
    const config = { ackTimeoutMs: 60_000 };
    await loadQueue(broker.url, 'given', 1, 5, config);
    const client = await connect(broker.url, { reconnectBackoffMsMin: 20, reconnectBackoffMsMax: 200 });
    const consumer = client.queueConsumer({ topic: 'given', subscription: 'w', prefetch: 5 });
    await take(consumer, 1); // in hand, never settled
    await waitFor(async () => (await client.admin().describeSubscription('given', 'w')).inFlight === 5, 10_000, 'all 5 leased');
    // Setting the subscription's settings writes a checkpoint of it: it counts all 5 deliveries.
    await client.admin().createSubscription('given', 'w', config);
    await consumer.close(); // gives the 4 it never handed out back, and answers once that is on disk
    await broker.stop('SIGKILL');
    broker = await startBrokerProcess(dataDir, { port });
    await client.close();

    const again = await connect(broker.url);
    const described = await again.admin().describeSubscription('given', 'w');
    await again.close();
    assert.deepEqual(described.deliveryCounts, { 1: 1 }, 'only the message the application held counts');
    assert.equal(described.backlogMessages, 5);
  } finally {
    await broker.stop('SIGTERM');
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('a last delivery given back unseen, delivered again and cut off by a broker SIGKILL, is dead-lettered after the restart, not delivered once more', { timeout: 60_000 }, async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'weir-queue-released-last-'));
  const port = await freePort();
  let broker = await startBrokerProcess(dataDir, { port });
  try {
    await loadQueue(broker.url, 'relast', 1, 2, { deliveriesMax: 1, ackTimeoutMs: 60_000 });
    const client = await connect(broker.url, { reconnectBackoffMsMin: 20, reconnectBackoffMsMax: 200 });
    const first = client.queueConsumer({ topic: 'relast', subscription: 'w', prefetch: 2 });
    const [taken] = await take(first, 1);
    await waitFor(async () => (await client.admin().describeSubscription('relast', 'w')).inFlight === 2, 10_000, 'both leased');
    await taken!.ack();
    await first.close(); // gives the other back: its one delivery is not used up
    const second = client.queueConsumer({ topic: 'relast', subscription: 'w', prefetch: 1 });
    const [held] = await take(second, 1);
    assert.equal(held?.deliveryCount, 1);
    // No checkpoint since (one comes every 10 s), no settlement: only the stored last delivery counts it.
    await broker.stop('SIGKILL');
    broker = await startBrokerProcess(dataDir, { port });
    await second.close().catch(() => {});
    await client.close();

    const admin = await connect(broker.url);
    const letters = async () => (await admin.admin().listDeadLetters('relast.w.dlq').catch(() => [])).length > 0;
    const delivered = await deliveriesUntil(broker.url, 'relast', letters, 'a letter or a delivery');
    assert.deepEqual(delivered.map((m) => m.deliveryCount), [], 'not delivered past deliveriesMax');
    const [letter] = await admin.admin().listDeadLetters('relast.w.dlq');
    assert.deepEqual([letter?.originalOffset, letter?.deliveryCount], [held!.offset, 1]);
    await admin.close();
  } finally {
    await broker.stop('SIGTERM');
    await rm(dataDir, { recursive: true, force: true });
  }
});
