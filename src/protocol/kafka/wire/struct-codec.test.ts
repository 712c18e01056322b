/**
 * The interpreter on a synthetic schema that uses every feature the registered messages do not
 * all reach: every primitive type, nullable compact strings, bytes and arrays, tagged fields with
 * defaults, fields that come and go with the version.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ByteReader } from '../../../format/byte-reader.js';
import { isWeirError } from '../../../util/errors.js';
import { ByteWriter } from './byte-writer.js';
import type { FieldSpec } from './schema.js';
import { decodeStruct, defaultValue, encodeStruct, structPlan } from './struct-codec.js';
import { structArbitrary } from './schema-arbitraries.js';

const synthetic = [
  { name: 'flag', type: 'bool' },
  { name: 'tiny', type: 'int8' },
  { name: 'port', type: 'uint16' },
  { name: 'ratio', type: 'float64', versions: '1+' },
  { name: 'id', type: 'uuid', versions: '2+' },
  { name: 'label', type: 'string', nullable: '1+', default: null },
  { name: 'blob', type: 'bytes', nullable: '0+' },
  { name: 'records', type: 'records', nullable: '0+' },
  { name: 'numbers', type: '[]int64', nullable: '2+' },
  { name: 'names', type: '[]string' },
  {
    name: 'entries',
    type: '[]',
    nullable: '1+',
    fields: [
      { name: 'key', type: 'string' },
      { name: 'value', type: 'int32', versions: '0-1' },
      { name: 'note', type: 'string', tag: 0, default: '' },
    ],
  },
  { name: 'hint', type: 'int32', tag: 3, default: -1 },
  { name: 'extra', type: 'string', tag: 1, nullable: '0+', default: null },
] as const satisfies readonly FieldSpec[];

function complete(fields: readonly FieldSpec[], value: Record<string, unknown>, version: number, flexible: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const spec of fields) {
    let fieldValue = value[spec.name] === undefined ? defaultValue(spec) : value[spec.name];
    if (spec.tag !== undefined && !flexible) fieldValue = defaultValue(spec);
    if (spec.type === '[]' && Array.isArray(fieldValue)) {
      fieldValue = fieldValue.map((item) => complete(spec.fields ?? [], item as Record<string, unknown>, version, flexible));
    }
    out[spec.name] = fieldValue;
  }
  return out;
}

test('synthetic schema round-trips in every version, flexible or not', () => {
  for (const version of [0, 1, 2, 3]) {
    for (const flexible of [false, true]) {
      const plan = structPlan(synthetic, version, flexible);
      fc.assert(
        fc.property(structArbitrary(synthetic, version, flexible), (value) => {
          const writer = new ByteWriter();
          encodeStruct(writer, plan, value);
          const bytes = writer.toBuffer();
          const reader = new ByteReader(bytes, { code: 'INVALID_REQUEST' });
          const decoded = decodeStruct(reader, plan);
          assert.equal(reader.remaining, 0);
          assert.deepEqual(decoded, complete(synthetic, value, version, flexible));
          // Every truncation fails cleanly.
          for (let length = 0; length < bytes.length; length += Math.max(1, bytes.length >> 3)) {
            assert.throws(() => decodeStruct(new ByteReader(bytes.subarray(0, length), { code: 'INVALID_REQUEST' }), plan), (error) => isWeirError(error, 'INVALID_REQUEST'));
          }
        }),
        { numRuns: 150 },
      );
    }
  }
});

test('tagged fields are written only when they differ from the default, in tag order', () => {
  const plan = structPlan(synthetic, 3, true);
  const base = { names: [], blob: Buffer.alloc(0), records: null, entries: [] };
  const plain = new ByteWriter();
  encodeStruct(plain, plan, { ...base, hint: -1 });
  const tagged = new ByteWriter();
  encodeStruct(tagged, plan, { ...base, hint: 7, extra: 'x' });
  const plainBytes = plain.toBuffer();
  const taggedBytes = tagged.toBuffer();
  assert.equal(plainBytes[plainBytes.length - 1], 0, 'no tagged fields');
  // count 2; tag 1: size 2, compact string 'x'; tag 3: size 4, int32 7.
  assert.equal(taggedBytes.subarray(plainBytes.length - 1).toString('hex'), '02' + '01' + '02' + '0278' + '03' + '04' + '00000007');
  const decoded = decodeStruct(new ByteReader(taggedBytes), plan);
  assert.equal(decoded.hint, 7);
  assert.equal(decoded.extra, 'x');
});

test('a tagged field whose declared size disagrees with its content is rejected', () => {
  const plan = structPlan(synthetic, 3, true);
  const writer = new ByteWriter();
  encodeStruct(writer, plan, { names: [], blob: Buffer.alloc(0), records: null, entries: [], hint: 7 });
  const bytes = writer.toBuffer();
  const sizeAt = bytes.length - 5; // count, tag, size, then 4 bytes
  bytes[sizeAt] = 3;
  assert.throws(() => decodeStruct(new ByteReader(bytes), plan), /declared 3/);
});

test('null where a version does not allow it: rejected on decode, a programmer error on encode', () => {
  const plan = structPlan(synthetic, 0, false);
  const writer = new ByteWriter();
  assert.throws(() => encodeStruct(writer, plan, { label: null }), TypeError);
  // v0, non-flexible: flag, tiny, port, then label as int16 -1 (null, not allowed in v0).
  const bytes = Buffer.from('01' + '02' + '0003' + 'ffff', 'hex');
  assert.throws(() => decodeStruct(new ByteReader(bytes), plan), /label is null but not nullable/);
});
