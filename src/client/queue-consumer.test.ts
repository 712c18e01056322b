import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestBroker, type TestBroker } from '../protocol/native/testing-broker.js';
import { extendMsMin as brokerExtendMsMin, settleDelayMsMax as brokerSettleDelayMsMax } from '../broker/queue/queue-config.js';
import { QueueConsumer, connect, isWeirError, settleDelayMsMax } from './index.js';
import { extendMsMin } from './queue-consumer.js';
import { take } from './testing/take.js';
import { framesOf, startTcpProxy } from './testing/tcp-proxy.js';
import { frameKinds } from '../protocol/native/wire/frame.js';

let harness: TestBroker;
before(async () => {
  harness = await startTestBroker();
});
after(async () => {
  await harness.stop();
});


for (const mode of ['push', 'pull'] as const) {
  test(`${mode}: competing queue consumers over the native protocol share the work, each message once`, async () => {
    const client = await connect(harness.url);
    try {
      const admin = client.admin();
      await admin.createTopic(`work-${mode}`, { partitions: 2 });
      await admin.createSubscription(`work-${mode}`, 'w');
      const producer = client.producer();
      const total = 3000;
      await Promise.all(Array.from({ length: total }, (_, i) => producer.send(`work-${mode}`, { key: `k${i}`, value: `v${i}` })));
      const seen = new Map<string, number>();
      const counts = [0, 0, 0];
      await Promise.all([0, 1, 2].map(async (i) => {
        const consumer = client.queueConsumer({ topic: `work-${mode}`, subscription: 'w', mode, prefetch: 100 });
        const deadline = Date.now() + 10_000;
        const iterator = consumer[Symbol.asyncIterator]();
        // One next() at a time: a next() abandoned to a timeout would swallow the message it gets.
        let pending = iterator.next();
        while (seen.size < total && Date.now() < deadline) {
          const next = await Promise.race([pending, new Promise<null>((r) => setTimeout(() => r(null), 300))]);
          if (next === null) continue;
          if (next.done) break;
          pending = iterator.next();
          const value = next.value.value!.toString();
          seen.set(value, (seen.get(value) ?? 0) + 1);
          counts[i]!++;
          void next.value.ack();
        }
        await consumer.close();
      }));
      assert.equal(seen.size, total);
      assert.ok([...seen.values()].every((n) => n === 1), 'each message once');
      assert.ok(counts.every((n) => n > 0), `every consumer worked: ${counts}`);
      await new Promise((r) => setTimeout(r, 100));
      const described = await admin.describeSubscription(`work-${mode}`, 'w');
      assert.equal(described.ackedTotal, total);
      assert.equal(described.backlogMessages, 0);
    } finally {
      await client.close();
    }
  });
}

test('nack, reject and extend over the wire; dead letters list and replay through the admin', async () => {
  const client = await connect(harness.url);
  try {
    const producer = client.producer();
    await producer.send('letters', { value: 'first' });
    await producer.send('letters', { value: 'second' });
    const consumer = client.queueConsumer({
      topic: 'letters',
      subscription: 's',
      config: { deliveriesMax: 2, backoff: { kind: 'fixed', delayMs: 10 }, ackTimeoutMs: 1000 },
    });
    const [first, second] = await take(consumer, 2);
    assert.equal(first!.deliveryCount, 1);
    await first!.extend(5_000);
    await first!.nack({ delayMs: 0 });
    await second!.reject('cannot parse');
    await assert.rejects(second!.ack(), (e) => isWeirError(e, 'INVALID_RECEIPT'), 'a settled message cannot be settled twice');
    const [again] = await take(consumer, 1);
    assert.equal(again!.value!.toString(), 'first');
    assert.equal(again!.deliveryCount, 2);
    await again!.nack();
    const admin = client.admin();
    let letters: Awaited<ReturnType<typeof admin.listDeadLetters>> = [];
    for (let i = 0; i < 50 && letters.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 20));
      letters = await admin.listDeadLetters('letters.s.dlq').catch(() => []); // the topic appears with the first letter
    }
    assert.deepEqual(letters.map((l) => [l.value!.toString(), l.reason.startsWith('rejected') ? 'rejected' : 'exhausted']).sort(), [
      ['first', 'exhausted'],
      ['second', 'rejected'],
    ]);
    const second2 = letters.find((l) => l.value!.toString() === 'second')!;
    assert.deepEqual(await admin.replayDeadLetters('letters.s.dlq', [{ partition: second2.partition, offset: second2.offset }]), { replayed: 1 });
    const [replayed] = await take(consumer, 1);
    assert.equal(replayed!.value!.toString(), 'second');
    await replayed!.ack();
    const subscriptions = await admin.listSubscriptions('letters');
    assert.equal(subscriptions.length, 1);
    assert.equal(subscriptions[0]!.deadLettersTotal, 2);
    await consumer.close();
  } finally {
    await client.close();
  }
});

test('a reject without a reason is refused at the call with INVALID_REQUEST, and the message stays in hand to be rejected with one', async () => {
  const client = await connect(harness.url);
  try {
    await client.producer().send('reasons', { value: 'poison' });
    const consumer = client.queueConsumer({ topic: 'reasons', subscription: 's', config: { ackTimeoutMs: 60_000 } });
    const [message] = await take(consumer, 1);
    await assert.rejects(message!.reject(''), (e) => isWeirError(e, 'INVALID_REQUEST') && /a reject's reason must say why the message is rejected: it is empty/.test(e.message));
    await assert.rejects(message!.reject('   '), (e) => isWeirError(e, 'INVALID_REQUEST') && /it is only white space/.test(e.message));
    await assert.rejects(message!.reject(undefined as unknown as string), (e) => isWeirError(e, 'INVALID_REQUEST') && /must be a string saying why the message is rejected, not undefined/.test(e.message));
    await message!.reject('cannot parse');
    const [letter] = await client.admin().listDeadLetters('reasons.s.dlq');
    assert.equal(letter?.reason, 'rejected: cannot parse');
    await consumer.close();
  } finally {
    await client.close();
  }
});

test('a delayed message and QUEUE_FULL through the client', async () => {
  const client = await connect(harness.url);
  try {
    const admin = client.admin();
    await admin.createSubscription('bounded', 's', { backlogMessagesMax: 2 });
    const producer = client.producer({ lingerMs: 0 });
    await producer.send('bounded', { value: 'a' });
    await producer.send('bounded', { value: 'b', delayMs: 300 });
    await assert.rejects(producer.send('bounded', { value: 'c' }), (e) => isWeirError(e, 'QUEUE_FULL') && /backlogMessagesMax 2/.test(e.message));
    const consumer = client.queueConsumer({ topic: 'bounded', subscription: 's' });
    const started = Date.now();
    const [a, b] = await take(consumer, 2);
    assert.equal(a!.value!.toString(), 'a');
    assert.equal(b!.value!.toString(), 'b');
    assert.ok(Date.now() - started >= 250, 'the delayed message waited');
    await a!.ack();
    await b!.ack();
    await consumer.close();
  } finally {
    await client.close();
  }
});

for (const mode of ['push', 'pull'] as const) {
  test(`${mode}: deleting the subscription ends a running consumer with UNKNOWN_SUBSCRIPTION, and it does not come back`, async () => {
    const client = await connect(harness.url);
    try {
      const admin = client.admin();
      const topic = `doomed-${mode}`;
      await admin.createTopic(topic, { partitions: 1 });
      await admin.createSubscription(topic, 'w');
      const consumer = client.queueConsumer({ topic, subscription: 'w', mode });
      const running = consumer.run({ eachMessage: () => {} });
      running.catch(() => {}); // awaited below; it may fail before that
      const deadline = Date.now() + 5000;
      while ((await admin.describeSubscription(topic, 'w')).consumers === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await admin.deleteSubscription(topic, 'w');
      await assert.rejects(running, (e) => isWeirError(e, 'UNKNOWN_SUBSCRIPTION') && /subscription w of topic doomed-\w+ was deleted/.test(e.message));
      assert.deepEqual(await admin.listSubscriptions(topic), [], 'the ended consumer did not create the subscription again');
      await consumer.close();
    } finally {
      await client.close();
    }
  });
}

test('a settlement with a bad value fails alone: the others in its request are settled and deliveries go on', async () => {
  const client = await connect(harness.url);
  try {
    const admin = client.admin();
    await admin.createTopic('settle-mix', { partitions: 1 });
    await admin.createSubscription('settle-mix', 's');
    const producer = client.producer();
    await producer.send('settle-mix', Array.from({ length: 6 }, (_, i) => ({ value: `m${i}` })));
    const consumer = client.queueConsumer({ topic: 'settle-mix', subscription: 's', prefetch: 4 });
    const messages = await take(consumer, 4);
    assert.equal(messages.length, 4);
    // One turn of the event loop: these share one settle request.
    const outcomes = await Promise.allSettled([
      messages[0]!.ack(),
      messages[1]!.extend(Number.NaN),
      messages[1]!.nack({ delayMs: 1.5 }),
      messages[2]!.reject(`x${'😀'.repeat(35_000)}`),
      messages[3]!.ack(),
    ]);
    assert.deepEqual(outcomes.map((o) => o.status), ['fulfilled', 'rejected', 'rejected', 'fulfilled', 'fulfilled']);
    for (const o of outcomes) if (o.status === 'rejected') assert.ok(isWeirError(o.reason, 'INVALID_REQUEST'), String(o.reason));
    await messages[1]!.ack(); // not settled by the refused nack
    const rest = await take(consumer, 2);
    assert.deepEqual(rest.map((m) => m.value!.toString()), ['m4', 'm5'], 'the credits came back with the settlements');
    for (const m of rest) await m.ack();
    const [letter] = await admin.listDeadLetters('settle-mix.s.dlq');
    assert.equal(letter!.reason, `rejected: x${'😀'.repeat(499)}`, 'the first 1000 characters of the reason, not half an emoji');
    const first = consumer.close();
    await consumer.close();
    await first;
    assert.equal((await admin.describeSubscription('settle-mix', 's')).consumers, 0, 'the second close() waited for the unsubscribe');
  } finally {
    await client.close();
  }
});

test('a nack delay or an extension past the broker\'s 7-day limit is refused before anything changes: the message stays in hand', async () => {
  assert.equal(settleDelayMsMax, brokerSettleDelayMsMax, 'the client checks the broker\'s limit');
  const client = await connect(harness.url);
  try {
    const admin = client.admin();
    await admin.createTopic('settle-limit', { partitions: 1 });
    await admin.createSubscription('settle-limit', 's');
    await client.producer().send('settle-limit', { value: 'kept' });
    const consumer = client.queueConsumer({ topic: 'settle-limit', subscription: 's', prefetch: 1 });
    const [message] = await take(consumer, 1);
    const refused = (e: unknown): boolean => isWeirError(e, 'INVALID_REQUEST') && /from [01] to 604800000 \(7 days, the broker's limit\)/.test(e.message);
    await assert.rejects(message!.nack({ delayMs: settleDelayMsMax + 1 }), refused);
    await assert.rejects(message!.extend(settleDelayMsMax + 1), refused);
    await message!.extend(settleDelayMsMax); // the limit itself is taken
    await message!.nack({ delayMs: 0 }); // still in hand: the refused nack settled nothing
    const [again] = await take(consumer, 1);
    assert.equal(again!.deliveryCount, 2, 'delivered again at once by the nack that went through');
    await again!.ack();
    await consumer.close();
  } finally {
    await client.close();
  }
});

test('a negative or fractional nack delay and an extension under 1 ms are refused at the call, naming the field and the range: the message stays in hand', async () => {
  assert.equal(extendMsMin, brokerExtendMsMin, 'the client checks the broker\'s limit');
  const client = await connect(harness.url);
  try {
    const admin = client.admin();
    await admin.createTopic('settle-low', { partitions: 1 });
    await admin.createSubscription('settle-low', 's', { backoff: { kind: 'fixed', delayMs: 60_000 } });
    await client.producer().send('settle-low', { value: 'kept' });
    const consumer = client.queueConsumer({ topic: 'settle-low', subscription: 's', prefetch: 1 });
    const [message] = await take(consumer, 1);
    const refusals: [() => Promise<void>, string][] = [
      [() => message!.nack({ delayMs: -1 }), 'nack delayMs -1 is invalid: expected a whole number of milliseconds from 0 to 604800000 (7 days, the broker\'s limit)'],
      [() => message!.nack({ delayMs: -5 }), 'nack delayMs -5 is invalid: expected a whole number of milliseconds from 0 to 604800000 (7 days, the broker\'s limit)'],
      [() => message!.nack({ delayMs: 2.5 }), 'nack delayMs 2.5 is invalid: expected a whole number of milliseconds from 0 to 604800000 (7 days, the broker\'s limit)'],
      [() => message!.extend(0), 'extend ms 0 is invalid: expected a whole number of milliseconds from 1 to 604800000 (7 days, the broker\'s limit)'],
      [() => message!.extend(-1), 'extend ms -1 is invalid: expected a whole number of milliseconds from 1 to 604800000 (7 days, the broker\'s limit)'],
    ];
    for (const [call, text] of refusals) {
      await assert.rejects(call(), (e) => isWeirError(e, 'INVALID_REQUEST') && e.message === text);
    }
    await message!.extend(1); // the lower bound itself is taken
    // Still in hand: a nack went nowhere, so this one settles it and it comes back at once (its
    // backoff, a minute, would have held it back).
    await message!.nack({ delayMs: 0 });
    const [again] = await take(consumer, 1);
    assert.equal(again!.deliveryCount, 2);
    await again!.ack();
    await consumer.close();
  } finally {
    await client.close();
  }
});

for (const mode of ['push', 'pull'] as const) {
  test(`${mode}: break out of for await closes the queue consumer: its settlements are sent, what it holds unsettled goes back at once`, async () => {
    const client = await connect(harness.url);
    try {
      const admin = client.admin();
      const topic = `left-early-${mode}`;
      await admin.createTopic(topic, { partitions: 1 });
      await admin.createSubscription(topic, 's', { backoff: { kind: 'fixed', delayMs: 0 } });
      await client.producer().send(topic, ['m0', 'm1', 'm2', 'm3'].map((value) => ({ value })));
      const consumer = client.queueConsumer({ topic, subscription: 's', mode, prefetch: 4 });
      for await (const message of consumer) {
        if (message.value!.toString() === 'm2') break; // in hand, not settled
        void message.ack();
      }
      const described = await admin.describeSubscription(topic, 's');
      assert.equal(described.consumers, 0, 'the consumer left the subscription when the loop did');
      assert.equal(described.ackedTotal, 2, 'the acks made in the loop were sent before it left');
      assert.equal(described.inFlight, 0, 'nothing stays leased to it until its ack timeout');
      await consumer.close(); // the same close
      const other = client.queueConsumer({ topic, subscription: 's', mode });
      const rest = await take(other, 2);
      const counts = rest.map((m) => [m.value!.toString(), m.deliveryCount]).sort();
      assert.deepEqual(counts, [['m2', 2], ['m3', 1]], 'another consumer gets them now; m3, buffered unseen, was given back without counting');
      for (const m of rest) await m.ack();
      await other.close();
    } finally {
      await client.close();
    }
  });
}

test('a delivery that crosses the close of a consumer with an empty buffer goes back unseen: its delivery does not count', async () => {
  const admin = await connect(harness.url);
  // The consumer's connection runs through a proxy that holds the broker's bytes back from the
  // first queue delivery after `holdNext` until the consumer sends its next request: the delivery
  // crosses that request on the wire.
  let holdNext = false;
  let held: Buffer[] | null = null;
  let onHeld: () => void = () => {};
  const deliveryHeld = new Promise<void>((resolve) => (onHeld = resolve));
  const proxy = await startTcpProxy(
    harness.port,
    (client) => framesOf((frame) => {
      if (held === null && holdNext && frame[4] === frameKinds.queueDelivery) {
        held = [];
        onHeld();
      }
      if (held !== null) held.push(frame);
      else client.write(frame);
    }),
    (client, upstream) => (chunk) => {
      upstream.write(chunk);
      if (held === null) return;
      for (const frame of held) client.write(frame);
      held = null;
      holdNext = false;
    },
  );
  const client = await connect(`weir://127.0.0.1:${proxy.port}`);
  try {
    await admin.admin().createTopic('crossing', { partitions: 1 });
    await admin.admin().createSubscription('crossing', 's', { backoff: { kind: 'fixed', delayMs: 60_000 } });
    const consumer = client.queueConsumer({ topic: 'crossing', subscription: 's', prefetch: 1 });
    await admin.producer().send('crossing', { value: 'm0' });
    const [first] = await take(consumer, 1);
    await first!.ack(); // returns the consumer's one credit: the broker sends m1 as soon as it is there
    holdNext = true;
    await admin.producer().send('crossing', { value: 'm1' });
    await deliveryHeld;
    await consumer.close();
    const described = await admin.admin().describeSubscription('crossing', 's');
    assert.equal(described.consumers, 0);
    assert.deepEqual(described.deliveryCounts, {}, 'm1 was given back unseen, not failed as delivered');
    assert.deepEqual([described.backlogMessages, described.inFlight, described.scheduled], [1, 0, 0], 'ready at once, not after the backoff');
  } finally {
    await client.close();
    await admin.close();
    proxy.close();
  }
});

test('client.close() closes a queue consumer built with new QueueConsumer as its own close() does: its buffered messages go back unseen, its iterator ends', async () => {
  const admin = await connect(harness.url);
  const client = await connect(harness.url);
  try {
    await admin.admin().createTopic('built-directly', { partitions: 1 });
    await admin.admin().createSubscription('built-directly', 's', { backoff: { kind: 'fixed', delayMs: 60_000 } });
    await admin.producer().send('built-directly', Array.from({ length: 5 }, (_, i) => ({ value: `m${i}` })));
    const consumer = new QueueConsumer(client, { topic: 'built-directly', subscription: 's', prefetch: 10 });
    const [first] = await take(consumer, 1);
    await first!.ack();
    await client.close();
    const described = await admin.admin().describeSubscription('built-directly', 's');
    assert.equal(described.consumers, 0);
    assert.deepEqual(described.deliveryCounts, {}, 'the 4 buffered were given back unseen, not failed as delivered');
    assert.deepEqual([described.backlogMessages, described.inFlight, described.scheduled], [4, 0, 0], 'ready at once for another consumer');
    assert.deepEqual(await take(consumer, 1, 2_000), [], 'the closed consumer yields nothing');
  } finally {
    await client.close();
    await admin.close();
  }
});

/** Opens a push consumer of `topic`/s with `prefetch`, takes one message, settles it as `settle` says, and closes. */
async function takeOneAndClose(url: string, topic: string, settle: 'ack' | 'hold', options: { versionMax?: number } = {}): Promise<number> {
  const client = await connect(url, options);
  try {
    const consumer = client.queueConsumer({ topic, subscription: 's', prefetch: 10 });
    const [message] = await take(consumer, 1);
    if (settle === 'ack') await message!.ack();
    await consumer.close();
    return message!.deliveryCount;
  } finally {
    await client.close();
  }
}

test('a consumer that takes one message and closes gives the rest of its prefetch back unseen: their deliveries do not count, even after more closes than deliveriesMax', async () => {
  const client = await connect(harness.url);
  try {
    const admin = client.admin();
    await admin.createTopic('come-and-go', { partitions: 1 });
    await admin.createSubscription('come-and-go', 's', { deliveriesMax: 3 });
    // Fewer than the prefetch are left after a few rounds: the broker holds spare credits of the
    // consumer when it releases, and must not hand the released messages straight back to it.
    await client.producer().send('come-and-go', Array.from({ length: 8 }, (_, i) => ({ value: `m${i}` })));
    const taken: number[] = [];
    for (let i = 0; i < 6; i++) taken.push(await takeOneAndClose(harness.url, 'come-and-go', 'ack'));
    assert.deepEqual(taken, [1, 1, 1, 1, 1, 1], 'each consumer got a message never delivered before');
    const described = await admin.describeSubscription('come-and-go', 's');
    assert.deepEqual(described.deliveryCounts, {}, 'the 2 messages left were never counted as delivered');
    assert.deepEqual([described.backlogMessages, described.inFlight, described.scheduled], [2, 0, 0], 'all ready at once, none waiting out a backoff');
    assert.deepEqual([described.deadLettersTotal, described.redeliveriesTotal], [0, 0]);
  } finally {
    await client.close();
  }
});

test('a message the application holds unsettled when its consumer closes counts as delivered; the ones it never got do not', async () => {
  const client = await connect(harness.url);
  try {
    const admin = client.admin();
    await admin.createTopic('held-at-close', { partitions: 1 });
    await admin.createSubscription('held-at-close', 's');
    await client.producer().send('held-at-close', Array.from({ length: 10 }, (_, i) => ({ value: `m${i}` })));
    await takeOneAndClose(harness.url, 'held-at-close', 'hold');
    const described = await admin.describeSubscription('held-at-close', 's');
    assert.deepEqual(described.deliveryCounts, { 1: 1 }, 'the one in hand was delivered; the 9 buffered were not');
    assert.equal(described.scheduled, 1, 'the one in hand waits out the backoff');
  } finally {
    await client.close();
  }
});

test('on a protocol version 1 connection (no release) a closing consumer\'s buffered messages count, as before', async () => {
  const client = await connect(harness.url);
  try {
    const admin = client.admin();
    await admin.createTopic('close-v1', { partitions: 1 });
    await admin.createSubscription('close-v1', 's');
    await client.producer().send('close-v1', Array.from({ length: 10 }, (_, i) => ({ value: `m${i}` })));
    await takeOneAndClose(harness.url, 'close-v1', 'ack', { versionMax: 1 });
    const described = await admin.describeSubscription('close-v1', 's');
    assert.deepEqual(described.deliveryCounts, { 1: 9 });
  } finally {
    await client.close();
  }
});
