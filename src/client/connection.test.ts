/**
 * The client's connection against answers that do not decode, through a proxy in front of a real
 * broker that damages the body of one response frame on request.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestBroker, type TestBroker } from '../protocol/native/testing-broker.js';
import { connect, isWeirError } from './index.js';
import { framesOf, startTcpProxy } from './testing/tcp-proxy.js';

let broker: TestBroker;
let proxy: { port: number; damageNext: ((body: Buffer) => Buffer) | null; close(): void };

before(async () => {
  broker = await startTestBroker();
  proxy = await damagingProxy(broker.port);
});
after(async () => {
  proxy.close();
  await broker.stop();
});

/** Passes frames through; the next response frame's body (after kind, id and error code) goes through `damageNext`. */
async function damagingProxy(targetPort: number): Promise<typeof proxy> {
  const state: typeof proxy = { port: 0, damageNext: null, close: () => {} };
  const started = await startTcpProxy(targetPort, (client) =>
    framesOf((frame) => {
      const headBytes = 4 + 1 + 4 + 2; // length, kind, id, error code
      const damage = state.damageNext;
      if (damage === null || frame[4] !== 2) {
        client.write(frame);
        return;
      }
      state.damageNext = null;
      const damaged = Buffer.concat([frame.subarray(0, headBytes), damage(frame.subarray(headBytes))]);
      damaged.writeUInt32BE(damaged.length - 4, 0);
      client.write(damaged);
    }),
  );
  state.port = started.port;
  state.close = started.close;
  return state;
}

/** The call's outcome, or 'hung' when it has none within 5 s. */
async function settledWithin<T>(call: Promise<T>): Promise<T | 'hung'> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), 5_000)));
  try {
    return await Promise.race([call, hung]);
  } finally {
    clearTimeout(timer);
  }
}

test('a response whose body does not decode, cut short or followed by more bytes, closes the connection and fails its request; the client connects again', async () => {
  const client = await connect(`weir://127.0.0.1:${proxy.port}`, { requestTimeoutMs: 60_000 });
  try {
    await client.admin().createTopic('answered');
    const damages: ((body: Buffer) => Buffer)[] = [
      () => Buffer.from([0x00, 0x01, 0x02]), // a topic count cut short
      () => Buffer.from([0x7f, 0xff, 0xff, 0xff]), // a count of topics with none following
      (body) => Buffer.concat([body, Buffer.from([0x07])]), // one byte after the body
    ];
    for (const damage of damages) {
      proxy.damageNext = damage;
      const outcome = await settledWithin(client.admin().listTopics().then(() => 'answered', (error: unknown) => error));
      assert.ok(isWeirError(outcome, 'CONNECTION_CLOSED'), `${damage}: ${String(outcome)}`);
      assert.deepEqual((await client.admin().listTopics()).map((topic) => topic.name), ['answered']);
    }
  } finally {
    await client.close();
  }
});
