/**
 * The Topics page's *Edit…* form as data: a topic's settings as the text its inputs start with,
 * and the alteration a submitted form asks for. Only the fields whose text differs from what the
 * form opened with are sent, so a field the user left alone is never written back (nor rounded
 * through a unit conversion), and a change made meanwhile by someone else is kept.
 *
 * Units are the *New topic* form's: times in hours, sizes per partition in MiB; the largest message
 * in KiB; a segment's size in MiB and its age in hours; how far a message's timestamp may be ahead
 * of or behind the broker's clock in hours. An empty optional field means no limit (null to the
 * broker).
 */
import type { Topic, TopicConfig } from './api.js';

export const flushKinds = ['always', 'interval', 'none'] as const;

/** Each field as the string its input holds (`FormData` gives the same). */
export interface TopicFields {
  partitions: string;
  retentionHours: string;
  retentionMebibytes: string;
  flush: string;
  flushIntervalMs: string;
  messageTtlHours: string;
  messageKibibytesMax: string;
  segmentMebibytesMax: string;
  segmentAgeHoursMax: string;
  timestampAheadHoursMax: string;
  timestampBehindHoursMax: string;
}

const hourMs = 3_600_000;
const mebibyteBytes = 1024 * 1024;
const kibibyteBytes = 1024;

export function topicFields(topic: Topic): TopicFields {
  const { config } = topic;
  const policy = (config.flush ?? {}) as { kind?: unknown; intervalMs?: unknown };
  return {
    partitions: String(topic.partitions.length),
    retentionHours: optionalText(config.retentionMs, hourMs),
    retentionMebibytes: optionalText(config.retentionBytes, mebibyteBytes),
    flush: String(policy.kind ?? ''),
    flushIntervalMs: policy.kind === 'interval' ? String(policy.intervalMs) : '',
    messageTtlHours: optionalText(config.messageTtlMs ?? null, hourMs),
    messageKibibytesMax: String(config.messageBytesMax / kibibyteBytes),
    segmentMebibytesMax: String(config.segmentBytesMax / mebibyteBytes),
    segmentAgeHoursMax: String(config.segmentAgeMsMax / hourMs),
    timestampAheadHoursMax: optionalText(config.timestampAheadMsMax, hourMs),
    timestampBehindHoursMax: optionalText(config.timestampBehindMsMax, hourMs),
  };
}

/** The body of `PATCH /v1/topics/{topic}`: the changed fields in the broker's units; `{}` when none changed. */
export function topicChanges(opened: TopicFields, submitted: TopicFields): Partial<TopicConfig> {
  const changed = (name: keyof TopicFields) => submitted[name] !== opened[name];
  const changes: Partial<TopicConfig> = {};
  if (changed('partitions')) changes.partitions = Number(submitted.partitions);
  if (changed('retentionHours')) changes.retentionMs = optionalValue(submitted.retentionHours, hourMs);
  if (changed('retentionMebibytes')) changes.retentionBytes = optionalValue(submitted.retentionMebibytes, mebibyteBytes);
  if (changed('flush') || (submitted.flush === 'interval' && changed('flushIntervalMs'))) {
    changes.flush = submitted.flush === 'interval' ? `interval:${submitted.flushIntervalMs}` : submitted.flush;
  }
  if (changed('messageTtlHours')) changes.messageTtlMs = optionalValue(submitted.messageTtlHours, hourMs);
  if (changed('messageKibibytesMax')) changes.messageBytesMax = Math.round(Number(submitted.messageKibibytesMax) * kibibyteBytes);
  if (changed('segmentMebibytesMax')) changes.segmentBytesMax = Math.round(Number(submitted.segmentMebibytesMax) * mebibyteBytes);
  if (changed('segmentAgeHoursMax')) changes.segmentAgeMsMax = Math.round(Number(submitted.segmentAgeHoursMax) * hourMs);
  if (changed('timestampAheadHoursMax')) changes.timestampAheadMsMax = optionalValue(submitted.timestampAheadHoursMax, hourMs);
  if (changed('timestampBehindHoursMax')) changes.timestampBehindMsMax = optionalValue(submitted.timestampBehindHoursMax, hourMs);
  return changes;
}

export function topicFieldsOf(form: FormData): TopicFields {
  const text = (name: keyof TopicFields) => String(form.get(name) ?? '').trim();
  return {
    partitions: text('partitions'),
    retentionHours: text('retentionHours'),
    retentionMebibytes: text('retentionMebibytes'),
    flush: text('flush'),
    flushIntervalMs: text('flushIntervalMs'),
    messageTtlHours: text('messageTtlHours'),
    messageKibibytesMax: text('messageKibibytesMax'),
    segmentMebibytesMax: text('segmentMebibytesMax'),
    segmentAgeHoursMax: text('segmentAgeHoursMax'),
    timestampAheadHoursMax: text('timestampAheadHoursMax'),
    timestampBehindHoursMax: text('timestampBehindHoursMax'),
  };
}

function optionalText(value: number | null, unit: number): string {
  return value === null ? '' : String(value / unit);
}

function optionalValue(text: string, unit: number): number | null {
  return text === '' ? null : Math.round(Number(text) * unit);
}
