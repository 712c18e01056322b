/**
 * Writers for the variable-length integers of RecordBatch v2 (zigzag, like protobuf's sint32 and
 * sint64). Readers live in ByteReader, where every read is bounds-checked.
 */

/** Bytes that `value` (a signed 32-bit integer) takes as a zigzag varint. */
export function varintSize(value: number): number {
  let raw = ((value << 1) ^ (value >> 31)) >>> 0;
  let size = 1;
  while (raw >= 0x80) {
    raw >>>= 7;
    size++;
  }
  return size;
}

/** Writes `value` as a zigzag varint at `position`; returns the position after it. */
export function writeVarint(buffer: Buffer, position: number, value: number): number {
  let raw = ((value << 1) ^ (value >> 31)) >>> 0;
  while (raw >= 0x80) {
    buffer[position++] = (raw & 0x7f) | 0x80;
    raw >>>= 7;
  }
  buffer[position++] = raw;
  return position;
}

/** Bytes that `value` (a safe integer) takes as a zigzag varlong. */
export function varlongSize(value: number): number {
  if (value >= -0x40000000 && value < 0x40000000) return varintSize(value);
  let raw = zigzag64(value);
  let size = 1;
  while (raw >= 0x80n) {
    raw >>= 7n;
    size++;
  }
  return size;
}

/** Writes `value` (a safe integer) as a zigzag varlong at `position`; returns the position after it. */
export function writeVarlong(buffer: Buffer, position: number, value: number): number {
  if (value >= -0x40000000 && value < 0x40000000) return writeVarint(buffer, position, value);
  let raw = zigzag64(value);
  while (raw >= 0x80n) {
    buffer[position++] = Number(raw & 0x7fn) | 0x80;
    raw >>= 7n;
  }
  buffer[position++] = Number(raw);
  return position;
}

function zigzag64(value: number): bigint {
  const big = BigInt(value);
  return BigInt.asUintN(64, (big << 1n) ^ (big >> 63n));
}

/** Bytes that `value` takes as an unsigned varint (Kafka flexible versions). */
export function uvarintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    size++;
  }
  return size;
}

/** Writes `value` (0 ≤ value < 2^32) as an unsigned varint; returns the position after it. */
export function writeUvarint(buffer: Buffer, position: number, value: number): number {
  while (value >= 0x80) {
    buffer[position++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 128);
  }
  buffer[position++] = value;
  return position;
}
