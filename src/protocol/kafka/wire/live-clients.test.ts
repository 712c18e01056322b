/**
 * The real clients against the codec, on every run: kcat and kafkajs talk to the capture server
 * (golden/capture-server.ts), so they must accept every response Weir's codec encodes, and every
 * request they send must decode and re-encode to the same bytes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeRequest, encodeRequest } from './codec.js';
import { captureClient, type GoldenCapture } from './golden/capture.js';
import { kcatAvailable } from './golden/client-scenarios.js';

function checkFrames(capture: GoldenCapture): void {
  assert.ok(capture.frames.length > 10);
  for (const frame of capture.frames) {
    const decoded = decodeRequest(frame.frame);
    const name = `${capture.client} key ${frame.apiKey} v${frame.apiVersion}`;
    if (decoded.kind !== 'request') {
      // Only the ApiVersions probes above the server's limit are expected here.
      assert.equal(frame.apiKey, 18, name);
      continue;
    }
    const again = encodeRequest(decoded.message, decoded.header, decoded.body as never);
    assert.deepEqual(again.subarray(4), frame.frame, name);
  }
}

test('kcat produces, consumes, lists metadata and consumes in a group', { timeout: 90_000 }, async (t) => {
  if (!(await kcatAvailable())) {
    assert.ok(process.env.CI === undefined, 'kcat is missing on CI (.ci/run installs it)');
    t.skip('kcat is not installed');
    return;
  }
  const capture = await captureClient('kcat');
  assert.deepEqual(capture.log, [
    'produce exit 0',
    'idempotent produce exit 0',
    'consume exit 0: k1=v1 k2=v2 =v3',
    'metadata exit 0',
    'group exit 0: v1 v2 v3',
  ]);
  checkFrames(capture);
  const fallback = await captureClient('kcat', { apiVersionsMax: 0 });
  assert.equal(fallback.log[0], 'produce exit 0');
  assert.ok(fallback.frames.some((frame) => frame.apiKey === 18 && frame.apiVersion === 0));
});

test('kafkajs admin (topics, partitions, configs), producers and a group consumer', { timeout: 90_000 }, async () => {
  const capture = await captureClient('kafkajs');
  assert.deepEqual(capture.log, [
    'topics: kjs',
    'offsets: 0:0-0',
    'consumed: k1=v1,k2=v2,=v3',
    'groups: golden-group',
    'described: kjs-group/Stable',
    'partitions: 2',
    'configs: retention.ms=3600000',
  ]);
  checkFrames(capture);
});
