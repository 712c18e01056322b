/**
 * A connection the listener cannot take (it holds connectionsMax already) is told why instead of
 * being reset: its hello is read (one frame of at most helloFrameBytesMax) and answered with a
 * LIMIT_EXCEEDED error naming the limit, with the hello response body as for any refused hello;
 * then the server ends its side, reads and drops whatever else comes, and the socket goes when the
 * client closes or after refusalMsMax. Anything else first (another frame, bytes that are not a
 * frame) closes it at once. No ServerConnection exists for it and it holds none of the broker's
 * budgets; the listener bounds how many such sockets linger at once (refusingConnectionsMax).
 */
import type { Socket } from 'node:net';
import { WeirError } from '../../util/errors.js';
import { FrameReader, frameKinds, parseFrame } from './wire/frame.js';
import { apis } from './wire/messages.js';
import { encodeHelloRefusal, helloFrameBytesMax } from './server-connection.js';

/** Answers the socket's hello with LIMIT_EXCEEDED and `message`, then closes it (RefusedConnections bounds how long it lingers). */
export function refuseConnection(socket: Socket, options: { message: string; serverName: string; frameBytesMax: number }): void {
  socket.on('error', () => {});
  const frames = new FrameReader(helloFrameBytesMax);
  let answered = false;
  const onFrame = (frame: Buffer): boolean => {
    const { kind, id: correlationId, reader } = parseFrame(frame);
    if (kind !== frameKinds.request || reader.uint16('api') !== apis.hello.key) throw new WeirError('INVALID_REQUEST', 'the first frame is not a hello request');
    answered = true;
    const answer = encodeHelloRefusal(correlationId, 'LIMIT_EXCEEDED', options.message, { serverName: options.serverName, frameBytesMax: options.frameBytesMax });
    socket.end(Buffer.concat(answer));
    return false;
  };
  socket.on('data', (chunk: Buffer) => {
    if (answered) return; // read and dropped: unread bytes at close would reset the answer away
    try {
      frames.push(chunk, onFrame);
    } catch {
      socket.destroy();
    }
  });
}
