/** CRC-32C (Castagnoli), as RecordBatch v2 uses it; computed natively (SIMD) by @node-rs/crc32. */
import { crc32c as nativeCrc32c } from '@node-rs/crc32';

/** CRC-32C of `bytes`, continuing from `initial` (0 for a fresh checksum). Unsigned 32-bit. */
export function crc32c(bytes: Uint8Array, initial = 0): number {
  return nativeCrc32c(bytes as Buffer, initial) >>> 0;
}
