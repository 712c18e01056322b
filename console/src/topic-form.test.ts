import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Topic, TopicConfig } from './api.js';
import { newTopicConfig, newTopicFieldsOf, topicChanges, topicFields, topicFieldsOf, type TopicFields } from './topic-form.js';

function topic(config: Partial<TopicConfig>, partitionCount = 3): Topic {
  return {
    name: 'orders',
    internal: false,
    config: {
      partitions: partitionCount,
      retentionMs: 604_800_000,
      retentionBytes: null,
      flush: { kind: 'interval', intervalMs: 100 },
      messageBytesMax: 1_048_576,
      segmentBytesMax: 268_435_456,
      segmentAgeMsMax: 604_800_000,
      messageTtlMs: null,
      timestampAheadMsMax: 3_600_000,
      timestampBehindMsMax: null,
      ...config,
    },
    partitions: Array.from({ length: partitionCount }, (_, partition) => ({ partition, offsetStart: 0, offsetEnd: 0, highWatermark: 0, sizeBytes: 0 })),
  };
}

test('the form opens with the topic settings in its units; no limit is an empty field', () => {
  assert.deepEqual(topicFields(topic({})), {
    partitions: '3',
    retentionHours: '168',
    retentionMebibytes: '',
    flush: 'interval',
    flushIntervalMs: '100',
    messageTtlHours: '',
    messageKibibytesMax: '1024',
    segmentMebibytesMax: '256',
    segmentAgeHoursMax: '168',
    timestampAheadHoursMax: '1',
    timestampBehindHoursMax: '',
  });
  const other = topicFields(
    topic({ retentionMs: null, retentionBytes: 1_572_864, flush: { kind: 'always' }, messageTtlMs: 1_800_000, timestampAheadMsMax: null, timestampBehindMsMax: 172_800_000 }),
  );
  assert.equal(other.retentionHours, '');
  assert.equal(other.retentionMebibytes, '1.5');
  assert.equal(other.flush, 'always');
  assert.equal(other.flushIntervalMs, '');
  assert.equal(other.messageTtlHours, '0.5');
  assert.equal(other.timestampAheadHoursMax, '');
  assert.equal(other.timestampBehindHoursMax, '48');
});

test('an untouched form asks for nothing, even where the units do not divide evenly', () => {
  const opened = topicFields(topic({ retentionMs: 1000, retentionBytes: 1000, messageBytesMax: 1500, messageTtlMs: 7, segmentBytesMax: 100_000, segmentAgeMsMax: 1000, timestampAheadMsMax: 1, timestampBehindMsMax: 1 }));
  assert.deepEqual(topicChanges(opened, { ...opened }), {});
});

test('only the changed fields are sent, in the broker units; a cleared limit is null', () => {
  const opened = topicFields(topic({ retentionBytes: 1_048_576 }));
  const submitted: TopicFields = {
    ...opened,
    partitions: '5',
    retentionHours: '',
    retentionMebibytes: '2.5',
    messageTtlHours: '0.5',
    messageKibibytesMax: '64',
    segmentMebibytesMax: '64',
    segmentAgeHoursMax: '24',
    timestampAheadHoursMax: '',
    timestampBehindHoursMax: '168',
  };
  assert.deepEqual(topicChanges(opened, submitted), {
    partitions: 5,
    retentionMs: null,
    retentionBytes: 2_621_440,
    messageTtlMs: 1_800_000,
    messageBytesMax: 65_536,
    segmentBytesMax: 67_108_864,
    segmentAgeMsMax: 86_400_000,
    timestampAheadMsMax: null,
    timestampBehindMsMax: 604_800_000,
  });
  assert.deepEqual(topicChanges(opened, { ...opened, retentionHours: '48' }), { retentionMs: 172_800_000 });
});

test('flush is sent when its kind or, for an interval, its interval changes', () => {
  const interval = topicFields(topic({}));
  assert.deepEqual(topicChanges(interval, { ...interval, flushIntervalMs: '250' }), { flush: 'interval:250' });
  assert.deepEqual(topicChanges(interval, { ...interval, flush: 'none', flushIntervalMs: '' }), { flush: 'none' });
  const always = topicFields(topic({ flush: { kind: 'always' } }));
  assert.deepEqual(topicChanges(always, { ...always, flush: 'interval', flushIntervalMs: '20' }), { flush: 'interval:20' });
});

test('a submitted form reads as fields; a field not shown is empty', () => {
  const form = new FormData();
  form.set('partitions', ' 4 ');
  form.set('flush', 'always');
  const fields = topicFieldsOf(form);
  assert.equal(fields.partitions, '4');
  assert.equal(fields.flush, 'always');
  assert.equal(fields.flushIntervalMs, '');
});

test('a new topic sends the fields filled in, in the broker units; an empty field is left to the broker default', () => {
  const form = new FormData();
  form.set('retentionHours', '48');
  form.set('retentionMebibytes', '');
  form.set('timestampAheadHoursMax', ' 2 ');
  assert.deepEqual(newTopicConfig(newTopicFieldsOf(form)), { retentionMs: 172_800_000, timestampAheadMsMax: 7_200_000 });
  assert.deepEqual(newTopicConfig(newTopicFieldsOf(new FormData())), {});
});

test('a new topic with a ticked "no bound" asks for none (null) for that timestamp bound, whatever its hours hold', () => {
  const ahead = new FormData();
  ahead.set('timestampAheadHoursMax', '2');
  ahead.set('timestampAheadNone', 'on');
  assert.deepEqual(newTopicConfig(newTopicFieldsOf(ahead)), { timestampAheadMsMax: null });
  const behind = new FormData();
  behind.set('timestampAheadHoursMax', '1');
  behind.set('timestampBehindNone', 'on');
  assert.deepEqual(newTopicConfig(newTopicFieldsOf(behind)), { timestampAheadMsMax: 3_600_000, timestampBehindMsMax: null });
});

test('a new topic with a ticked "no limit" keeps its messages for ever (null retention), whatever the field holds', () => {
  const form = new FormData();
  form.set('retentionHours', '48');
  form.set('retentionNone', 'on');
  form.set('retentionMebibytes', '10');
  assert.deepEqual(newTopicConfig(newTopicFieldsOf(form)), { retentionMs: null, retentionBytes: 10_485_760 });
  form.set('retentionBytesNone', 'on');
  assert.deepEqual(newTopicConfig(newTopicFieldsOf(form)), { retentionMs: null, retentionBytes: null });
});
