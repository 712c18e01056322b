/**
 * For tests: a raw native connection with one push queue consumer of `topic`/`subscription`
 * granted every credit (100,000), whose socket is never read, so whatever the broker hands it
 * stays in the broker's socket buffers: a client that takes messages and neither reads nor settles.
 */
import { once } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { encodeRequest } from './wire/frame.js';
import { apis } from './wire/messages.js';

export async function queueHolder(port: number, topic: string, subscription: string): Promise<Socket> {
  const socket = netConnect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  await once(socket, 'connect');
  socket.pause();
  socket.write(Buffer.concat(encodeRequest(1, apis.hello.key, apis.hello.request, { versionMin: 1, versionMax: 2, clientId: 'holder' })));
  socket.write(Buffer.concat(encodeRequest(2, apis.queueSubscribe.key, apis.queueSubscribe.request, {
    consumerId: 1,
    topic,
    subscription,
    configJson: null,
    push: true,
    credits: 100_000,
    ratePerSecond: 0,
  })));
  return socket;
}
