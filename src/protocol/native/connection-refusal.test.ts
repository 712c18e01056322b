import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as netConnect } from 'node:net';
import { test } from 'node:test';
import { Connection } from '../../client/connection.js';
import { isWeirError } from '../../util/errors.js';
import { startTestBroker } from './testing-broker.js';
import { encodeRequest } from './wire/frame.js';
import { apis } from './wire/messages.js';

test('a client connecting past connectionsMax gets LIMIT_EXCEEDED naming the connection limit, not a reset; once a connection closes the next gets in', async () => {
  const harness = await startTestBroker({ listener: { connectionsMax: 2 } });
  const open = () => Connection.open({ host: '127.0.0.1', port: harness.port, clientId: 'test', connectTimeoutMs: 2000, requestTimeoutMs: 2000 });
  const connections: Connection[] = [];
  try {
    connections.push(await open(), await open());
    await assert.rejects(open(), (error) => {
      assert.ok(isWeirError(error, 'LIMIT_EXCEEDED'), String(error));
      assert.equal(
        error.message,
        `127.0.0.1:${harness.port} refused the connection: the broker is at its connection limit: this listener holds connectionsMax (2) connections already (weir start --connections-max); try again later`,
      );
      return true;
    });
    assert.equal(harness.listener.connectionCount, 2);
    assert.ok(harness.logs.some((line) => line.includes('refusing a connection, 2 are open (connectionsMax)')));
    connections.shift()!.close();
    // The listener sees the close when its socket does: a turn or two later.
    while (harness.listener.connectionCount > 1) await new Promise((resolve) => setImmediate(resolve));
    connections.push(await open());
    assert.equal(harness.listener.connectionCount, 2);
  } finally {
    for (const connection of connections) connection.close();
    await harness.stop();
  }
});

test('the refusal is the bytes docs/native-protocol.md shows, and the server ends the connection after it', async () => {
  const harness = await startTestBroker({ listener: { connectionsMax: 2 } });
  const open = () => Connection.open({ host: '127.0.0.1', port: harness.port, clientId: 'test', connectTimeoutMs: 2000, requestTimeoutMs: 2000 });
  const held = [await open(), await open()];
  try {
    const socket = netConnect({ host: '127.0.0.1', port: harness.port });
    await once(socket, 'connect');
    socket.write(Buffer.concat(encodeRequest(1, apis.hello.key, apis.hello.request, { versionMin: 1, versionMax: 2, clientId: 'raw' })));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    await once(socket, 'end');
    socket.destroy();
    const message = 'the broker is at its connection limit: this listener holds connectionsMax (2) connections already (weir start --connections-max); try again later';
    const expected = Buffer.concat([
      Buffer.from('000000aa' + '02' + '00000001' + '001f' + '0091', 'hex'),
      Buffer.from(message),
      Buffer.from('0000' + '0001' + '0002' + '0004' + Buffer.from('weir').toString('hex') + '04010000', 'hex'),
    ]);
    assert.equal(Buffer.concat(chunks).toString('hex'), expected.toString('hex'));
  } finally {
    for (const connection of held) connection.close();
    await harness.stop();
  }
});
