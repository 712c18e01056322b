/**
 * A bounds-checked cursor over a byte buffer. Every read checks the remaining bytes first, and
 * every variable-length field is checked against the remaining bytes before anything is
 * allocated, so malformed input ends in a `WeirError` (code CORRUPT_MESSAGE by default), never a
 * RangeError, a huge allocation or a hang.
 */
import { WeirError, type ErrorCode } from '../util/errors.js';

export class ByteReader {
  readonly buffer: Buffer;
  position: number;
  /** Where reading stops (a caller may narrow it to one record and widen it again). */
  end: number;
  readonly #what: string;
  readonly #code: ErrorCode;

  constructor(buffer: Buffer, options?: { start?: number; end?: number; what?: string; code?: ErrorCode }) {
    this.buffer = buffer;
    this.position = options?.start ?? 0;
    this.end = options?.end ?? buffer.length;
    this.#what = options?.what ?? 'input';
    this.#code = options?.code ?? 'CORRUPT_MESSAGE';
  }

  get remaining(): number {
    return this.end - this.position;
  }

  fail(message: string): never {
    throw new WeirError(this.#code, `${this.#what}: ${message} (at byte ${this.position})`);
  }

  need(bytes: number, field: string): void {
    if (bytes < 0 || bytes > this.end - this.position) {
      this.fail(`${field} needs ${bytes} bytes but ${this.end - this.position} remain`);
    }
  }

  int8(field = 'int8'): number {
    this.need(1, field);
    return this.buffer.readInt8(this.position++);
  }

  uint8(field = 'uint8'): number {
    this.need(1, field);
    return this.buffer[this.position++]!;
  }

  int16(field = 'int16'): number {
    this.need(2, field);
    const value = this.buffer.readInt16BE(this.position);
    this.position += 2;
    return value;
  }

  uint16(field = 'uint16'): number {
    this.need(2, field);
    const value = this.buffer.readUInt16BE(this.position);
    this.position += 2;
    return value;
  }

  int32(field = 'int32'): number {
    this.need(4, field);
    const value = this.buffer.readInt32BE(this.position);
    this.position += 4;
    return value;
  }

  uint32(field = 'uint32'): number {
    this.need(4, field);
    const value = this.buffer.readUInt32BE(this.position);
    this.position += 4;
    return value;
  }

  int64(field = 'int64'): bigint {
    this.need(8, field);
    const value = this.buffer.readBigInt64BE(this.position);
    this.position += 8;
    return value;
  }

  /** An int64 that must fit a JavaScript number exactly (timestamps, counters). */
  int64Number(field = 'int64'): number {
    const value = this.int64(field);
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
      this.fail(`${field} ${value} is outside the safe integer range`);
    }
    return Number(value);
  }

  /**
   * A zigzag-encoded signed varint of at most 5 bytes (32 bits). The field's name is `field` and
   * `suffix`, joined only for an error (so that a hot path builds no string).
   */
  varint(field = 'varint', suffix = ''): number {
    let raw = 0;
    let shift = 0;
    for (let i = 0; i < 5; i++) {
      if (this.position >= this.end) this.fail(`${field}${suffix} is truncated`);
      const byte = this.buffer[this.position++]!;
      raw |= (byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) {
        if (i === 4 && byte > 0x0f) this.fail(`${field}${suffix} overflows 32 bits`);
        raw >>>= 0;
        return (raw >>> 1) ^ -(raw & 1);
      }
      shift += 7;
    }
    return this.fail(`${field}${suffix} is longer than 5 bytes`);
  }

  /** An unsigned varint of at most 5 bytes (flexible-version lengths in the Kafka protocol). */
  uvarint(field = 'uvarint'): number {
    let value = 0;
    let multiplier = 1;
    for (let i = 0; i < 5; i++) {
      if (this.position >= this.end) this.fail(`${field} is truncated`);
      const byte = this.buffer[this.position++]!;
      value += (byte & 0x7f) * multiplier;
      if ((byte & 0x80) === 0) {
        if (value > 0xffffffff) this.fail(`${field} overflows 32 bits`);
        return value;
      }
      multiplier *= 128;
    }
    return this.fail(`${field} is longer than 5 bytes`);
  }

  /**
   * A zigzag-encoded signed varlong of at most 10 bytes, returned as a number: Weir uses varlongs
   * only for timestamp deltas, which must lie in the safe integer range.
   */
  varlong(field = 'varlong'): number {
    // Fast path: up to 7 bytes (49 bits) fit a number exactly; longer ones take the BigInt path.
    let value = 0;
    let multiplier = 1;
    const start = this.position;
    for (let i = 0; i < 7 && start + i < this.end; i++) {
      const byte = this.buffer[start + i]!;
      value += (byte & 0x7f) * multiplier;
      if ((byte & 0x80) === 0) {
        this.position = start + i + 1;
        return value % 2 === 0 ? value / 2 : -(value + 1) / 2;
      }
      multiplier *= 128;
    }
    return this.#varlongBig(field);
  }

  #varlongBig(field: string): number {
    let raw = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.position >= this.end) this.fail(`${field} is truncated`);
      const byte = this.buffer[this.position++]!;
      raw |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) {
        if (i === 9 && byte > 0x01) this.fail(`${field} overflows 64 bits`);
        const value = (raw >> 1n) ^ -(raw & 1n);
        if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
          this.fail(`${field} ${value} is outside the safe integer range`);
        }
        return Number(value);
      }
      shift += 7n;
    }
    return this.fail(`${field} is longer than 10 bytes`);
  }

  /** `length` bytes as a view into the buffer (no copy). */
  bytes(length: number, field = 'bytes'): Buffer {
    this.need(length, field);
    const view = this.buffer.subarray(this.position, this.position + length);
    this.position += length;
    return view;
  }

  /** A byte field preceded by a signed varint length; -1 means null. */
  varintBytes(field: string): Buffer | null {
    const length = this.varint(field, ' length');
    if (length === -1) return null;
    if (length < -1) this.fail(`${field} length ${length} is negative`);
    return this.bytes(length, field);
  }
}
