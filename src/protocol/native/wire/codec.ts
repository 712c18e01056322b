/**
 * Field codecs for the native protocol: small typed building blocks (integers, strings, byte
 * runs, arrays, structs) from which every request and response body is composed. One
 * description serves both directions, so an encoder and its decoder cannot drift apart, and the
 * byte layout in docs/native-protocol.md reads straight off the struct definitions in
 * messages.ts.
 *
 * Decoding is bounds-checked by ByteReader; every count and length is checked against the bytes
 * that remain before anything is allocated, so a malformed body ends in a WeirError
 * (INVALID_REQUEST), never in a RangeError, a huge allocation or a hang. A field that decodes
 * whole but holds a value out of its range throws a FieldValueError instead: the frame is intact,
 * so the request is answered with that error and the connection goes on.
 */
import type { ByteReader } from '../../../format/byte-reader.js';
import { WeirError, type ErrorCode } from '../../../util/errors.js';
import type { ByteWriter } from './byte-writer.js';

export interface Codec<T> {
  write(writer: ByteWriter, value: T): void;
  read(reader: ByteReader): T;
  /** The fewest bytes an encoded value takes (bounds array counts before allocation). */
  readonly bytesMin: number;
}

export type CodecValue<C> = C extends Codec<infer T> ? T : never;

/** A string's UTF-8 length is carried as uint16: names and messages, never payloads. */
export const stringBytesMax = 0xffff;

export const int8: Codec<number> = {
  bytesMin: 1,
  write: (w, v) => w.int8(v),
  read: (r) => r.int8(),
};

export const bool: Codec<boolean> = {
  bytesMin: 1,
  write: (w, v) => w.uint8(v ? 1 : 0),
  read: (r) => {
    const value = r.uint8('boolean');
    if (value > 1) r.fail(`boolean byte ${value} is neither 0 nor 1`);
    return value === 1;
  },
};

export const int16: Codec<number> = {
  bytesMin: 2,
  write: (w, v) => w.int16(v),
  read: (r) => r.int16(),
};

export const uint16: Codec<number> = {
  bytesMin: 2,
  write: (w, v) => w.uint16(v),
  read: (r) => r.uint16(),
};

export const int32: Codec<number> = {
  bytesMin: 4,
  write: (w, v) => w.int32(v),
  read: (r) => r.int32(),
};

export const uint32: Codec<number> = {
  bytesMin: 4,
  write: (w, v) => w.uint32(v),
  read: (r) => r.uint32(),
};

export const int64: Codec<bigint> = {
  bytesMin: 8,
  write: (w, v) => w.int64(v),
  read: (r) => r.int64(),
};

/**
 * A field read whole whose value is out of range. The struct that holds it names the field and may
 * set the code (INVALID_CONFIG for a topic's settings; INVALID_REQUEST otherwise).
 */
export class FieldValueError extends WeirError {
  /** The field's path from the outermost struct read so far ('' at the value itself). */
  readonly field: string;
  readonly detail: string;
  /** A struct has set the code: the structs around it keep it. */
  readonly coded: boolean;

  constructor(code: ErrorCode, field: string, detail: string, coded = false) {
    super(code, field === '' ? detail : `${field} ${detail}`);
    this.field = field;
    this.detail = detail;
    this.coded = coded;
  }

  /** The same error as seen from the struct field `name`, with the struct's code if it has one. */
  within(name: string, code: ErrorCode | undefined): FieldValueError {
    const field = this.field === '' ? name : `${name}.${this.field}`;
    if (this.coded || code === undefined) return new FieldValueError(this.code, field, this.detail, this.coded);
    return new FieldValueError(code, field, this.detail, true);
  }
}

const safeMax = BigInt(Number.MAX_SAFE_INTEGER);

function safeInt64(r: ByteReader): number {
  const value = r.int64();
  if (value > safeMax || value < -safeMax) throw new FieldValueError('INVALID_REQUEST', '', `${value} is outside the range ±(2^53 - 1) that this field holds`);
  return Number(value);
}

/** An int64 carried as a JavaScript number (timestamps, sizes): must be a safe integer. */
export const int64Number: Codec<number> = {
  bytesMin: 8,
  write: (w, v) => w.int64(BigInt(v)),
  read: safeInt64,
};

/** An int64 where -1 means null (optional limits such as retentionMs). */
export const nullableInt64Number: Codec<number | null> = {
  bytesMin: 8,
  write: (w, v) => w.int64(BigInt(v ?? -1)),
  read: (r) => {
    const value = safeInt64(r);
    return value === -1 ? null : value;
  },
};

/** uint16 byte length, then UTF-8. */
export const string: Codec<string> = {
  bytesMin: 2,
  write: (w, v) => {
    const length = Buffer.byteLength(v);
    if (length > stringBytesMax) throw new RangeError(`string of ${length} bytes exceeds ${stringBytesMax}`);
    w.uint16(length);
    w.utf8(v, length);
  },
  read: (r) => {
    const length = r.uint16('string length');
    return r.bytes(length, 'string').toString('utf8');
  },
};

/** int16 byte length (-1 for null), then UTF-8. */
export const nullableString: Codec<string | null> = {
  bytesMin: 2,
  write: (w, v) => {
    if (v === null) {
      w.int16(-1);
      return;
    }
    const length = Buffer.byteLength(v);
    if (length > 0x7fff) throw new RangeError(`nullable string of ${length} bytes exceeds ${0x7fff}`);
    w.int16(length);
    w.utf8(v, length);
  },
  read: (r) => {
    const length = r.int16('nullable string length');
    if (length === -1) return null;
    if (length < -1) r.fail(`nullable string length ${length} is negative`);
    return r.bytes(length, 'nullable string').toString('utf8');
  },
};

/** uint32 byte length, then the bytes. Decoding returns a view into the frame (no copy). */
export const bytes: Codec<Buffer> = {
  bytesMin: 4,
  write: (w, v) => {
    w.uint32(v.length);
    w.bytesReference(v);
  },
  read: (r) => {
    const length = r.uint32('bytes length');
    return r.bytes(length, 'bytes');
  },
};

/** int32 byte length (-1 for null), then the bytes; decoding returns a view (no copy). */
export const nullableBytes: Codec<Buffer | null> = {
  bytesMin: 4,
  write: (w, v) => {
    if (v === null) {
      w.int32(-1);
      return;
    }
    w.int32(v.length);
    w.bytesReference(v);
  },
  read: (r) => {
    const length = r.int32('nullable bytes length');
    if (length === -1) return null;
    if (length < -1) r.fail(`nullable bytes length ${length} is negative`);
    return r.bytes(length, 'nullable bytes');
  },
};

/** uint32 count, then the items. The count is checked against the remaining bytes first. */
export function array<T>(item: Codec<T>): Codec<T[]> {
  const itemBytesMin = Math.max(item.bytesMin, 1);
  return {
    bytesMin: 4,
    write: (w, values) => {
      w.uint32(values.length);
      for (const value of values) item.write(w, value);
    },
    read: (r) => {
      const count = r.uint32('array count');
      if (count * itemBytesMin > r.remaining) {
        r.fail(`array of ${count} items cannot fit in ${r.remaining} bytes`);
      }
      const values: T[] = new Array(count);
      for (let i = 0; i < count; i++) values[i] = item.read(r);
      return values;
    },
  };
}

/** uint8 presence flag (0 absent, 1 present), then the value when present. */
export function optional<T>(item: Codec<T>): Codec<T | undefined> {
  return {
    bytesMin: 1,
    write: (w, value) => {
      if (value === undefined) {
        w.uint8(0);
        return;
      }
      w.uint8(1);
      item.write(w, value);
    },
    read: (r) => (bool.read(r) ? item.read(r) : undefined),
  };
}

type Fields = Record<string, Codec<any>>;
export type StructValue<F extends Fields> = { [K in keyof F]: CodecValue<F[K]> };

/**
 * The fields in declaration order, with no tags or padding between them. `valueErrors`: the code
 * for a field value out of range (see FieldValueError).
 */
export function struct<F extends Fields>(fields: F, options: { valueErrors?: ErrorCode } = {}): Codec<StructValue<F>> {
  const entries = Object.entries(fields);
  let bytesMin = 0;
  for (const [, codec] of entries) bytesMin += codec.bytesMin;
  return {
    bytesMin,
    write: (w, value) => {
      for (const [name, codec] of entries) codec.write(w, (value as Record<string, unknown>)[name]);
    },
    read: (r) => {
      const value: Record<string, unknown> = {};
      let field = '';
      try {
        for (const [name, codec] of entries) {
          field = name;
          value[name] = codec.read(r);
        }
      } catch (error) {
        throw error instanceof FieldValueError ? error.within(field, options.valueErrors) : error;
      }
      return value as StructValue<F>;
    },
  };
}

/** A codec over another's representation: `to` maps values onto the wire form, `from` back. */
export function mapped<T, W>(inner: Codec<W>, to: (value: T) => W, from: (wire: W, reader: ByteReader) => T): Codec<T> {
  return {
    bytesMin: inner.bytesMin,
    write: (w, value) => inner.write(w, to(value)),
    read: (r) => from(inner.read(r), r),
  };
}

/** A one-byte tag naming one of a fixed list of string values. */
export function stringTag<const T extends readonly string[]>(values: T, what: string): Codec<T[number]> {
  return mapped(
    int8,
    (value: T[number]) => {
      const index = values.indexOf(value);
      if (index < 0) throw new RangeError(`${what} ${String(value)} is not one of ${values.join(', ')}`);
      return index;
    },
    (index, reader) => {
      if (index < 0 || index >= values.length) reader.fail(`${what} tag ${index} is unknown`);
      return values[index]!;
    },
  );
}

export const empty: Codec<Record<string, never>> = {
  bytesMin: 0,
  write: () => {},
  read: () => ({}),
};
