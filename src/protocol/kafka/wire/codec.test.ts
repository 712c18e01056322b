import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ByteReader } from '../../../format/byte-reader.js';
import { isWeirError } from '../../../util/errors.js';
import { decodeRequest, decodeResponse, encodeRequest, encodeResponse, encodeUnsupportedVersion } from './codec.js';
import { kafkaErrors } from './error-codes.js';
import { kafkaMessages } from './messages.js';
import { isFlexible, parseVersions, type FieldSpec, type MessageSpec } from './schema.js';
import { decodeStruct, defaultValue, structPlan } from './struct-codec.js';
import { structArbitrary } from './schema-arbitraries.js';
import { advertisedVersions } from './versions.js';

/** The value as decoding gives it back: absent fields filled with their defaults. */
function withDefaults(fields: readonly FieldSpec[], version: number, flexible: boolean, value: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const spec of fields) {
    const present = value[spec.name] !== undefined;
    let fieldValue = present ? value[spec.name] : defaultValue(spec);
    if (present && spec.type === '[]' && Array.isArray(fieldValue)) {
      fieldValue = fieldValue.map((item) => withDefaults(spec.fields ?? [], version, flexible, item as Record<string, unknown>));
    }
    out[spec.name] = fieldValue;
  }
  return out;
}

const allVersions = Object.values(kafkaMessages).flatMap((message: MessageSpec) => {
  const range = parseVersions(message.versions);
  return Array.from({ length: range.max - range.min + 1 }, (_, index) => ({ message, version: range.min + index }));
});

test('every described message and version round-trips requests and responses', () => {
  assert.ok(allVersions.length > 60);
  for (const { message, version } of allVersions) {
    const flexible = isFlexible(message, version);
    const header = { apiKey: message.apiKey, apiVersion: version, correlationId: 77, clientId: 'test' };
    fc.assert(
      fc.property(structArbitrary(message.request, version, flexible), (body) => {
        const frame = encodeRequest(message, header, body as never);
        assert.equal(frame.readInt32BE(0), frame.length - 4);
        const decoded = decodeRequest(frame.subarray(4));
        assert.equal(decoded.kind, 'request');
        assert.deepEqual(decoded.header, header);
        if (decoded.kind === 'request') assert.deepEqual(decoded.body, withDefaults(message.request, version, flexible, body));
      }),
      { numRuns: 40 },
    );
    fc.assert(
      fc.property(structArbitrary(message.response, version, flexible), (body) => {
        const frame = Buffer.concat(encodeResponse(message, header, body as never));
        const decoded = decodeResponse(message, version, frame.subarray(4));
        assert.equal(decoded.correlationId, 77);
        assert.deepEqual(decoded.body, withDefaults(message.response, version, flexible, body));
      }),
      { numRuns: 40 },
    );
  }
});

test('arbitrary bytes after a valid header give a request or a WeirError, never a crash', () => {
  fc.assert(
    fc.property(fc.constantFrom(...allVersions), fc.uint8Array({ maxLength: 200 }), ({ message, version }, tail) => {
      const head = Buffer.alloc(8);
      head.writeInt16BE(message.apiKey, 0);
      head.writeInt16BE(version, 2);
      head.writeInt32BE(1, 4);
      try {
        decodeRequest(Buffer.concat([head, Buffer.from([0, 1, 0x61]), Buffer.from(tail)]));
      } catch (error) {
        assert.ok(isWeirError(error, 'INVALID_REQUEST'), String(error));
      }
    }),
    { numRuns: 3000 },
  );
});

test('every truncation of a valid request is rejected with INVALID_REQUEST', () => {
  for (const { message, version } of allVersions) {
    const flexible = isFlexible(message, version);
    const [body] = fc.sample(structArbitrary(message.request, version, flexible), { numRuns: 1, seed: version });
    const frame = encodeRequest(message, { apiKey: message.apiKey, apiVersion: version, correlationId: 1, clientId: 'c' }, body as never).subarray(4);
    for (let length = 0; length < frame.length; length++) {
      assert.throws(() => decodeRequest(frame.subarray(0, length)), (error) => isWeirError(error, 'INVALID_REQUEST'));
    }
    assert.throws(() => decodeRequest(Buffer.concat([frame, Buffer.from([0])])), /trailing/);
  }
});

test('huge array counts and lengths fail before allocating', () => {
  const head = Buffer.from('0000000700000001ffff', 'hex'); // Produce v7, correlation 1, null client id
  const body = Buffer.from('ffff' + 'ffff' + '00007530' + '7fffffff', 'hex'); // null transactional id, acks -1, timeout, 2^31-1 topics
  assert.throws(() => decodeRequest(Buffer.concat([head, body])), /count 2147483647 exceeds/);
  const reader = new ByteReader(Buffer.from('7ffffff0', 'hex'), { code: 'INVALID_REQUEST' });
  const plan = structPlan([{ name: 'blob', type: 'bytes' }], 0, false);
  assert.throws(() => decodeStruct(reader, plan), (error) => isWeirError(error, 'INVALID_REQUEST'));
});

test('flexible encodings: compact lengths, tagged fields, unknown tags skipped', () => {
  const message = kafkaMessages.apiVersions;
  const frame = encodeRequest(message, { apiKey: 18, apiVersion: 3, correlationId: 9, clientId: 'cli' }, { clientSoftwareName: 'weir', clientSoftwareVersion: '1' });
  // header: key, version, correlation, int16 client id, empty tag section; body: compact strings, tags.
  assert.equal(frame.subarray(4).toString('hex'), '00120003000000090003636c6900' + '057765697202' + '3100');
  // An unknown tagged field in the body is skipped.
  const withTag = Buffer.concat([frame.subarray(4, frame.length - 1), Buffer.from('01' + '05' + '02' + 'abcd', 'hex')]);
  const decoded = decodeRequest(withTag);
  assert.equal(decoded.kind, 'request');
  if (decoded.kind === 'request') assert.equal(decoded.body.clientSoftwareName, 'weir');
  // Tags out of order are rejected.
  const badOrder = Buffer.concat([frame.subarray(4, frame.length - 1), Buffer.from('02' + '05' + '00' + '01' + '00', 'hex')]);
  assert.throws(() => decodeRequest(badOrder), /ascending/);
});

test('ApiVersions of an unknown version is answered in v0 with UNSUPPORTED_VERSION and the ranges', () => {
  const request = Buffer.from('00120009000000050003636c6900' + '00', 'hex'); // ApiVersions v9
  const decoded = decodeRequest(request);
  assert.equal(decoded.kind, 'unsupported');
  const frame = Buffer.concat(encodeUnsupportedVersion(decoded.header));
  const response = decodeResponse(kafkaMessages.apiVersions, 0, frame.subarray(4));
  assert.equal(response.correlationId, 5);
  assert.equal(response.body.errorCode, kafkaErrors.UNSUPPORTED_VERSION);
  assert.deepEqual(response.body.apiKeys, advertisedVersions.map((entry) => ({ ...entry })));
  // Other APIs: correlation id and the error code.
  const other = Buffer.concat(encodeUnsupportedVersion({ apiKey: 1, apiVersion: 2, correlationId: 6, clientId: null }));
  assert.equal(other.toString('hex'), '00000006' + '00000006' + '0023');
});

test('advertised ranges keep the versions librdkafka 2.0.2 tests one by one', () => {
  const range = (key: number) => advertisedVersions.find((entry) => entry.apiKey === key)!;
  const has = (key: number, version: number) => range(key).minVersion <= version && version <= range(key).maxVersion;
  assert.ok(has(0, 0) && has(0, 3) && has(0, 7), 'Produce 0, 3 and 7');
  assert.ok(has(1, 4) && has(1, 10), 'Fetch 4 and 10');
  assert.ok(has(10, 0), 'FindCoordinator 0');
  assert.ok(has(2, 1), 'ListOffsets 1');
  assert.ok(range(9).maxVersion <= 5, 'OffsetFetch stays non-flexible');
  for (const entry of advertisedVersions) {
    const message = Object.values(kafkaMessages).find((candidate: MessageSpec) => candidate.apiKey === entry.apiKey)!;
    const described = parseVersions(message.versions);
    assert.ok(entry.maxVersion <= described.max, `${message.name}: advertised beyond the schema`);
  }
});
