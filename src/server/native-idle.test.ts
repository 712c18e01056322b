/**
 * Idle native connections against the real broker process (`weir start
 * --native-connection-idle-ms-max`): a connection with nothing in progress is ended once the limit
 * passes, logged and counted; the TypeScript client whose connection the broker ended reconnects
 * for its next request, and its producer's next send is stored.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { connect, type ClientStatus } from '../client/index.js';
import { encodeRequest } from '../protocol/native/wire/frame.js';
import { apis } from '../protocol/native/wire/messages.js';
import { startBrokerProcess, type BrokerProcess } from './testing/broker-process.js';
import { metricSample } from './testing/metrics.js';
import { openSocket } from '../util/testing/socket.js';

const idleMsMax = 600;
/** The broker's count of idle native connections it closed. */
const idleClosed = 'weir_connections_idle_closed_total{protocol="native"}';
let broker: BrokerProcess;
let dataDir: string;

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'weir-native-idle-'));
  broker = await startBrokerProcess(dataDir, { args: ['--native-connection-idle-ms-max', String(idleMsMax), '--log-level', 'debug'] });
});

after(async () => {
  await broker?.stop('SIGTERM');
  await rm(dataDir, { recursive: true, force: true });
});

test('an idle connection is ended once the limit passes, cleanly, logged and counted', { timeout: 20_000 }, async () => {
  const countBefore = await metricSample(broker, idleClosed);
  const socket = await openSocket(broker.port);
  try {
    const hello = encodeRequest(1, apis.hello.key, apis.hello.request, { versionMin: 1, versionMax: 2, clientId: 'idler' });
    const sentAt = Date.now();
    socket.write(Buffer.concat(hello));
    // The broker's FIN (an 'end'), not a reset: nothing was pending on the connection.
    const ended = new Promise<number>((resolve) => socket.once('end', () => resolve(Date.now())));
    socket.on('error', () => {});
    socket.resume();
    const endedAt = await ended;
    assert.ok(endedAt - sentAt >= idleMsMax - 50, `ended ${endedAt - sentAt} ms after its hello`);
    assert.equal(await metricSample(broker, idleClosed), countBefore + 1);
    assert.match(broker.log(), /debug native connection 127\.0\.0\.1:\d+ \(idler\) closed: idle for \d+ ms \(connection idle limit 600 ms\)/);
  } finally {
    socket.destroy();
  }
});

test('a client whose connection the broker ended as idle reconnects for its next request, and its producer goes on', { timeout: 20_000 }, async () => {
  const client = await connect(broker.url, { clientId: 'comes-back' });
  const statuses: ClientStatus['type'][] = [];
  const disconnected = new Promise<void>((resolve) =>
    client.onStatus((status) => {
      statuses.push(status.type);
      if (status.type === 'disconnected') resolve();
    }),
  );
  try {
    const admin = client.admin();
    await admin.createTopic('comes-back', { partitions: 1 });
    const producer = client.producer();
    await producer.send('comes-back', { value: 'before' });
    await disconnected; // the broker ended the connection once it was idle
    assert.equal(client.currentConnection, null);
    await producer.send('comes-back', { value: 'after' });
    assert.deepEqual(statuses.slice(0, 3), ['disconnected', 'reconnecting', 'connected']);
    const described = await admin.describeTopic('comes-back');
    assert.equal(described.partitions[0]!.highWatermark, 2n, 'both messages stored');
  } finally {
    await client.close();
  }
});
