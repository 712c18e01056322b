/**
 * Test support: fast-check arbitraries that build a random value of any schema struct at a given
 * version, so every message and version can be round-tripped without hand-written samples.
 */
import fc from 'fast-check';
import { inVersions, type FieldSpec, type PrimitiveType } from './schema.js';

function primitive(type: PrimitiveType): fc.Arbitrary<unknown> {
  switch (type) {
    case 'bool':
      return fc.boolean();
    case 'int8':
      return fc.integer({ min: -128, max: 127 });
    case 'int16':
      return fc.integer({ min: -32768, max: 32767 });
    case 'uint16':
      return fc.integer({ min: 0, max: 65535 });
    case 'int32':
      return fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
    case 'int64':
      return fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
    case 'float64':
      return fc.double({ noNaN: true });
    case 'string':
      return fc.string({ maxLength: 12, unit: 'grapheme' });
    case 'uuid':
      return fc.uint8Array({ minLength: 16, maxLength: 16 }).map((bytes) => Buffer.from(bytes));
    case 'bytes':
    case 'records':
      return fc.uint8Array({ maxLength: 24 }).map((bytes) => Buffer.from(bytes));
  }
}

function field(spec: FieldSpec, version: number, flexible: boolean, depth: number): fc.Arbitrary<unknown> {
  let value: fc.Arbitrary<unknown>;
  if (spec.type === '[]') value = fc.array(structArbitrary(spec.fields ?? [], version, flexible, depth + 1), { maxLength: depth > 1 ? 2 : 3 });
  else if (spec.type.startsWith('[]')) value = fc.array(primitive(spec.type.slice(2) as PrimitiveType), { maxLength: 4 });
  else value = primitive(spec.type as PrimitiveType);
  return spec.nullable !== undefined && inVersions(spec.nullable, version) ? fc.option(value, { nil: null }) : value;
}

/** Values with exactly the fields present in `version` (absent ones would decode as defaults). */
export function structArbitrary(fields: readonly FieldSpec[], version: number, flexible: boolean, depth = 0): fc.Arbitrary<Record<string, unknown>> {
  const model: Record<string, fc.Arbitrary<unknown>> = {};
  for (const spec of fields) {
    if (!inVersions(spec.versions, version)) continue;
    if (spec.tag !== undefined && !flexible) continue;
    model[spec.name] = field(spec, version, flexible, depth);
  }
  return fc.record(model);
}
