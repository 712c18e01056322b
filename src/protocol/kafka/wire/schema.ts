/**
 * Weir's compact schema language for Kafka protocol messages, written from the public protocol
 * guide. A message is a list of fields; each field names its type and the versions it exists in.
 * The codec in struct-codec.ts interprets these tables, and the TypeScript value types are inferred
 * from the same tables, so a field is declared exactly once.
 *
 * Version ranges are strings: '3+' (3 and later), '0-4' (inclusive), '2' (only 2), 'none'.
 *
 * Types (Kafka's names): bool, int8, int16, int32, int64, uint16, float64, string, bytes, uuid,
 * records (a RecordBatch blob, kept as raw bytes), '[]T' for an array of a primitive, and '[]'
 * with `fields` for an array of structs.
 *
 * Flexible versions (`flexibleMin` on the message) use compact lengths (unsigned varint N+1,
 * 0 = null) and end every struct with a tagged-field section; fields with a `tag` live there.
 */

export type PrimitiveType =
  | 'bool'
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'uint16'
  | 'float64'
  | 'string'
  | 'bytes'
  | 'uuid'
  | 'records';

export type FieldType = PrimitiveType | `[]${PrimitiveType}` | '[]';

export interface FieldSpec {
  readonly name: string;
  readonly type: FieldType;
  /** Versions the field exists in; '0+' when absent. */
  readonly versions?: string;
  /** Versions in which the value may be null. Its presence makes the value type `T | null`. */
  readonly nullable?: string;
  /** A tagged field (flexible versions only): its tag number. */
  readonly tag?: number;
  /** Value used when the field is absent from a version (and, for tagged fields, not sent). */
  readonly default?: boolean | number | bigint | string | null;
  /** Element fields of a struct array (type '[]'). */
  readonly fields?: readonly FieldSpec[];
  /** Overrides the message's flexible rule: the request header's client id is never compact. */
  readonly neverCompact?: true;
}

export interface MessageSpec {
  readonly apiKey: number;
  readonly name: string;
  /** Versions the schema describes (and so can be decoded and encoded). */
  readonly versions: string;
  /** First flexible version; 'none' when the schema has none. */
  readonly flexible: string;
  readonly request: readonly FieldSpec[];
  readonly response: readonly FieldSpec[];
}

// ---------------------------------------------------------------------------------------------
// Value types inferred from the tables.

type PrimitiveValue<T> = T extends 'bool'
  ? boolean
  : T extends 'int64'
    ? bigint
    : T extends 'string'
      ? string
      : T extends 'bytes' | 'uuid' | 'records'
        ? Buffer
        : number;

type WithNull<F, T> = F extends { nullable: string } ? T | null : T;

type FieldValue<F> = F extends { type: '[]'; fields: infer S extends readonly FieldSpec[] }
  ? WithNull<F, StructValue<S>[]>
  : F extends { type: `[]${infer P}` }
    ? WithNull<F, PrimitiveValue<P>[]>
    : F extends { type: infer P }
      ? WithNull<F, PrimitiveValue<P>>
      : never;

/** The value of a struct whose fields are `S`: one property per field name. */
export type StructValue<S extends readonly FieldSpec[]> = {
  -readonly [F in S[number] as F['name']]: FieldValue<F>;
};

export type RequestOf<M extends MessageSpec> = StructValue<M['request']>;
export type ResponseOf<M extends MessageSpec> = StructValue<M['response']>;

// ---------------------------------------------------------------------------------------------
// Version ranges.

export interface VersionRange {
  readonly min: number;
  readonly max: number;
}

const rangeCache = new Map<string, VersionRange>();

/** Parses '3+', '0-4', '2' or 'none'. Throws on anything else (a schema bug). */
export function parseVersions(text: string): VersionRange {
  const cached = rangeCache.get(text);
  if (cached !== undefined) return cached;
  let range: VersionRange;
  let match: RegExpMatchArray | null;
  if (text === 'none') range = { min: 1, max: 0 };
  else if ((match = /^(\d+)\+$/.exec(text)) !== null) range = { min: Number(match[1]), max: Number.POSITIVE_INFINITY };
  else if ((match = /^(\d+)-(\d+)$/.exec(text)) !== null) range = { min: Number(match[1]), max: Number(match[2]) };
  else if ((match = /^(\d+)$/.exec(text)) !== null) range = { min: Number(match[1]), max: Number(match[1]) };
  else throw new Error(`schema: bad version range '${text}'`);
  rangeCache.set(text, range);
  return range;
}

export function inVersions(text: string | undefined, version: number): boolean {
  const range = parseVersions(text ?? '0+');
  return version >= range.min && version <= range.max;
}

export function isFlexible(message: MessageSpec, version: number): boolean {
  return inVersions(message.flexible, version);
}

// ---------------------------------------------------------------------------------------------
// Encoder input: the same shape with every property optional (absent = the field's default).

type InputValue<F> = F extends { type: '[]'; fields: infer S extends readonly FieldSpec[] }
  ? WithNull<F, StructInput<S>[]>
  : FieldValue<F>;

export type StructInput<S extends readonly FieldSpec[]> = {
  -readonly [F in S[number] as F['name']]?: InputValue<F>;
};

export type RequestInput<M extends MessageSpec> = StructInput<M['request']>;
export type ResponseInput<M extends MessageSpec> = StructInput<M['response']>;
