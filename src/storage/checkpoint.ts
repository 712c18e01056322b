/**
 * The partition's checkpoint file (`checkpoint`, 60 bytes, big-endian; docs/format/segment.md):
 *
 *   offset  size  field
 *        0     4  magic                "WCKP"
 *        4     2  version              1
 *        6     2  flags                bit 0: clean shutdown
 *        8     8  recoveryOffset       int64  segments below the one holding this offset were
 *                                             sealed and synced; recovery scans from there on
 *       16     8  activeBaseOffset     int64  base offset of the last segment
 *       24     8  activeSizeBytes      int64  its size at close (clean shutdown only)
 *       32     4  offsetIndexCrc       uint32 CRC-32C of its .index file at close
 *       36     4  offsetIndexBytes     uint32
 *       40     4  timeIndexCrc         uint32 CRC-32C of its .timeindex file at close
 *       44     4  timeIndexBytes       uint32
 *       48     8  logEndOffset         int64  offset after the last batch at close
 *       56     4  crc                  uint32 CRC-32C of bytes 0..55
 *
 * Written with fsync when a segment is sealed (clean = 0) and at a clean close (clean = 1). A clean
 * checkpoint is trusted only if the last segment's name and size still match it and its index files
 * match the digests; anything else (a missing, torn or stale file) means recovery.
 */
import { crc32c } from '../format/crc32c.js';

export const checkpointBytes = 60;
const checkpointMagic = 0x57434b50; // "WCKP"
const checkpointVersion = 1;
const flagClean = 1;

export interface Checkpoint {
  clean: boolean;
  recoveryOffset: bigint;
  activeBaseOffset: bigint;
  activeSizeBytes: number;
  offsetIndexCrc: number;
  offsetIndexBytes: number;
  timeIndexCrc: number;
  timeIndexBytes: number;
  logEndOffset: bigint;
}

export function encodeCheckpoint(checkpoint: Checkpoint): Buffer {
  const buffer = Buffer.alloc(checkpointBytes);
  buffer.writeUInt32BE(checkpointMagic, 0);
  buffer.writeUInt16BE(checkpointVersion, 4);
  buffer.writeUInt16BE(checkpoint.clean ? flagClean : 0, 6);
  buffer.writeBigInt64BE(checkpoint.recoveryOffset, 8);
  buffer.writeBigInt64BE(checkpoint.activeBaseOffset, 16);
  buffer.writeBigInt64BE(BigInt(checkpoint.activeSizeBytes), 24);
  buffer.writeUInt32BE(checkpoint.offsetIndexCrc, 32);
  buffer.writeUInt32BE(checkpoint.offsetIndexBytes, 36);
  buffer.writeUInt32BE(checkpoint.timeIndexCrc, 40);
  buffer.writeUInt32BE(checkpoint.timeIndexBytes, 44);
  buffer.writeBigInt64BE(checkpoint.logEndOffset, 48);
  buffer.writeUInt32BE(crc32c(buffer.subarray(0, 56)), 56);
  return buffer;
}

/** The checkpoint in `bytes`, or null if they are not a whole, intact checkpoint. */
export function decodeCheckpoint(bytes: Buffer): Checkpoint | null {
  if (bytes.length !== checkpointBytes) return null;
  if (bytes.readUInt32BE(0) !== checkpointMagic || bytes.readUInt16BE(4) !== checkpointVersion) return null;
  if (bytes.readUInt32BE(56) !== crc32c(bytes.subarray(0, 56))) return null;
  return {
    clean: (bytes.readUInt16BE(6) & flagClean) !== 0,
    recoveryOffset: bytes.readBigInt64BE(8),
    activeBaseOffset: bytes.readBigInt64BE(16),
    activeSizeBytes: Number(bytes.readBigInt64BE(24)),
    offsetIndexCrc: bytes.readUInt32BE(32),
    offsetIndexBytes: bytes.readUInt32BE(36),
    timeIndexCrc: bytes.readUInt32BE(40),
    timeIndexBytes: bytes.readUInt32BE(44),
    logEndOffset: bytes.readBigInt64BE(48),
  };
}
