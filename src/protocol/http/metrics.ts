/**
 * GET /metrics: the Prometheus text exposition (format 0.0.4) of the process-wide registry
 * (storage, request and connection metrics kept as they happen) plus values read from the broker
 * at scrape time: partition offsets and sizes, consumer-group offsets and lag, queue subscription
 * backlogs, and process figures. docs/metrics.md describes every metric.
 *
 * The scrape-time part is built in a fresh registry per scrape, so a deleted topic, group or
 * subscription disappears from the next scrape; every metric there is bounded by
 * `metricLabelSetsMax` series like any other.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { BrokerApi, GroupDescription, QueueBrokerApi } from '../../broker/types.js';
import { metrics, MetricsRegistry, renderMetrics } from '../../util/metrics.js';

export { metricsContentType } from '../../util/metrics.js';

/** Sampling interval of the event-loop delay monitor; subtracted from its readings. */
export const eventLoopResolutionMs = 10;

/** The whole exposition for one scrape. */
export function metricsText(broker: BrokerApi & QueueBrokerApi): string {
  const scrape = new MetricsRegistry();
  addPartitions(scrape, broker);
  addGroups(scrape, broker);
  addSubscriptions(scrape, broker);
  addProcess(scrape);
  return renderMetrics([metrics, scrape]);
}

function addPartitions(registry: MetricsRegistry, broker: BrokerApi): void {
  const labelNames = ['topic', 'partition'];
  const start = registry.gauge({ name: 'weir_partition_log_start_offset', help: 'First offset still in the partition log', labelNames });
  const end = registry.gauge({ name: 'weir_partition_log_end_offset', help: 'Offset the next appended record gets', labelNames });
  const watermark = registry.gauge({ name: 'weir_partition_high_watermark', help: 'End of what consumers may read (durable data)', labelNames });
  const size = registry.gauge({ name: 'weir_partition_size_bytes', help: 'Bytes of all segments of the partition log', labelNames });
  for (const topic of broker.listTopics({ includeInternal: true })) {
    for (const state of topic.partitions) {
      const labels = { topic: topic.name, partition: String(state.partition) };
      start.series(labels).set(Number(state.offsetStart));
      end.series(labels).set(Number(state.offsetEnd));
      watermark.series(labels).set(Number(state.highWatermark));
      size.series(labels).set(state.sizeBytes);
    }
  }
}

function addGroups(registry: MetricsRegistry, broker: BrokerApi): void {
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
    members.series({ group: groupId }).set(group.members.length);
    for (const entry of group.offsets) {
      if (entry.offset < 0n) continue; // nothing committed for this partition
      const labels = { group: groupId, topic: entry.topic, partition: String(entry.partition) };
      committed.series(labels).set(Number(entry.offset));
      lag.series(labels).set(Number(entry.lag));
    }
  }
}

function addSubscriptions(registry: MetricsRegistry, broker: Partial<QueueBrokerApi>): void {
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
  const redeliveries = counter('redeliveries_total', 'Messages delivered again after a nack or an expired lease');
  const deadLetters = counter('dead_letters_total', 'Messages moved to the dead-letter topic');
  const acked = counter('acked_total', 'Messages acknowledged');
  for (const subscription of broker.listSubscriptions()) {
    const labels = { topic: subscription.topic, subscription: subscription.name };
    backlogMessages.series(labels).set(subscription.backlogMessages);
    backlogBytes.series(labels).set(subscription.backlogBytes);
    inFlight.series(labels).set(subscription.inFlight);
    scheduled.series(labels).set(subscription.scheduled);
    consumers.series(labels).set(subscription.consumers);
    oldestAge.series(labels).set((subscription.oldestMessageAgeMs ?? 0) / 1000);
    redeliveries.series(labels).inc(subscription.redeliveriesTotal);
    deadLetters.series(labels).inc(subscription.deadLettersTotal);
    acked.series(labels).inc(subscription.ackedTotal);
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
