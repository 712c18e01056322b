/**
 * Record batch compression codecs, numbered as in RecordBatch v2 attributes bits 0-2.
 *
 * Decompression is always capped: `decompress` produces at most `bytesMax` bytes and throws
 * CORRUPT_MESSAGE rather than expanding a decompression bomb.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { WeirError } from '../util/errors.js';

export const compressionCodecs = { none: 0, gzip: 1, snappy: 2, lz4: 3, zstd: 4 } as const;
export type CompressionName = keyof typeof compressionCodecs;
export type CompressionCodec = (typeof compressionCodecs)[CompressionName];

const nameByCodec = Object.fromEntries(
  Object.entries(compressionCodecs).map(([name, codec]) => [codec, name]),
) as Record<CompressionCodec, CompressionName>;

export function compressionName(codec: number): CompressionName | undefined {
  return nameByCodec[codec as CompressionCodec];
}

export function compress(codec: CompressionCodec, data: Buffer): Buffer {
  switch (codec) {
    case 0:
      return data;
    case 1:
      return gzipSync(data);
    default:
      throw new WeirError('INVALID_CONFIG', `compression ${nameByCodec[codec]} is not available yet`);
  }
}

export function decompress(codec: CompressionCodec, data: Buffer, bytesMax: number): Buffer {
  switch (codec) {
    case 0:
      return data;
    case 1:
      try {
        return gunzipSync(data, { maxOutputLength: bytesMax });
      } catch (error) {
        throw new WeirError('CORRUPT_MESSAGE', `gzip data is corrupt or expands beyond ${bytesMax} bytes`, { cause: error });
      }
    default:
      throw new WeirError('CORRUPT_MESSAGE', `compression ${nameByCodec[codec] ?? codec} is not available yet`);
  }
}
