/**
 * The interpreter over schema tables (schema.ts): decodes and encodes one struct of a given
 * version. For each (field list, version, flexible) it first builds a plan — the fields present,
 * whether each is nullable or compact, the tagged fields by tag, the smallest encoded size of an
 * element — and caches it, so the per-message work is a loop over a short array.
 *
 * Decoding is defensive: every length and count is checked against the bytes that remain before
 * anything is allocated, and every failure is a WeirError from the reader (INVALID_REQUEST for
 * requests, CORRUPT_MESSAGE for responses). Fields a version lacks are filled with their defaults,
 * so a decoded value always has every property of its type.
 */
import type { ByteReader } from '../../../format/byte-reader.js';
import { ByteWriter } from './byte-writer.js';
import { inVersions, type FieldSpec, type PrimitiveType } from './schema.js';

interface FieldPlan {
  readonly spec: FieldSpec;
  readonly name: string;
  readonly element: PrimitiveType | 'struct';
  readonly array: boolean;
  readonly nullable: boolean;
  readonly compact: boolean;
  readonly children: StructPlan | undefined;
}

interface StructPlan {
  readonly flexible: boolean;
  readonly regular: readonly FieldPlan[];
  readonly tagged: ReadonlyMap<number, FieldPlan>;
  /** Tagged fields in ascending tag order, for encoding. */
  readonly taggedOrder: readonly FieldPlan[];
  /** Fields missing from this version (and tagged ones), filled with defaults on decode. */
  readonly defaults: readonly FieldSpec[];
  /** Smallest number of bytes one encoded struct can take (at least 1). */
  readonly bytesMin: number;
}

const planCache = new WeakMap<readonly FieldSpec[], Map<number, StructPlan>>();

export function structPlan(fields: readonly FieldSpec[], version: number, flexible: boolean): StructPlan {
  let byVersion = planCache.get(fields);
  if (byVersion === undefined) {
    byVersion = new Map();
    planCache.set(fields, byVersion);
  }
  const key = version * 2 + (flexible ? 1 : 0);
  let plan = byVersion.get(key);
  if (plan === undefined) {
    plan = buildPlan(fields, version, flexible);
    byVersion.set(key, plan);
  }
  return plan;
}

function buildPlan(fields: readonly FieldSpec[], version: number, flexible: boolean): StructPlan {
  const regular: FieldPlan[] = [];
  const tagged = new Map<number, FieldPlan>();
  const defaults: FieldSpec[] = [];
  let bytesMin = flexible ? 1 : 0;
  for (const spec of fields) {
    const present = inVersions(spec.versions, version);
    const isTagged = spec.tag !== undefined;
    if (!present || isTagged) defaults.push(spec);
    if (!present || (isTagged && !flexible)) continue;
    const array = spec.type.startsWith('[]');
    const elementName = array ? spec.type.slice(2) : spec.type;
    const element = (elementName === '' ? 'struct' : elementName) as PrimitiveType | 'struct';
    const compact = flexible && spec.neverCompact !== true;
    const field: FieldPlan = {
      spec,
      name: spec.name,
      element,
      array,
      nullable: spec.nullable !== undefined && inVersions(spec.nullable, version),
      compact,
      children: element === 'struct' ? structPlan(spec.fields ?? [], version, flexible) : undefined,
    };
    if (isTagged) tagged.set(spec.tag!, field);
    else {
      regular.push(field);
      bytesMin += array ? (compact ? 1 : 4) : primitiveBytesMin(element as PrimitiveType, compact);
    }
  }
  const taggedOrder = [...tagged.entries()].sort((a, b) => a[0] - b[0]).map((entry) => entry[1]);
  return { flexible, regular, tagged, taggedOrder, defaults, bytesMin: Math.max(1, bytesMin) };
}

function primitiveBytesMin(type: PrimitiveType, compact: boolean): number {
  switch (type) {
    case 'bool':
    case 'int8':
      return 1;
    case 'int16':
    case 'uint16':
      return 2;
    case 'int32':
      return 4;
    case 'int64':
    case 'float64':
      return 8;
    case 'uuid':
      return 16;
    case 'string':
      return compact ? 1 : 2;
    case 'bytes':
    case 'records':
      return compact ? 1 : 4;
  }
}

export function defaultValue(spec: FieldSpec): unknown {
  if (spec.default !== undefined) return spec.default;
  if (spec.type.startsWith('[]')) return [];
  switch (spec.type as PrimitiveType) {
    case 'bool':
      return false;
    case 'int64':
      return 0n;
    case 'string':
      return '';
    case 'bytes':
      return Buffer.alloc(0);
    case 'uuid':
      return Buffer.alloc(16);
    case 'records':
      return null;
    default:
      return 0;
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding

export function decodeStruct(reader: ByteReader, plan: StructPlan): Record<string, unknown> {
  const value: Record<string, unknown> = {};
  for (const spec of plan.defaults) value[spec.name] = defaultValue(spec);
  for (const field of plan.regular) value[field.name] = decodeField(reader, field);
  if (plan.flexible) decodeTaggedFields(reader, plan, value);
  return value;
}

function decodeTaggedFields(reader: ByteReader, plan: StructPlan, value: Record<string, unknown>): void {
  const count = reader.uvarint('tagged field count');
  // Each tagged field takes at least two bytes (tag and size).
  if (count * 2 > reader.remaining) reader.fail(`tagged field count ${count} exceeds the remaining bytes`);
  let previousTag = -1;
  for (let i = 0; i < count; i++) {
    const tag = reader.uvarint('tag');
    if (tag <= previousTag) reader.fail(`tag ${tag} is not in ascending order`);
    previousTag = tag;
    const size = reader.uvarint('tagged field size');
    reader.need(size, `tagged field ${tag}`);
    const field = plan.tagged.get(tag);
    if (field === undefined) {
      reader.position += size;
      continue;
    }
    const end = reader.position + size;
    // The value must take exactly the declared size (reads stay inside the outer bounds).
    value[field.name] = decodeField(reader, field);
    if (reader.position !== end) reader.fail(`tagged field ${tag} took ${reader.position - (end - size)} bytes, declared ${size}`);
  }
}

function decodeField(reader: ByteReader, field: FieldPlan): unknown {
  if (!field.array) return decodePrimitive(reader, field, field.element as PrimitiveType);
  const count = field.compact ? reader.uvarint(`${field.name} count`) - 1 : reader.int32(`${field.name} count`);
  if (count === -1) {
    if (!field.nullable) reader.fail(`${field.name} is null but not nullable`);
    return null;
  }
  if (count < -1) reader.fail(`${field.name} count ${count} is negative`);
  const elementBytesMin = field.children?.bytesMin ?? primitiveBytesMin(field.element as PrimitiveType, field.compact);
  if (count * elementBytesMin > reader.remaining) {
    reader.fail(`${field.name} count ${count} exceeds the remaining ${reader.remaining} bytes`);
  }
  const items: unknown[] = new Array(count);
  for (let i = 0; i < count; i++) {
    items[i] = field.children !== undefined
      ? decodeStruct(reader, field.children)
      : decodePrimitive(reader, { ...field, nullable: false }, field.element as PrimitiveType);
  }
  return items;
}

function decodePrimitive(reader: ByteReader, field: FieldPlan, type: PrimitiveType): unknown {
  const name = field.name;
  switch (type) {
    case 'bool':
      return reader.int8(name) !== 0;
    case 'int8':
      return reader.int8(name);
    case 'int16':
      return reader.int16(name);
    case 'uint16':
      return reader.uint16(name);
    case 'int32':
      return reader.int32(name);
    case 'int64':
      return reader.int64(name);
    case 'float64': {
      reader.need(8, name);
      const value = reader.buffer.readDoubleBE(reader.position);
      reader.position += 8;
      return value;
    }
    case 'uuid':
      return Buffer.from(reader.bytes(16, name));
    case 'string': {
      const bytes = decodeLengthPrefixed(reader, field, field.compact ? -1 : 2);
      return bytes === null ? null : bytes.toString('utf8');
    }
    case 'bytes':
    case 'records':
      return decodeLengthPrefixed(reader, field, field.compact ? -1 : 4);
  }
}

/** A length (int16 or int32, or compact uvarint N+1 when `lengthBytes` is -1) then the bytes. */
function decodeLengthPrefixed(reader: ByteReader, field: FieldPlan, lengthBytes: -1 | 2 | 4): Buffer | null {
  const length = lengthBytes === -1
    ? reader.uvarint(`${field.name} length`) - 1
    : lengthBytes === 2 ? reader.int16(`${field.name} length`) : reader.int32(`${field.name} length`);
  if (length === -1) {
    if (!field.nullable) reader.fail(`${field.name} is null but not nullable`);
    return null;
  }
  if (length < -1) reader.fail(`${field.name} length ${length} is negative`);
  return reader.bytes(length, field.name);
}

// ---------------------------------------------------------------------------------------------
// Encoding

export function encodeStruct(writer: ByteWriter, plan: StructPlan, value: Record<string, unknown>): void {
  for (const field of plan.regular) encodeField(writer, field, valueOrDefault(value, field.spec));
  if (!plan.flexible) return;
  const present: { tag: number; bytes: Buffer }[] = [];
  for (const field of plan.taggedOrder) {
    const fieldValue = value[field.name];
    if (fieldValue === undefined || isDefault(fieldValue, field.spec)) continue;
    const inner = new ByteWriter();
    encodeField(inner, field, fieldValue);
    present.push({ tag: field.spec.tag!, bytes: inner.toBuffer() });
  }
  writer.uvarint(present.length);
  for (const { tag, bytes } of present) {
    writer.uvarint(tag);
    writer.uvarint(bytes.length);
    writer.raw(bytes);
  }
}

function valueOrDefault(value: Record<string, unknown>, spec: FieldSpec): unknown {
  const fieldValue = value[spec.name];
  return fieldValue === undefined ? defaultValue(spec) : fieldValue;
}

function isDefault(value: unknown, spec: FieldSpec): boolean {
  const fallback = defaultValue(spec);
  if (Array.isArray(value)) return value.length === 0 && Array.isArray(fallback);
  if (Buffer.isBuffer(value)) return Buffer.isBuffer(fallback) && value.equals(fallback);
  return value === fallback;
}

function encodeField(writer: ByteWriter, field: FieldPlan, value: unknown): void {
  if (!field.array) {
    encodePrimitive(writer, field, field.element as PrimitiveType, value);
    return;
  }
  if (value === null) {
    if (!field.nullable) throw new TypeError(`${field.name}: null is not allowed in this version`);
    if (field.compact) writer.uvarint(0);
    else writer.int32(-1);
    return;
  }
  const items = value as unknown[];
  if (field.compact) writer.uvarint(items.length + 1);
  else writer.int32(items.length);
  for (const item of items) {
    if (field.children !== undefined) encodeStruct(writer, field.children, item as Record<string, unknown>);
    else encodePrimitive(writer, { ...field, nullable: false }, field.element as PrimitiveType, item);
  }
}

function encodePrimitive(writer: ByteWriter, field: FieldPlan, type: PrimitiveType, value: unknown): void {
  switch (type) {
    case 'bool':
      writer.int8(value ? 1 : 0);
      return;
    case 'int8':
      writer.int8(value as number);
      return;
    case 'int16':
      writer.int16(value as number);
      return;
    case 'uint16':
      writer.uint16(value as number);
      return;
    case 'int32':
      writer.int32(value as number);
      return;
    case 'int64':
      writer.int64(value as bigint);
      return;
    case 'float64':
      writer.float64(value as number);
      return;
    case 'uuid':
      if ((value as Buffer).length !== 16) throw new TypeError(`${field.name}: a uuid has 16 bytes`);
      writer.raw(value as Buffer);
      return;
    case 'string':
      encodeLengthPrefixed(writer, field, value === null ? null : Buffer.from(value as string, 'utf8'), 2);
      return;
    case 'bytes':
    case 'records':
      encodeLengthPrefixed(writer, field, value as Buffer | null, 4);
      return;
  }
}

function encodeLengthPrefixed(writer: ByteWriter, field: FieldPlan, bytes: Buffer | null, lengthBytes: 2 | 4): void {
  if (bytes === null) {
    if (!field.nullable) throw new TypeError(`${field.name}: null is not allowed in this version`);
    if (field.compact) writer.uvarint(0);
    else if (lengthBytes === 2) writer.int16(-1);
    else writer.int32(-1);
    return;
  }
  if (field.compact) writer.uvarint(bytes.length + 1);
  else if (lengthBytes === 2) {
    if (bytes.length > 0x7fff) throw new TypeError(`${field.name}: a string holds at most 32767 bytes`);
    writer.int16(bytes.length);
  } else writer.int32(bytes.length);
  writer.raw(bytes);
}
