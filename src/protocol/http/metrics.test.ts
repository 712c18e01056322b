import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Broker } from '../../broker/broker.js';
import type { BrokerApi, QueueBrokerApi, SubscriptionDescription } from '../../broker/types.js';
import { RecordBatchBuilder } from '../../format/record-batch.js';
import { metricLabelSetsMax } from '../../util/metrics.js';
import { KafkaListener } from '../kafka/kafka-listener.js';
import { NativeListener } from '../native/listener.js';
import { metricsText } from './metrics.js';
import { startTestHttp } from './testing-http.js';
import { waitFor } from '../../util/testing/wait.js';

// ---- a small, strict reader of the text exposition format 0.0.4

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
interface Family {
  type: string;
  help: string;
  samples: Sample[];
}

const namePattern = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const labelPattern = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"([,}])/y;
const valuePattern = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]Inf|NaN)$/;
const unescape = (text: string): string => text.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));

function parseSample(line: string): Sample {
  const name = namePattern.exec(line)?.[0];
  assert.ok(name !== undefined, 'a sample starts with a metric name');
  const labels: Record<string, string> = {};
  let at = name.length;
  if (line[at] === '{') {
    labelPattern.lastIndex = at + 1;
    for (let end = ''; end !== '}'; ) {
      const match = labelPattern.exec(line);
      assert.ok(match !== null, `a label at column ${labelPattern.lastIndex}`);
      assert.ok(!(match[1]! in labels), `label ${match[1]} repeats`);
      labels[match[1]!] = unescape(match[2]!);
      end = match[3]!;
      at = labelPattern.lastIndex;
    }
  }
  assert.equal(line[at], ' ', 'one space before the value');
  const value = line.slice(at + 1);
  assert.match(value, valuePattern, 'the value is a float (no timestamp is sent)');
  return { name, labels, value: value === '+Inf' ? Infinity : value === '-Inf' ? -Infinity : Number(value) };
}

function checkHistogram(name: string, family: Family): void {
  const bySeries = new Map<string, Sample[]>();
  for (const sample of family.samples) {
    const { le, ...rest } = sample.labels;
    const key = JSON.stringify(rest);
    bySeries.set(key, [...(bySeries.get(key) ?? []), sample]);
    if (sample.name === `${name}_bucket`) assert.ok(le !== undefined, `${name}_bucket has le`);
  }
  for (const samples of bySeries.values()) {
    const buckets = samples.filter((s) => s.name === `${name}_bucket`);
    const count = samples.find((s) => s.name === `${name}_count`);
    assert.ok(buckets.length > 0 && count !== undefined && samples.some((s) => s.name === `${name}_sum`), `${name}: buckets, _sum and _count`);
    assert.equal(buckets.at(-1)!.labels.le, '+Inf');
    for (let i = 1; i < buckets.length; i++) {
      assert.ok(Number(buckets[i]!.labels.le!.replace('+Inf', 'Infinity')) > Number(buckets[i - 1]!.labels.le), `${name}: le increases`);
      assert.ok(buckets[i]!.value >= buckets[i - 1]!.value, `${name}: buckets are cumulative`);
    }
    assert.equal(buckets.at(-1)!.value, count.value, `${name}: +Inf bucket equals _count`);
  }
}

/** Every line must be HELP, TYPE (right after its HELP) or a sample of the family just declared. */
function parseExposition(text: string): Map<string, Family> {
  assert.ok(text.endsWith('\n'), 'the exposition ends with a line feed');
  const families = new Map<string, Family>();
  const seen = new Set<string>();
  let current: [string, Family] | null = null;
  const lines = text.slice(0, -1).split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    try {
      const help = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) ((?:[^\\]|\\[\\n])*)$/.exec(line);
      if (help !== null) {
        const type = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(lines[++i] ?? '');
        assert.ok(type !== null && type[1] === help[1], 'HELP is followed by the TYPE of the same metric');
        assert.ok(!families.has(help[1]!), `${help[1]} is declared once`);
        if (type[2] === 'counter') assert.match(help[1]!, /_total$/);
        current = [help[1]!, { type: type[2]!, help: unescape(help[2]!), samples: [] }];
        families.set(...current);
        continue;
      }
      assert.ok(current !== null && !line.startsWith('#'), 'a sample follows its HELP and TYPE');
      const sample = parseSample(line);
      const [name, family] = current;
      const suffixes = family.type === 'histogram' ? ['_bucket', '_sum', '_count'] : [''];
      assert.ok(suffixes.some((suffix) => sample.name === name + suffix), `${sample.name} belongs to ${name}`);
      const key = `${sample.name}${JSON.stringify(sample.labels)}`;
      assert.ok(!seen.has(key), 'no sample repeats');
      seen.add(key);
      family.samples.push(sample);
    } catch (error) {
      throw new Error(`line ${i + 1} "${line}": ${(error as Error).message}`);
    }
  }
  for (const [name, family] of families) if (family.type === 'histogram') checkHistogram(name, family);
  return families;
}

function valueOf(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  const family = families.get(name.replace(/_(bucket|sum|count)$/, '')) ?? families.get(name);
  return family?.samples.find((s) => s.name === name && JSON.stringify(s.labels) === JSON.stringify(labels))?.value;
}

// ---- tests

function batchOf(count: number): Buffer {
  const builder = new RecordBatchBuilder();
  for (let i = 0; i < count; i++) builder.add({ value: Buffer.from(`message ${i}`) });
  return builder.build();
}

/** Broker implements QueueBrokerApi once the queue core lands; metricsText copes either way. */
const withQueues = (broker: BrokerApi): BrokerApi & QueueBrokerApi => broker as BrokerApi & QueueBrokerApi;

test('metricsText: appended counts, offsets, lag and fsync latency of a real broker, every line valid', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'weir-metrics-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const broker = await Broker.open({ dataDir, autoCreateTopics: false });
  t.after(() => broker.close());
  await broker.createTopic('metrics-orders', { partitions: 2 });
  const before = parseExposition(metricsText(withQueues(broker)));
  const syncsBefore = valueOf(before, 'weir_storage_fsync_duration_seconds_count') ?? 0;

  let bytes = 0;
  for (const count of [2, 3]) {
    const batches = batchOf(count);
    bytes += batches.length;
    await broker.produce({ topic: 'metrics-orders', partition: 0, batches, acks: 'leader' });
  }
  await broker.produce({ topic: 'metrics-orders', partition: 1, batches: batchOf(1), acks: 'leader' });
  await broker.commitOffsets({ groupId: 'billing "eu"' }, [{ topic: 'metrics-orders', partition: 0, offset: 2n, metadata: null }]);

  const families = parseExposition(metricsText(withQueues(broker)));
  const p0 = { topic: 'metrics-orders', partition: '0' };
  assert.equal(valueOf(families, 'weir_partition_messages_appended_total', p0), 5);
  assert.equal(valueOf(families, 'weir_partition_bytes_appended_total', p0), bytes);
  assert.equal(valueOf(families, 'weir_partition_messages_appended_total', { topic: 'metrics-orders', partition: '1' }), 1);
  assert.equal(valueOf(families, 'weir_partition_log_start_offset', p0), 0);
  assert.equal(valueOf(families, 'weir_partition_log_end_offset', p0), 5);
  assert.equal(valueOf(families, 'weir_partition_high_watermark', p0), 5);
  assert.equal(valueOf(families, 'weir_partition_size_bytes', p0), bytes);
  const group = { group: 'billing "eu"', ...p0 };
  assert.equal(valueOf(families, 'weir_group_committed_offset', group), 2);
  assert.equal(valueOf(families, 'weir_group_lag_messages', group), 3);
  assert.ok(valueOf(families, 'weir_storage_fsync_duration_seconds_count')! >= syncsBefore + 3, 'each acknowledged produce was fdatasync-ed');
  assert.ok(valueOf(families, 'weir_storage_fsync_duration_seconds_sum')! > 0);
  assert.ok(valueOf(families, 'process_resident_memory_bytes')! > 0);
  assert.ok(valueOf(families, 'process_cpu_seconds_total')! > 0);
  for (const name of ['weir_heap_used_bytes', 'weir_event_loop_delay_p99_seconds', 'weir_event_loop_delay_max_seconds', 'process_start_time_seconds']) {
    assert.ok(valueOf(families, name)! >= 0, name);
  }
  assert.equal(families.has('weir_subscription_backlog_messages'), typeof (broker as Partial<QueueBrokerApi>).listSubscriptions === 'function');
});

test('metricsText: connections and Kafka request latency from real listeners', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'weir-metrics-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const broker = await Broker.open({ dataDir });
  t.after(() => broker.close());
  const kafka = new KafkaListener(broker, { host: '127.0.0.1', port: 0 });
  const native = new NativeListener(broker, { host: '127.0.0.1', port: 0 });
  const [kafkaPort, nativePort] = [(await kafka.start()).port, (await native.start()).port];
  t.after(() => Promise.all([kafka.close(), native.close()]));
  const scrape = (): Map<string, Family> => parseExposition(metricsText(withQueues(broker)));
  const apiVersionsBefore = valueOf(scrape(), 'weir_request_duration_seconds_count', { protocol: 'kafka', api: 'ApiVersions' }) ?? 0;

  const sockets: Socket[] = [connect(kafkaPort, '127.0.0.1'), connect(nativePort, '127.0.0.1')];
  t.after(() => sockets.forEach((socket) => socket.destroy()));
  // ApiVersions v0: size, api key 18, version 0, correlation id 7, null client id.
  const request = Buffer.from([0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 7, 0xff, 0xff]);
  const answered = new Promise((resolve) => sockets[0]!.once('data', resolve));
  sockets[0]!.write(request);
  await answered;
  await waitFor(() => valueOf(scrape(), 'weir_connections', { protocol: 'native' }) === 1, 2_000, 'the native connection is counted');
  const families = scrape();
  assert.equal(valueOf(families, 'weir_connections', { protocol: 'kafka' }), 1);
  assert.equal(valueOf(families, 'weir_request_duration_seconds_count', { protocol: 'kafka', api: 'ApiVersions' }), apiVersionsBefore + 1);
  sockets.forEach((socket) => socket.destroy());
  await waitFor(() => {
    const after = scrape();
    return valueOf(after, 'weir_connections', { protocol: 'kafka' }) === 0 && valueOf(after, 'weir_connections', { protocol: 'native' }) === 0;
  }, 2_000, 'closed connections are no longer counted');
});

test('metricsText: queue subscriptions come from listSubscriptions when the broker has it', () => {
  const subscription = { topic: 'jobs', name: 'workers\n"a"', backlogMessages: 4, backlogBytes: 400, inFlight: 2, scheduled: 1, consumers: 3 };
  const stub = {
    listTopics: () => [],
    listGroups: () => [],
    listSubscriptions: () => [{ ...subscription, oldestMessageAgeMs: 1500, redeliveriesTotal: 5, deadLettersTotal: 1, ackedTotal: 9 } as unknown as SubscriptionDescription],
  } as unknown as BrokerApi & QueueBrokerApi;
  const text = metricsText(stub);
  assert.match(text, /\nweir_subscription_backlog_messages\{topic="jobs",subscription="workers\\n\\"a\\""\} 4\n/);
  const families = parseExposition(text);
  const labels = { topic: 'jobs', subscription: 'workers\n"a"' };
  assert.equal(valueOf(families, 'weir_subscription_backlog_bytes', labels), 400);
  assert.equal(valueOf(families, 'weir_subscription_in_flight_messages', labels), 2);
  assert.equal(valueOf(families, 'weir_subscription_scheduled_messages', labels), 1);
  assert.equal(valueOf(families, 'weir_subscription_oldest_message_age_seconds', labels), 1.5);
  assert.equal(valueOf(families, 'weir_subscription_redeliveries_total', labels), 5);
  assert.equal(valueOf(families, 'weir_subscription_dead_letters_total', labels), 1);
  assert.equal(valueOf(families, 'weir_subscription_acked_total', labels), 9);
  const withoutQueues = parseExposition(metricsText({ listTopics: () => [], listGroups: () => [] } as unknown as BrokerApi & QueueBrokerApi));
  assert.ok(!withoutQueues.has('weir_subscription_backlog_messages'));
});

test('GET /metrics: a nacked message counts as redelivered once it is delivered again, not while it waits', async (t) => {
  const http = await startTestHttp();
  t.after(() => http.stop());
  await http.call('POST', '/v1/topics', { name: 'retried' });
  assert.equal((await http.call('PUT', '/v1/topics/retried/subscriptions/w')).status, 201);
  await http.call('POST', '/v1/topics/retried/messages', { messages: [{ value: 'job' }, { value: 'other' }] });
  const received = await http.call('GET', '/v1/topics/retried/messages?subscription=w&type=queue&waitMs=5000&max=2');
  assert.equal(received.body.messages.length, 2);
  const [job, other] = received.body.messages;
  const nacked = await http.call('POST', '/v1/topics/retried/subscriptions/w/nack', { receipts: [job.receipt], delayMs: 3_600_000 });
  assert.deepEqual(nacked.body.results, [null]);
  assert.deepEqual((await http.call('POST', '/v1/topics/retried/subscriptions/w/nack', { receipts: [other.receipt], delayMs: 0 })).body.results, [null]);
  const labels = { topic: 'retried', subscription: 'w' };
  const scrape = async () => parseExposition(await (await fetch(`${http.base}/metrics`)).text());
  // Nothing was delivered a second time yet: one waits an hour, the other for a receive.
  assert.equal(valueOf(await scrape(), 'weir_subscription_redeliveries_total', labels), 0);
  const again = await http.call('GET', '/v1/topics/retried/messages?subscription=w&type=queue&waitMs=5000');
  assert.deepEqual(again.body.messages.map((m: { value: string }) => m.value), ['other']);
  const families = await scrape();
  assert.equal(valueOf(families, 'weir_subscription_redeliveries_total', labels), 1);
  assert.equal(valueOf(families, 'weir_subscription_scheduled_messages', labels), 1);
});

test('GET /metrics past metricLabelSetsMax: scrape-time label sets left out are a gauge per scrape, not counted again at every scrape', async (t) => {
  const http = await startTestHttp();
  t.after(() => http.stop());
  await http.broker.createTopic('crowded', { partitions: 1 });
  const groupCount = metricLabelSetsMax + 3;
  for (let first = 0; first < groupCount; first += 500) {
    const commits = [];
    for (let i = first; i < Math.min(groupCount, first + 500); i++) {
      commits.push(http.broker.commitOffsets({ groupId: `g${i}` }, [{ topic: 'crowded', partition: 0, offset: 0n, metadata: null }]));
    }
    await Promise.all(commits);
  }
  const scrape = async (): Promise<Map<string, Family>> => parseExposition(await (await fetch(`${http.base}/metrics`)).text());
  for (let i = 0; i < 3; i++) {
    const families = await scrape();
    for (const metric of ['weir_group_members', 'weir_group_committed_offset', 'weir_group_lag_messages']) {
      assert.equal(families.get(metric)!.samples.length, metricLabelSetsMax, metric);
      // The process-wide counter would count the same three label sets again at each scrape (3, 6, 9).
      assert.equal(valueOf(families, 'weir_metrics_label_sets_dropped_total', { metric }), undefined, `scrape ${i + 1}: ${metric} in the process-wide counter`);
      assert.equal(valueOf(families, 'weir_metrics_scrape_label_sets_dropped', { metric }), 3, `scrape ${i + 1}: ${metric}`);
    }
    assert.equal(families.get('weir_metrics_scrape_label_sets_dropped')!.type, 'gauge');
    assert.equal(valueOf(families, 'weir_metrics_scrape_label_sets_dropped', { metric: 'weir_partition_log_end_offset' }), undefined, 'a metric that left nothing out has no series');
  }
});
