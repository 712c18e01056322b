import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';

// Plain objects, so that deepEqual compares them with decoded values.
const record = ((model: any, options?: any) => fc.record(model, { noNullPrototype: true, ...options })) as typeof fc.record;
import { isWeirError } from '../../../util/errors.js';
import {
  FrameReader,
  encodeErrorResponse,
  encodeRequest,
  errorMessageBytesMax,
  encodeResponse,
  frameKinds,
  parseFrame,
  readErrorPart,
  truncateMessage,
} from './frame.js';
import { apis } from './messages.js';

function splitAt(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let previous = 0;
  for (const point of points) {
    parts.push(bytes.subarray(previous, point));
    previous = point;
  }
  parts.push(bytes.subarray(previous));
  return parts;
}

test('frames survive arbitrary split points', () => {
  fc.assert(
    fc.property(
      fc.array(record({ id: fc.nat({ max: 2 ** 32 - 1 }), topic: fc.string({ maxLength: 20 }), size: fc.nat({ max: 9000 }) }), { minLength: 1, maxLength: 8 }),
      fc.array(fc.nat(), { maxLength: 20 }),
      (requests, cuts) => {
        const encoded = Buffer.concat(
          requests.flatMap((r) =>
            encodeRequest(r.id, apis.produce.key, apis.produce.request, { topic: r.topic, partition: 1, acks: 'leader', batches: Buffer.alloc(r.size, 3) }),
          ),
        );
        const reader = new FrameReader(1 << 20);
        const seen: { id: number; topic: string; size: number }[] = [];
        for (const part of splitAt(encoded, cuts)) {
          reader.push(part, (frame) => {
            const parsed = parseFrame(frame);
            assert.equal(parsed.kind, frameKinds.request);
            assert.equal(parsed.reader.uint16(), apis.produce.key);
            const body = apis.produce.request.read(parsed.reader);
            seen.push({ id: parsed.id, topic: body.topic, size: body.batches.length });
          });
        }
        assert.deepEqual(seen, requests);
        assert.equal(reader.bufferedBytes, 0);
      },
    ),
    { numRuns: 200 },
  );
});

test('frames from a transient chunk are copies: overwriting the chunk after each push changes none of them', () => {
  fc.assert(
    fc.property(
      fc.array(fc.nat({ max: 9000 }), { minLength: 1, maxLength: 8 }),
      fc.array(fc.nat(), { maxLength: 20 }),
      fc.array(fc.boolean(), { maxLength: 30 }),
      (sizes, cuts, stops) => {
        const encoded = Buffer.concat(
          sizes.flatMap((size, id) =>
            encodeRequest(id, apis.produce.key, apis.produce.request, { topic: 't', partition: 0, acks: 'leader', batches: Buffer.alloc(size, id + 1) }),
          ),
        );
        const reader = new FrameReader(1 << 20);
        const frames: Buffer[] = [];
        // The reader stops after a frame when told to; the next push or a drain goes on.
        const onFrame = (frame: Buffer) => {
          frames.push(frame);
          return !(stops[frames.length] ?? false);
        };
        const reused = Buffer.alloc(encoded.length);
        for (const part of splitAt(encoded, cuts)) {
          part.copy(reused);
          reader.push(reused.subarray(0, part.length), onFrame, true);
          reused.fill(0xee);
        }
        // As a connection does on each resume.
        for (let resumes = 0; resumes < sizes.length && reader.bufferedBytes > 0; resumes += 1) reader.drain(onFrame);
        const seen = frames.map((frame) => {
          const parsed = parseFrame(frame);
          parsed.reader.uint16();
          const body = apis.produce.request.read(parsed.reader);
          assert.ok(body.batches.every((byte) => byte === parsed.id + 1), `frame ${parsed.id} kept its bytes`);
          return body.batches.length;
        });
        assert.deepEqual(seen, sizes);
        assert.equal(reader.bufferedBytes, 0);
      },
    ),
    { numRuns: 300 },
  );
});

test('responses and errors are framed with their correlation ids', () => {
  const reader = new FrameReader();
  const frames: Buffer[] = [];
  const bytes = Buffer.concat([
    ...encodeResponse(9, apis.listOffsets.response, { offset: 42n, timestampMs: -1 }),
    ...encodeErrorResponse(10, 'UNKNOWN_TOPIC', 'no topic x'),
  ]);
  reader.push(bytes, (frame) => void frames.push(frame));
  const first = parseFrame(frames[0]!);
  assert.equal(first.id, 9);
  assert.equal(readErrorPart(first.reader), undefined);
  assert.deepEqual(apis.listOffsets.response.read(first.reader), { offset: 42n, timestampMs: -1 });
  const second = parseFrame(frames[1]!);
  const error = readErrorPart(second.reader);
  assert.equal(second.id, 10);
  assert.equal(error?.code, 'UNKNOWN_TOPIC');
  assert.equal(error?.message, 'no topic x');
});

test('a long error message is cut to errorMessageBytesMax without halving a surrogate pair', () => {
  for (const filler of ['x', '\u00e9', '\u{1F600}', 'x\u{1F600}']) {
    const message = filler.repeat(5000);
    const cut = truncateMessage(message);
    assert.ok(cut.endsWith('…') && Buffer.byteLength(cut) <= errorMessageBytesMax, `${filler}: ${Buffer.byteLength(cut)} bytes`);
    assert.ok(message.startsWith(cut.slice(0, -1)) && !/[\uD800-\uDBFF]…$/.test(cut), `${filler}: whole characters only`);
  }
  assert.equal(truncateMessage('short'), 'short');
});

test('an oversized length is rejected as soon as its four bytes arrive', () => {
  const reader = new FrameReader(1024);
  const header = Buffer.alloc(4);
  header.writeUInt32BE(0xffff_fff0);
  assert.throws(
    () => reader.push(header, () => assert.fail('no frame expected')),
    (error) => isWeirError(error, 'MESSAGE_TOO_LARGE'),
  );
  assert.ok(reader.bufferedBytes <= 4, 'nothing was buffered for the frame');
});

test('a length below the minimum is rejected', () => {
  const reader = new FrameReader(1024);
  assert.throws(() => reader.push(Buffer.from([0, 0, 0, 2, 1, 1]), () => {}), (error) => isWeirError(error, 'INVALID_REQUEST'));
});

test('arbitrary bytes give frames or a clean error, never a crash or a hang', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat(), { maxLength: 10 }), (raw, cuts) => {
      const reader = new FrameReader(256);
      try {
        for (const part of splitAt(Buffer.from(raw), cuts)) {
          reader.push(part, (frame) => {
            const parsed = parseFrame(frame);
            if (parsed.kind === frameKinds.request) parsed.reader.uint16();
          });
        }
      } catch (error) {
        assert.ok(isWeirError(error), `unexpected ${String(error)}`);
      }
    }),
    { numRuns: 2000 },
  );
});

test('onFrame returning false stops the reader; drain hands over the rest in order', () => {
  const bytes = Buffer.concat([1, 2, 3].flatMap((id) => encodeRequest(id, apis.listGroups.key, apis.listGroups.request, {})));
  const reader = new FrameReader();
  const ids: number[] = [];
  reader.push(bytes, (frame) => {
    ids.push(parseFrame(frame).id);
    return false;
  });
  assert.deepEqual(ids, [1]);
  reader.drain((frame) => void ids.push(parseFrame(frame).id));
  assert.deepEqual(ids, [1, 2, 3]);
  assert.equal(reader.bufferedBytes, 0);
});
