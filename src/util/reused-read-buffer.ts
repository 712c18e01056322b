/**
 * Reading an accepted socket into one reused buffer.
 *
 * A socket reading the usual way gets a new buffer for every read, and at a few hundred megabytes
 * a second those buffers are most of what the garbage collector has to do. Node reads into a
 * caller's buffer instead when a socket is created with the `onread` option, but that option
 * exists only for sockets Node connects, not for the ones a `net.Server` accepts. For an accepted
 * socket, `readIntoReusedBuffer` sets the same fields `onread` sets (found by the names of their
 * symbols) and hands the handle the buffer, as Node does for `onread`. Where this Node lacks any
 * of them it changes nothing and returns false, and the caller reads 'data' events as before.
 * Decision record 0009.
 */
import type { Socket } from 'node:net';

/**
 * Makes `socket` read into `buffer`, reused for every read, and calls `onRead` with a view of the
 * bytes read: valid only during the call, since the next read overwrites them. One buffer may
 * serve every socket of a process (each read is handed over before the next one starts).
 * `onRead` returning false stops reading, as `socket.pause()` does; `socket.resume()` restarts it.
 * 'data' events are not emitted; 'end', 'error' and 'close' are as usual.
 */
export function readIntoReusedBuffer(socket: Socket, buffer: Buffer, onRead: (bytes: Buffer) => boolean | void): boolean {
  const fields = socket as unknown as Record<symbol, unknown>;
  const symbols = new Map(Object.getOwnPropertySymbols(socket).map((symbol) => [symbol.description, symbol]));
  const kBuffer = symbols.get('kBuffer');
  const kBufferCb = symbols.get('kBufferCb');
  const kBufferGen = symbols.get('kBufferGen');
  const handle = (socket as unknown as { _handle?: { useUserBuffer?: unknown } | null })._handle;
  if (kBuffer === undefined || kBufferCb === undefined || kBufferGen === undefined) return false;
  if ((fields[kBuffer] ?? null) !== null || (fields[kBufferGen] ?? null) !== null) return false;
  if (handle === null || handle === undefined || typeof handle.useUserBuffer !== 'function') return false;
  fields[kBufferCb] = (bytesRead: number, read: Buffer) => onRead(read.subarray(0, bytesRead));
  fields[kBuffer] = buffer;
  (handle.useUserBuffer as (buffer: Buffer) => void).call(handle, buffer);
  return true;
}
