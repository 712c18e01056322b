import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect } from '../../client/index.js';
import { readyPorts, startBrokerProcess } from './broker-process.js';

test('the ready line gives the ports of the listeners that are on, with any host', () => {
  const tail = ', data in /tmp/weir (pid 4242)';
  assert.deepEqual(
    readyPorts(`… info  weir broker ready: native protocol on 127.0.0.1:7400, Kafka protocol on 127.0.0.1:9092, HTTP on 0.0.0.0:7480${tail}\n`),
    { port: 7400, kafkaPort: 9092, httpPort: 7480 },
  );
  assert.deepEqual(readyPorts(`weir broker ready: native protocol on ::1:7400, HTTP on ::1:7480${tail}`), { port: 7400, kafkaPort: null, httpPort: 7480 });
  assert.deepEqual(readyPorts(`weir broker ready: native protocol on 127.0.0.1:7400, Kafka protocol on 127.0.0.1:9092${tail}`), { port: 7400, kafkaPort: 9092, httpPort: null });
  assert.deepEqual(readyPorts(`weir broker ready: native protocol on localhost:7400${tail}`), { port: 7400, kafkaPort: null, httpPort: null });
  assert.equal(readyPorts('… info  weir broker ready: native protocol on 127.0.0.1:74'), null, 'a line still being written is not ready');
});

// Far below the helper's 20 s start timeout: a ready line it does not recognise fails here.
test('a broker process started with --no-kafka (and --no-http) is ready as soon as it says so', { timeout: 10_000 }, async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'weir-broker-process-'));
  try {
    for (const args of [['--no-kafka'], ['--no-kafka', '--no-http']]) {
      const broker = await startBrokerProcess(dataDir, { args });
      try {
        assert.equal(broker.kafkaPort, null);
        assert.equal(broker.httpPort === null, args.includes('--no-http'));
        const client = await connect(broker.url);
        try {
          await client.admin().createTopic(`served-${args.length}`, { partitions: 1 });
        } finally {
          await client.close();
        }
      } finally {
        assert.equal(await broker.stop(), 0);
      }
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});
