import assert from 'node:assert/strict';
import { test } from 'node:test';
import { metricLabelSetsMax, metrics, MetricsRegistry, observeRequest, renderMetrics, requestApisMax, trackConnection } from './metrics.js';

test('counters and gauges render HELP, TYPE and one line per label set, with escaping', () => {
  const registry = new MetricsRegistry();
  const sent = registry.counter({ name: 'demo_sent_total', help: 'Sent \\ things\nper line', labelNames: ['topic', 'partition'] });
  sent.series({ topic: 'a"b\\c\nd', partition: '0' }).inc(3);
  sent.series({ partition: '1', topic: 'plain' }).inc();
  registry.gauge({ name: 'demo_depth', help: 'Depth' }).series().set(-Infinity);
  assert.equal(
    renderMetrics([registry]),
    [
      '# HELP demo_sent_total Sent \\\\ things\\nper line',
      '# TYPE demo_sent_total counter',
      'demo_sent_total{topic="a\\"b\\\\c\\nd",partition="0"} 3',
      'demo_sent_total{topic="plain",partition="1"} 1',
      '# HELP demo_depth Depth',
      '# TYPE demo_depth gauge',
      'demo_depth -Inf',
      '',
    ].join('\n'),
  );
  assert.throws(() => sent.series({ topic: 'x' }), /takes labels topic, partition/);
  assert.throws(() => sent.series({ topic: 'x', partition: '0' }).inc(-1), /cannot go down/);
  assert.throws(() => registry.counter({ name: 'demo_sent', help: '' }), /must end in _total/);
  assert.throws(() => registry.gauge({ name: 'demo_depth', help: '' }), /registered twice/);
  assert.throws(() => registry.gauge({ name: 'bad-name', help: '' }), /metric name/);
  assert.throws(() => renderMetrics([registry, registry]), /in two registries/);
});

test('histogram buckets are cumulative, end in +Inf and come with _sum and _count', () => {
  const registry = new MetricsRegistry();
  const latency = registry.histogram({ name: 'demo_seconds', help: 'Latency', labelNames: ['api'], buckets: [0.1, 1] });
  const series = latency.series({ api: 'Fetch' });
  for (const value of [0.05, 0.1, 0.5, 2, 7]) series.observe(value);
  assert.equal(
    renderMetrics([registry]),
    [
      '# HELP demo_seconds Latency',
      '# TYPE demo_seconds histogram',
      'demo_seconds_bucket{api="Fetch",le="0.1"} 2',
      'demo_seconds_bucket{api="Fetch",le="1"} 3',
      'demo_seconds_bucket{api="Fetch",le="+Inf"} 5',
      'demo_seconds_sum{api="Fetch"} 9.65',
      'demo_seconds_count{api="Fetch"} 5',
      '',
    ].join('\n'),
  );
  const bare = registry.histogram({ name: 'demo_bare_seconds', help: 'x', buckets: [1] });
  bare.series().observe(1);
  assert.match(renderMetrics([registry]), /\ndemo_bare_seconds_bucket\{le="1"\} 1\ndemo_bare_seconds_bucket\{le="\+Inf"\} 1\ndemo_bare_seconds_sum 1\n/);
  assert.throws(() => registry.histogram({ name: 'demo_x_seconds', help: 'x', buckets: [1, 1] }), /must be finite and increase/);
  assert.throws(() => registry.histogram({ name: 'demo_y_seconds', help: 'x', labelNames: ['le'], buckets: [1] }), /label name le/);
});

test('a metric holds at most metricLabelSetsMax series; the rest are detached and counted', () => {
  const registry = new MetricsRegistry();
  const counter = registry.counter({ name: 'demo_many_total', help: 'x', labelNames: ['id'] });
  for (let i = 0; i < metricLabelSetsMax; i++) counter.series({ id: String(i) });
  const dropped = metrics.get('weir_metrics_label_sets_dropped_total')!;
  const before = renderMetrics([metrics]).match(/weir_metrics_label_sets_dropped_total\{metric="demo_many_total"\} (\d+)/)?.[1];
  assert.equal(before, undefined);
  const detached = counter.series({ id: 'one too many' });
  detached.inc(5);
  assert.equal(counter.seriesCount, metricLabelSetsMax);
  assert.doesNotMatch(renderMetrics([registry]), /one too many/);
  assert.match(renderMetrics([metrics]), /\nweir_metrics_label_sets_dropped_total\{metric="demo_many_total"\} 1\n/);
  assert.equal(dropped.type, 'counter');
  assert.ok(counter.remove({ id: '0' }));
  const held = counter.acquire({ id: 'held' });
  assert.equal(counter.acquire({ id: 'held' }), held, 'a second holder shares the series');
  counter.release({ id: 'held' });
  assert.match(renderMetrics([registry]), /id="held"/);
  counter.release({ id: 'held' });
  assert.doesNotMatch(renderMetrics([registry]), /id="held"/);
  counter.series({ id: 'fits again' });
  assert.equal(counter.seriesCount, metricLabelSetsMax);
});

test('observeRequest keeps one series per API up to requestApisMax, then counts under "other"', () => {
  observeRequest('native', 'Produce', 0.002);
  observeRequest('native', 'Produce', 0.004);
  let text = renderMetrics([metrics]);
  assert.match(text, /\nweir_request_duration_seconds_count\{protocol="native",api="Produce"\} 2\n/);
  assert.match(text, /\nweir_request_duration_seconds_bucket\{protocol="native",api="Produce",le="0.0025"\} 1\n/);
  for (let i = 0; i < requestApisMax + 5; i++) observeRequest('http', `route ${i}`, 0.001);
  text = renderMetrics([metrics]);
  assert.match(text, /\nweir_request_duration_seconds_count\{protocol="http",api="other"\} 5\n/);
  assert.doesNotMatch(text, new RegExp(`api="route ${requestApisMax}"`));
});

test('trackConnection counts open connections; closing twice counts once', () => {
  const gaugeLine = (): string | undefined => renderMetrics([metrics]).match(/\nweir_connections\{protocol="kafka"\} (\S+)\n/)?.[1];
  assert.equal(gaugeLine(), '0');
  const closeFirst = trackConnection('kafka');
  const closeSecond = trackConnection('kafka');
  assert.equal(gaugeLine(), '2');
  closeFirst();
  closeFirst();
  assert.equal(gaugeLine(), '1');
  closeSecond();
  assert.equal(gaugeLine(), '0');
});
