import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';

/** For each connection through the proxy: what to do with a chunk the server sent (forward, hold, drop…). */
export type AnswerHandler = (client: Socket, upstream: Socket) => (chunk: Buffer) => void;

/** For each connection through the proxy: what to do with a chunk the client sent (forward, drop, cut…). */
export type RequestHandler = (client: Socket, upstream: Socket) => (chunk: Buffer) => void;

/**
 * For tests: a TCP proxy on a free loopback port in front of `targetPort`. The client's bytes go
 * through as they are, or to `onRequests`' handler of that connection when given; the server's go
 * to `onAnswers`' handler. Either side closing closes both.
 */
export async function startTcpProxy(targetPort: number, onAnswers: AnswerHandler, onRequests?: RequestHandler): Promise<{ port: number; close(): void }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = netConnect({ host: '127.0.0.1', port: targetPort });
    sockets.add(client).add(upstream);
    client.on('data', onRequests?.(client, upstream) ?? ((chunk) => upstream.write(chunk)));
    upstream.on('data', onAnswers(client, upstream));
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    close: () => {
      server.close();
      for (const socket of sockets) socket.destroy();
    },
  };
}

/** A chunk handler that cuts either side's bytes into whole native frames (length prefix included) for `onFrame`. */
export function framesOf(onFrame: (frame: Buffer) => void): (chunk: Buffer) => void {
  let buffered = Buffer.alloc(0);
  return (chunk) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 4 && buffered.length >= 4 + buffered.readUInt32BE(0)) {
      const frame = buffered.subarray(0, 4 + buffered.readUInt32BE(0));
      buffered = buffered.subarray(frame.length);
      onFrame(frame);
    }
  };
}
