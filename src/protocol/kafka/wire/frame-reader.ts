/**
 * Kafka's framing: an int32 size, then that many bytes (the shared length-prefixed reader,
 * util/frame-reader.ts, does the cutting).
 *
 * The size is checked against `frameBytesMax` (Kafka's socket.request.max.bytes, 100 MiB by
 * default) before anything is allocated; a larger or negative size is a protocol violation the
 * caller answers by closing the connection.
 */
import { LengthPrefixedFrames } from '../../../util/frame-reader.js';
import { WeirError } from '../../../util/errors.js';

export const requestBytesMaxDefault = 100 * 1024 * 1024;

export class FrameReader extends LengthPrefixedFrames {
  /** `growing`: frames' buffers grow as their bytes arrive (the listener's reader; see LengthPrefixedFrames). */
  constructor(options?: { frameBytesMax?: number; growing?: boolean }) {
    const frameBytesMax = options?.frameBytesMax ?? requestBytesMaxDefault;
    super((length) => {
      if (length > frameBytesMax) {
        // Sent as an int32: past 2^31 - 1 it is a negative size.
        throw new WeirError('INVALID_REQUEST', `frame size ${length | 0} is outside 0..${frameBytesMax}`);
      }
    }, { growing: options?.growing ?? false });
  }
}
