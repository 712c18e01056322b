import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startTestBroker } from '../protocol/native/testing-broker.js';
import { connect, isWeirError } from './index.js';
import { startTcpProxy } from './testing/tcp-proxy.js';

/** `promise`, or a failure once `ms` have passed (the test fails instead of hanging). */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still pending after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

test('a request while the broker is unreachable fails with TIMEOUT after requestTimeoutMs, naming why', async () => {
  const own = await startTestBroker();
  const client = await connect(own.url, { requestTimeoutMs: 500, reconnectBackoffMsMin: 20, reconnectBackoffMsMax: 100 });
  try {
    await client.admin().createTopic('reachable');
    await own.listener.close();
    await new Promise((resolve) => setTimeout(resolve, 100)); // the connection is seen to close
    const started = Date.now();
    await assert.rejects(within(client.admin().describeTopic('reachable'), 5_000, 'describeTopic'), (e) => {
      assert.ok(isWeirError(e, 'TIMEOUT'), String(e));
      assert.equal(e.retriable, true);
      assert.match(e.message, /^no connection to 127\.0\.0\.1:\d+ within requestTimeoutMs \(500 ms\): (cannot connect|connection) to 127\.0\.0\.1:\d+/);
      assert.ok(isWeirError(e.cause, 'CONNECTION_CLOSED'), String(e.cause));
      return true;
    });
    const elapsedMs = Date.now() - started;
    assert.ok(elapsedMs >= 450 && elapsedMs < 3_000, `failed after ${elapsedMs} ms`);
  } finally {
    await within(client.close(), 10_000, 'client.close()');
    await own.stop();
  }
});

test('a send to a topic not yet described fails with TIMEOUT after deliveryTimeoutMs while the broker is unreachable, and close() ends', async () => {
  const own = await startTestBroker();
  // The default requestTimeoutMs (30 s): the send's own deadline is what ends it.
  const client = await connect(own.url, { reconnectBackoffMsMin: 20, reconnectBackoffMsMax: 100 });
  try {
    const producer = client.producer({ deliveryTimeoutMs: 1_000, lingerMs: 1 });
    await producer.send('known', { value: 'stored' });
    await own.listener.close();
    const started = Date.now();
    const sends: Promise<unknown>[] = [producer.send('never-described', { value: 'lost' }), producer.send('never-described', [{ value: 'a' }, { value: 'b' }])];
    for (const send of sends) {
      await assert.rejects(within(send, 8_000, 'send'), (e) => {
        assert.ok(isWeirError(e, 'TIMEOUT'), String(e));
        assert.match(e.message, /not acknowledged within deliveryTimeoutMs \(1000 ms\) \(topic never-described could not be described\)/);
        return true;
      });
    }
    const elapsedMs = Date.now() - started;
    assert.ok(elapsedMs >= 900 && elapsedMs < 5_000, `failed after ${elapsedMs} ms`);
    assert.equal(producer.bufferedBytes, 0, 'the waiting messages gave their buffer bytes back');
    await within(producer.close(), 2_000, 'producer.close()');
  } finally {
    await within(client.close(), 10_000, 'client.close()');
    await own.stop();
  }
});

test('a send whose connection was lost, retried until deliveryTimeoutMs, says the broker could not be reached, not that it refused', async () => {
  const own = await startTestBroker();
  let answering = true;
  const proxy = await startTcpProxy(own.port, (client) => (chunk) => {
    if (answering) client.write(chunk);
  });
  const client = await connect(`weir://127.0.0.1:${proxy.port}`, { reconnectBackoffMsMin: 20, reconnectBackoffMsMax: 100 });
  try {
    const producer = client.producer({ deliveryTimeoutMs: 1_500, lingerMs: 1 });
    await producer.send('unanswered', { value: 'first' });
    answering = false;
    const sent = producer.send('unanswered', { value: 'second' });
    await new Promise((resolve) => setTimeout(resolve, 200)); // in flight, unanswered
    proxy.close(); // the connection drops, and no new one can be made
    await assert.rejects(within(sent, 8_000, 'send'), (e) => {
      assert.ok(isWeirError(e, 'TIMEOUT'), String(e));
      assert.match(e.message, /^not acknowledged within deliveryTimeoutMs \(1500 ms\); the broker could not be reached: CONNECTION_CLOSED: connection to 127\.0\.0\.1:\d+ closed$/);
      assert.ok(isWeirError(e.cause, 'CONNECTION_CLOSED'));
      return true;
    });
  } finally {
    await within(client.close(), 10_000, 'client.close()');
    await own.stop();
  }
});
