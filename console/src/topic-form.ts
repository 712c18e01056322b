/**
 * The Topics page's forms as data. *Edit…*: a topic's settings as the text its inputs start with,
 * and the alteration a submitted form asks for. Only the fields whose text differs from what the
 * form opened with are sent, so a field the user left alone is never written back (nor rounded
 * through a unit conversion), and a change made meanwhile by someone else is kept. *New topic*:
 * the configuration a submitted form asks for.
 *
 * Units are the same in both: times in hours, sizes per partition in MiB; the largest message
 * in KiB; a segment's size in MiB and its age in hours; how far a message's timestamp may be ahead
 * of or behind the broker's clock in hours. In *Edit…* an empty optional field means no limit
 * (null to the broker). In *New topic* an empty field takes the broker's default, so each
 * limit (retention by time and by size, the two timestamp bounds) has a "no limit" box that asks
 * for none.
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

/** The *New topic* form's optional settings as its inputs hold them; a ticked "no limit" box is `true`. */
export interface NewTopicFields {
  retentionHours: string;
  retentionNone: boolean;
  retentionMebibytes: string;
  retentionBytesNone: boolean;
  timestampAheadHoursMax: string;
  timestampAheadNone: boolean;
  timestampBehindHoursMax: string;
  timestampBehindNone: boolean;
}

/**
 * The `config` of `POST /v1/topics` in the broker's units: an empty field is left out, so the
 * broker's default applies; a setting whose "no limit" box is ticked is null, whatever its field
 * holds.
 */
export function newTopicConfig(fields: NewTopicFields): Partial<TopicConfig> {
  const config: Partial<TopicConfig> = {};
  const retentionMs = newLimit(fields.retentionHours, fields.retentionNone, hourMs);
  if (retentionMs !== undefined) config.retentionMs = retentionMs;
  const retentionBytes = newLimit(fields.retentionMebibytes, fields.retentionBytesNone, mebibyteBytes);
  if (retentionBytes !== undefined) config.retentionBytes = retentionBytes;
  const ahead = newLimit(fields.timestampAheadHoursMax, fields.timestampAheadNone, hourMs);
  if (ahead !== undefined) config.timestampAheadMsMax = ahead;
  const behind = newLimit(fields.timestampBehindHoursMax, fields.timestampBehindNone, hourMs);
  if (behind !== undefined) config.timestampBehindMsMax = behind;
  return config;
}

export function newTopicFieldsOf(form: FormData): NewTopicFields {
  const text = (name: string) => String(form.get(name) ?? '').trim();
  return {
    retentionHours: text('retentionHours'),
    retentionNone: form.has('retentionNone'),
    retentionMebibytes: text('retentionMebibytes'),
    retentionBytesNone: form.has('retentionBytesNone'),
    timestampAheadHoursMax: text('timestampAheadHoursMax'),
    timestampAheadNone: form.has('timestampAheadNone'),
    timestampBehindHoursMax: text('timestampBehindHoursMax'),
    timestampBehindNone: form.has('timestampBehindNone'),
  };
}

/** A limit in the broker's unit (`unit` per unit of the field): null for none, undefined for the broker's default. */
function newLimit(text: string, none: boolean, unit: number): number | null | undefined {
  if (none) return null;
  return text === '' ? undefined : Math.round(Number(text) * unit);
}

function optionalText(value: number | null, unit: number): string {
  return value === null ? '' : String(value / unit);
}

function optionalValue(text: string, unit: number): number | null {
  return text === '' ? null : Math.round(Number(text) * unit);
}
