/**
 * A small metrics registry rendered in the Prometheus text exposition format 0.0.4 (docs/metrics.md
 * lists every metric Weir exposes).
 *
 * A metric (counter, gauge, histogram) has a fixed set of label names; each set of label values
 * is one *series*, an object the instrumented code keeps and bumps directly, so the hot path is a
 * field increment: no lookup, no allocation. Histograms have fixed bucket bounds and count each
 * observation in one bucket; the exposition makes the buckets cumulative and adds `+Inf`, `_sum`
 * and `_count`.
 *
 * Bound: a metric holds at most `metricLabelSetsMax` series. Past it, `series()` hands out a
 * detached series (counted, never rendered) and `weir_metrics_label_sets_dropped_total` records
 * which metric shed it, so a label taken from user input cannot grow memory or the scrape without
 * limit.
 *
 * `metrics` is the process-wide registry (storage and protocol instrumentation); a scrape may build
 * a short-lived registry for values read at scrape time and render both with `renderMetrics`.
 */
import assert from 'node:assert/strict';

/** Most label sets (series) one metric holds. */
export const metricLabelSetsMax = 10_000;
/** The content type of the exposition format, for the HTTP answer to GET /metrics. */
export const metricsContentType = 'text/plain; version=0.0.4; charset=utf-8';

export type MetricType = 'counter' | 'gauge' | 'histogram';
export type Labels = Readonly<Record<string, string>>;

export interface MetricOptions {
  name: string;
  help: string;
  labelNames?: readonly string[];
}

export interface HistogramOptions extends MetricOptions {
  /** Upper bounds (inclusive) of the buckets, strictly increasing; `+Inf` is implied. */
  buckets: readonly number[];
}

const metricNamePattern = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const labelNamePattern = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export class CounterSeries {
  value = 0;

  inc(amount = 1): void {
    if (!(amount >= 0)) throw new RangeError(`a counter cannot go down (inc by ${amount})`);
    this.value += amount;
  }
}

export class GaugeSeries {
  value = 0;

  set(value: number): void {
    this.value = value;
  }

  inc(amount = 1): void {
    this.value += amount;
  }

  dec(amount = 1): void {
    this.value -= amount;
  }
}

export class HistogramSeries {
  readonly bounds: readonly number[];
  /** Observations per bucket (not cumulative); the last entry is the `+Inf` bucket. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(bounds: readonly number[]) {
    this.bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let index = 0;
    while (index < bounds.length && value > bounds[index]!) index++;
    this.counts[index]!++;
    this.sum += value;
    this.count++;
  }
}

type AnySeries = CounterSeries | GaugeSeries | HistogramSeries;

abstract class Metric<S extends AnySeries> {
  abstract readonly type: MetricType;
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly #series = new Map<string, { values: readonly string[]; series: S; holders: number }>();

  constructor(options: MetricOptions) {
    assert.match(options.name, metricNamePattern, `metric name ${options.name}`);
    const labelNames = options.labelNames ?? [];
    for (const label of labelNames) {
      assert.ok(labelNamePattern.test(label) && !label.startsWith('__') && label !== 'le', `label name ${label} of ${options.name}`);
    }
    assert.equal(new Set(labelNames).size, labelNames.length, `label names of ${options.name} repeat`);
    this.name = options.name;
    this.help = options.help;
    this.labelNames = labelNames;
  }

  protected abstract create(): S;

  /** The series for these label values (exactly the metric's label names), created on first use. */
  series(labels: Labels = {}): S {
    return this.#entry(labels, 0);
  }

  /** Like `series`, and counts a holder: the series is forgotten when the last holder `release`s it. */
  acquire(labels: Labels = {}): S {
    return this.#entry(labels, 1);
  }

  release(labels: Labels = {}): void {
    const key = JSON.stringify(this.#valuesOf(labels));
    const entry = this.#series.get(key);
    if (entry === undefined) return;
    entry.holders--;
    if (entry.holders <= 0) this.#series.delete(key);
  }

  /** Forgets one series (a deleted topic's, a closed partition's). */
  remove(labels: Labels = {}): boolean {
    return this.#series.delete(JSON.stringify(this.#valuesOf(labels)));
  }

  #entry(labels: Labels, holders: number): S {
    const values = this.#valuesOf(labels);
    const key = JSON.stringify(values);
    const found = this.#series.get(key);
    if (found !== undefined) {
      found.holders += holders;
      return found.series;
    }
    const series = this.create();
    if (this.#series.size >= metricLabelSetsMax) {
      noteDroppedLabelSet(this);
      return series;
    }
    this.#series.set(key, { values, series, holders });
    return series;
  }

  get seriesCount(): number {
    return this.#series.size;
  }

  #valuesOf(labels: Labels): string[] {
    const names = Object.keys(labels);
    assert.equal(names.length, this.labelNames.length, `${this.name} takes labels ${this.labelNames.join(', ')}; got ${names.join(', ')}`);
    return this.labelNames.map((name) => {
      const value = labels[name];
      assert.equal(typeof value, 'string', `${this.name}: label ${name} must be a string`);
      return value!;
    });
  }

  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`);
    for (const { values, series } of this.#series.values()) this.renderSeries(out, labelText(this.labelNames, values), series);
  }

  /** `labels` is the rendered `name="value",…` list without braces (empty for no labels). */
  protected abstract renderSeries(out: string[], labels: string, series: S): void;
}

export class Counter extends Metric<CounterSeries> {
  readonly type = 'counter';

  constructor(options: MetricOptions) {
    super(options);
    assert.ok(options.name.endsWith('_total'), `counter ${options.name} must end in _total`);
  }

  protected create(): CounterSeries {
    return new CounterSeries();
  }

  protected renderSeries(out: string[], labels: string, series: CounterSeries): void {
    out.push(`${this.name}${braced(labels)} ${formatValue(series.value)}`);
  }
}

export class Gauge extends Metric<GaugeSeries> {
  readonly type = 'gauge';

  protected create(): GaugeSeries {
    return new GaugeSeries();
  }

  protected renderSeries(out: string[], labels: string, series: GaugeSeries): void {
    out.push(`${this.name}${braced(labels)} ${formatValue(series.value)}`);
  }
}

export class Histogram extends Metric<HistogramSeries> {
  readonly type = 'histogram';
  readonly buckets: readonly number[];
  readonly #bucketLabels: readonly string[];

  constructor(options: HistogramOptions) {
    super(options);
    assert.ok(options.buckets.length > 0, `histogram ${options.name} needs buckets`);
    for (let i = 0; i < options.buckets.length; i++) {
      assert.ok(Number.isFinite(options.buckets[i]) && (i === 0 || options.buckets[i]! > options.buckets[i - 1]!), `buckets of ${options.name} must be finite and increase`);
    }
    this.buckets = [...options.buckets];
    this.#bucketLabels = [...this.buckets.map(formatValue), '+Inf'];
  }

  protected create(): HistogramSeries {
    return new HistogramSeries(this.buckets);
  }

  protected renderSeries(out: string[], labels: string, series: HistogramSeries): void {
    const prefix = labels === '' ? '' : `${labels},`;
    let cumulative = 0;
    for (let i = 0; i < series.counts.length; i++) {
      cumulative += series.counts[i]!;
      out.push(`${this.name}_bucket{${prefix}le="${this.#bucketLabels[i]}"} ${formatValue(cumulative)}`);
    }
    out.push(`${this.name}_sum${braced(labels)} ${formatValue(series.sum)}`, `${this.name}_count${braced(labels)} ${formatValue(series.count)}`);
  }
}

export type AnyMetric = Counter | Gauge | Histogram;

export class MetricsRegistry {
  readonly #metrics = new Map<string, AnyMetric>();

  counter(options: MetricOptions): Counter {
    return this.#add(new Counter(options));
  }

  gauge(options: MetricOptions): Gauge {
    return this.#add(new Gauge(options));
  }

  histogram(options: HistogramOptions): Histogram {
    return this.#add(new Histogram(options));
  }

  get(name: string): AnyMetric | undefined {
    return this.#metrics.get(name);
  }

  get names(): string[] {
    return [...this.#metrics.keys()];
  }

  #add<M extends AnyMetric>(metric: M): M {
    assert.ok(!this.#metrics.has(metric.name), `metric ${metric.name} is registered twice`);
    this.#metrics.set(metric.name, metric);
    return metric;
  }

  render(out: string[] = []): string[] {
    for (const metric of this.#metrics.values()) metric.render(out);
    return out;
  }
}

/** The exposition of several registries, one document; a metric name may appear in only one. */
export function renderMetrics(registries: readonly MetricsRegistry[]): string {
  const seen = new Set<string>();
  for (const registry of registries) {
    for (const name of registry.names) {
      assert.ok(!seen.has(name), `metric ${name} is in two registries`);
      seen.add(name);
    }
  }
  const out: string[] = [];
  for (const registry of registries) registry.render(out);
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}

// ---- text format helpers

export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/** HELP text: backslash and line feed are escaped. */
export function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** Label values: backslash, double quote and line feed are escaped. */
export function escapeLabelValue(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labelText(names: readonly string[], values: readonly string[]): string {
  let text = '';
  for (let i = 0; i < names.length; i++) text += `${i === 0 ? '' : ','}${names[i]}="${escapeLabelValue(values[i]!)}"`;
  return text;
}

function braced(labels: string): string {
  return labels === '' ? '' : `{${labels}}`;
}

// ---- the process-wide registry and the metrics every protocol front end shares

export const metrics = new MetricsRegistry();

const labelSetsDropped = metrics.counter({
  name: 'weir_metrics_label_sets_dropped_total',
  help: `Series not created because their metric already held ${metricLabelSetsMax} label sets`,
  labelNames: ['metric'],
});

function noteDroppedLabelSet(metric: Metric<AnySeries>): void {
  if ((metric as unknown) === labelSetsDropped) return;
  labelSetsDropped.series({ metric: metric.name }).inc();
}

export type RequestProtocol = 'native' | 'kafka' | 'http';

/** Bounds of the request latency histogram, seconds (a long-polling fetch may take its whole wait). */
export const requestDurationBucketsSeconds = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
] as const;
/** Distinct `api` names per protocol; further names are counted under `api="other"`. */
export const requestApisMax = 100;

const requestDuration = metrics.histogram({
  name: 'weir_request_duration_seconds',
  help: 'Time from a request being decoded to its answer being ready, by protocol and API',
  labelNames: ['protocol', 'api'],
  buckets: requestDurationBucketsSeconds,
});
const requestSeries: Record<RequestProtocol, Map<string, HistogramSeries>> = { native: new Map(), kafka: new Map(), http: new Map() };

/**
 * Records one request's latency. `api` must come from a fixed set (an operation or route name such
 * as `Produce` or `POST /v1/topics/{topic}/messages`), never from user input such as a raw path.
 */
export function observeRequest(protocol: RequestProtocol, api: string, seconds: number): void {
  const byApi = requestSeries[protocol];
  let series = byApi.get(api);
  if (series === undefined) {
    const name = byApi.size < requestApisMax ? api : 'other';
    series = byApi.get(name) ?? requestDuration.series({ protocol, api: name });
    byApi.set(name, series);
  }
  series.observe(seconds);
}

const connections = metrics.gauge({ name: 'weir_connections', help: 'Client connections open now, by protocol', labelNames: ['protocol'] });
const connectionSeries: Record<RequestProtocol, GaugeSeries> = {
  native: connections.series({ protocol: 'native' }),
  kafka: connections.series({ protocol: 'kafka' }),
  http: connections.series({ protocol: 'http' }),
};

/** Counts a connection as open; call the returned function (any number of times) when it closes. */
export function trackConnection(protocol: RequestProtocol): () => void {
  const series = connectionSeries[protocol];
  series.inc();
  let open = true;
  return () => {
    if (!open) return;
    open = false;
    series.dec();
  };
}

const idleConnectionsClosed = metrics.counter({
  name: 'weir_connections_idle_closed_total',
  help: 'Client connections the broker closed because they were idle past the limit, by protocol',
  labelNames: ['protocol'],
});
/** The native and Kafka listeners close idle connections; their series exist from the start so that they read 0, not absent. */
const idleClosedSeries: Record<'native' | 'kafka', CounterSeries> = {
  native: idleConnectionsClosed.series({ protocol: 'native' }),
  kafka: idleConnectionsClosed.series({ protocol: 'kafka' }),
};

/** Counts a connection closed for being idle past its listener's limit. */
export function countIdleConnectionClosed(protocol: 'native' | 'kafka'): void {
  idleClosedSeries[protocol].inc();
}
