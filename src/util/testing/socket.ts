import { connect, type Socket } from 'node:net';

/** For tests: a plain TCP socket to 127.0.0.1:`port`, once it is connected. */
export function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => resolve(socket));
    socket.once('error', reject);
  });
}
