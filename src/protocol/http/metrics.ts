/**
 * GET /metrics: the Prometheus text exposition (format 0.0.4) of the process-wide registry
 * (storage, request and connection metrics kept as they happen) plus values read from the broker
 * at scrape time: partition offsets and sizes, consumer-group offsets and lag, queue subscription
 * backlogs, and process figures. docs/metrics.md describes every metric.
 *
 * The scrape-time part is built in a fresh registry per scrape, so a deleted topic, group or
 * subscription disappears from the next scrape. Every metric there is bounded by
 * `metricLabelSetsMax` series like any other; the label sets past the bound are left out of the
 * scrape and counted by the gauge `weir_metrics_scrape_label_sets_dropped{metric}` (ScrapeSeries),
 * not by the process-wide counter `weir_metrics_label_sets_dropped_total`: the series are built
 * anew at every scrape, so that counter would count the same label sets again at each one.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { BrokerApi, GroupDescription, QueueBrokerApi } from '../../broker/types.js';
import { metricLabelSetsMax, metrics, MetricsRegistry, renderMetrics, type Labels } from '../../util/metrics.js';

export { metricsContentType } from '../../util/metrics.js';

/** Sampling interval of the event-loop delay monitor; subtracted from its readings. */
export const eventLoopResolutionMs = 10;

/** The whole exposition for one scrape. */
export function metricsText(broker: BrokerApi & QueueBrokerApi): string {
  const scrape = new MetricsRegistry();
  const series = new ScrapeSeries();
  addPartitions(scrape, series, broker);
  addGroups(scrape, series, broker);
  addSubscriptions(scrape, series, broker);
  addProcess(scrape);
  series.addDropped(scrape);
  return renderMetrics([metrics, scrape]);
}

/** A scrape-time metric: a fresh one per scrape, so every series it is asked for is a new label set. */
interface ScrapeMetric<S> {
  readonly name: string;
  readonly seriesCount: number;
  series(labels: Labels): S;
}

/**
 * Hands out the scrape-time series up to `metricLabelSetsMax` per metric and counts the label sets
 * past it, which this scrape leaves out.
 */
class ScrapeSeries {
  /** Metric name → label sets left out (one entry per scrape-time metric at most: bounded). */
  readonly #dropped = new Map<string, number>();

  /** The series for `labels`, or null when the metric is full (the label set is left out). */
  of<S>(metric: ScrapeMetric<S>, labels: Labels): S | null {
    if (metric.seriesCount < metricLabelSetsMax) return metric.series(labels);
    this.#dropped.set(metric.name, (this.#dropped.get(metric.name) ?? 0) + 1);
    return null;
  }

  addDropped(registry: MetricsRegistry): void {
    const help = `Label sets this scrape left out because their metric already held ${metricLabelSetsMax}`;
    const dropped = registry.gauge({ name: 'weir_metrics_scrape_label_sets_dropped', help, labelNames: ['metric'] });
    for (const [metric, count] of this.#dropped) dropped.series({ metric }).set(count);
  }
}

function addPartitions(registry: MetricsRegistry, series: ScrapeSeries, broker: BrokerApi): void {
  const labelNames = ['topic', 'partition'];
  const start = registry.gauge({ name: 'weir_partition_log_start_offset', help: 'First offset still in the partition log', labelNames });
  const end = registry.gauge({ name: 'weir_partition_log_end_offset', help: 'Offset the next appended record gets', labelNames });
  const watermark = registry.gauge({ name: 'weir_partition_high_watermark', help: 'End of what consumers may read (durable data)', labelNames });
  const size = registry.gauge({ name: 'weir_partition_size_bytes', help: 'Bytes of all segments of the partition log', labelNames });
  for (const topic of broker.listTopics({ includeInternal: true })) {
    for (const state of topic.partitions) {
      const labels = { topic: topic.name, partition: String(state.partition) };
      series.of(start, labels)?.set(Number(state.offsetStart));
      series.of(end, labels)?.set(Number(state.offsetEnd));
      series.of(watermark, labels)?.set(Number(state.highWatermark));
      series.of(size, labels)?.set(state.sizeBytes);
    }
  }
}

function addGroups(registry: MetricsRegistry, series: ScrapeSeries, broker: BrokerApi): void {
  const labelNames = ['group', 'topic', 'partition'];
  const members = registry.gauge({ name: 'weir_group_members', help: 'Members of the consumer group', labelNames: ['group'] });
  const committed = registry.gauge({ name: 'weir_group_committed_offset', help: 'Offset the consumer group committed for the partition', labelNames });
  const lag = registry.gauge({ name: 'weir_group_lag_messages', help: 'High watermark minus the committed offset', labelNames });
  for (const { groupId } of broker.listGroups()) {
    let group: GroupDescription;
    try {
      group = broker.describeGroup(groupId);
    } catch {
      continue; // gone since it was listed, or stored under an id no longer valid: one group never fails the scrape
    }
    series.of(members, { group: groupId })?.set(group.members.length);
    for (const entry of group.offsets) {
      if (entry.offset < 0n) continue; // nothing committed for this partition
      const labels = { group: groupId, topic: entry.topic, partition: String(entry.partition) };
      series.of(committed, labels)?.set(Number(entry.offset));
      series.of(lag, labels)?.set(Number(entry.lag));
    }
  }
}

function addSubscriptions(registry: MetricsRegistry, series: ScrapeSeries, broker: Partial<QueueBrokerApi>): void {
  // The queue core may be absent (an older broker, a stub in tests): then there is nothing to show.
  if (typeof broker.listSubscriptions !== 'function') return;
  const labelNames = ['topic', 'subscription'];
  const gauge = (name: string, help: string) => registry.gauge({ name: `weir_subscription_${name}`, help, labelNames });
  const counter = (name: string, help: string) => registry.counter({ name: `weir_subscription_${name}`, help, labelNames });
  const backlogMessages = gauge('backlog_messages', 'Messages not yet settled (available, scheduled, in flight)');
  const backlogBytes = gauge('backlog_bytes', 'Bytes of the messages not yet settled');
  const inFlight = gauge('in_flight_messages', 'Messages leased to a consumer and not yet settled');
  const scheduled = gauge('scheduled_messages', 'Messages waiting for a delivery time or a redelivery backoff');
  const consumers = gauge('consumers', 'Consumers attached to the subscription');
  const oldestAge = gauge('oldest_message_age_seconds', 'Age of the oldest unsettled message (0 when the backlog is empty)');
  const redeliveries = counter('redeliveries_total', 'Deliveries of messages delivered before (after a nack, an expired lease or a consumer that closed holding them)');
  const deadLetters = counter('dead_letters_total', 'Messages moved to the dead-letter topic');
  const acked = counter('acked_total', 'Messages acknowledged');
  for (const subscription of broker.listSubscriptions()) {
    const labels = { topic: subscription.topic, subscription: subscription.name };
    series.of(backlogMessages, labels)?.set(subscription.backlogMessages);
    series.of(backlogBytes, labels)?.set(subscription.backlogBytes);
    series.of(inFlight, labels)?.set(subscription.inFlight);
    series.of(scheduled, labels)?.set(subscription.scheduled);
    series.of(consumers, labels)?.set(subscription.consumers);
    series.of(oldestAge, labels)?.set((subscription.oldestMessageAgeMs ?? 0) / 1000);
    series.of(redeliveries, labels)?.inc(subscription.redeliveriesTotal);
    series.of(deadLetters, labels)?.inc(subscription.deadLettersTotal);
    series.of(acked, labels)?.inc(subscription.ackedTotal);
  }
}

let eventLoopDelay: IntervalHistogram | null = null;

/** Starts sampling the event-loop delay (the first scrape does it otherwise); idempotent. */
export function startProcessMetrics(): void {
  if (eventLoopDelay !== null) return;
  const histogram = monitorEventLoopDelay({ resolution: eventLoopResolutionMs });
  histogram.enable();
  eventLoopDelay = histogram;
}

function addProcess(registry: MetricsRegistry): void {
  const gauge = (name: string, help: string) => registry.gauge({ name, help }).series();
  const memory = process.memoryUsage();
  const cpu = process.cpuUsage();
  const uptimeSeconds = process.uptime();
  gauge('process_resident_memory_bytes', 'Resident set size of the broker process').set(memory.rss);
  gauge('weir_heap_used_bytes', 'V8 heap in use').set(memory.heapUsed);
  registry.counter({ name: 'process_cpu_seconds_total', help: 'User and system CPU time of the broker process' }).series().inc((cpu.user + cpu.system) / 1e6);
  gauge('process_start_time_seconds', 'Start of the broker process, seconds since the epoch').set(Math.round(Date.now() / 1000 - uptimeSeconds));
  gauge('weir_uptime_seconds', 'Seconds since the broker process started').set(uptimeSeconds);
  startProcessMetrics();
  const histogram = eventLoopDelay!;
  const delaySeconds = (nanoseconds: number): number => (histogram.count === 0 ? 0 : Math.max(0, nanoseconds - eventLoopResolutionMs * 1e6) / 1e9);
  const window = 'since the previous scrape';
  gauge('weir_event_loop_delay_p50_seconds', `Median event-loop delay ${window}`).set(delaySeconds(histogram.percentile(50)));
  gauge('weir_event_loop_delay_p99_seconds', `99th percentile of the event-loop delay ${window}`).set(delaySeconds(histogram.percentile(99)));
  gauge('weir_event_loop_delay_max_seconds', `Longest event-loop delay ${window}`).set(delaySeconds(histogram.max));
  histogram.reset();
}
