/**
 * Kafka's topic config names mapped onto Weir's TopicConfig — the one table CreateTopics,
 * DescribeConfigs, AlterConfigs and IncrementalAlterConfigs share.
 *
 * Values travel as decimal text. For retention.ms and retention.bytes, -1 means "no bound"
 * (null in TopicConfig), as in Kafka; for message.timestamp.after.max.ms and
 * message.timestamp.before.max.ms, Kafka's Long.MAX_VALUE (and -1) does. A 64-bit value past 2^53
 * means no bound for those four, and 2^53 - 1 for segment.ms (LONG configs hold up to
 * Long.MAX_VALUE; Weir keeps numbers). A null value is refused. TopicConfig fields without a
 * Kafka name (partitions, flush, messageTtlMs) are never described or changed through these APIs.
 */
import { topicConfigDefaults } from '../../../broker/topic-config.js';
import type { TopicConfig } from '../../../broker/types.js';
import { WeirError } from '../../../util/errors.js';
import { configSources, configTypes } from '../wire/config-resources.js';

/** The TopicConfig fields that have a Kafka name: all integers, the retention ones nullable. */
type MappedField = 'retentionMs' | 'retentionBytes' | 'messageBytesMax' | 'segmentBytesMax' | 'segmentAgeMsMax' | 'timestampAheadMsMax' | 'timestampBehindMsMax';

interface TopicConfigName {
  readonly field: MappedField;
  /** Kafka's type for the value (DescribeConfigs v3+). */
  readonly type: number;
  readonly documentation: string;
  /** How "no bound" (null) is written, for the fields that may have none. */
  readonly unbounded?: string;
}

/** Kafka's Long.MAX_VALUE, its "no limit" for message.timestamp.after.max.ms and .before.max.ms. */
const longMaxValue = 0x7fff_ffff_ffff_ffffn;
const longMax = longMaxValue.toString();

const configNames = new Map<string, TopicConfigName>([
  ['retention.ms', { field: 'retentionMs', type: configTypes.LONG, unbounded: '-1', documentation: 'Segments older than this many milliseconds are deleted; -1 keeps them forever.' }],
  ['retention.bytes', { field: 'retentionBytes', type: configTypes.LONG, unbounded: '-1', documentation: 'Per partition: the oldest segments are deleted while the log is larger than this; -1 for no bound.' }],
  ['max.message.bytes', { field: 'messageBytesMax', type: configTypes.INT, documentation: 'Largest record batch a producer may send to this topic.' }],
  ['segment.bytes', { field: 'segmentBytesMax', type: configTypes.INT, documentation: 'A segment rolls when it would grow past this many bytes.' }],
  ['segment.ms', { field: 'segmentAgeMsMax', type: configTypes.LONG, documentation: 'A segment rolls when its first batch is older than this many milliseconds.' }],
  [
    'message.timestamp.after.max.ms',
    { field: 'timestampAheadMsMax', type: configTypes.LONG, unbounded: longMax, documentation: "A batch dated more than this many milliseconds ahead of the broker's clock is refused with INVALID_TIMESTAMP." },
  ],
  [
    'message.timestamp.before.max.ms',
    { field: 'timestampBehindMsMax', type: configTypes.LONG, unbounded: longMax, documentation: "A batch with a record dated more than this many milliseconds behind the broker's clock is refused with INVALID_TIMESTAMP." },
  ],
]);

/** The Kafka config names Weir serves, in the order DescribeConfigs lists them. */
export const topicConfigNames: readonly string[] = [...configNames.keys()];

const kafkaNameOfField = new Map([...configNames].map(([name, { field }]) => [field as string, name]));
/** Any of those fields, as a whole word. */
const mappedFieldPattern = new RegExp(`\\b(?:${[...kafkaNameOfField.keys()].join('|')})\\b`, 'g');

/**
 * A broker error message in Kafka's terms: the TopicConfig fields it names become their Kafka
 * config names ("segmentBytesMax=100 is invalid" reads "segment.bytes=100 is invalid").
 */
export function inKafkaTerms(message: string): string {
  return message.replace(mappedFieldPattern, (field) => kafkaNameOfField.get(field) ?? field);
}

function configName(name: string): TopicConfigName {
  const entry = configNames.get(name);
  if (entry === undefined) {
    throw new WeirError('INVALID_CONFIG', `topic config ${name} is not supported (supported: ${topicConfigNames.join(', ')})`);
  }
  return entry;
}

/** Throws INVALID_CONFIG naming the config when Weir has no such topic config. */
export function checkTopicConfigName(name: string): void {
  configName(name);
}

/** The value of `name` as TopicConfig holds it; INVALID_CONFIG for a malformed value. */
function parseValue(name: string, entry: TopicConfigName, value: string | null): number | null {
  if (value === null) throw new WeirError('INVALID_CONFIG', `topic config ${name} needs a value (null is not supported)`);
  const text = value.trim();
  if (entry.unbounded !== undefined && (text === '-1' || text === entry.unbounded)) return null;
  const long = /^-?\d{1,19}$/.test(text) ? BigInt(text) : null;
  if (long === null || long > longMaxValue || long < -longMaxValue - 1n) throw new WeirError('INVALID_CONFIG', `${name}=${value} is not a 64-bit integer`);
  // Past 2^53 a millisecond or byte bound is beyond reach: no bound where the config may have
  // none, else the largest value Weir holds.
  if (long > BigInt(Number.MAX_SAFE_INTEGER)) return entry.unbounded !== undefined ? null : Number.MAX_SAFE_INTEGER;
  return Number(long);
}

/**
 * TopicConfig changes for (name, value) pairs. Throws INVALID_CONFIG at the first unknown name or
 * malformed value; ranges and relations between fields are the broker's to check.
 */
export function topicConfigChanges(entries: readonly { name: string; value: string | null }[]): Partial<TopicConfig> {
  const changes: Partial<TopicConfig> = {};
  for (const entry of entries) {
    const named = configName(entry.name);
    Object.assign(changes, { [named.field]: parseValue(entry.name, named, entry.value) });
  }
  return changes;
}

/** The change that returns `name` to the broker's default for new topics. */
export function topicConfigReset(name: string, defaults: TopicConfig): Partial<TopicConfig> {
  const { field } = configName(name);
  return { [field]: defaults[field] };
}

/** Every served config at the broker's default: what AlterConfigs starts from. */
export function topicConfigResetAll(defaults: TopicConfig): Partial<TopicConfig> {
  return Object.assign({}, ...topicConfigNames.map((name) => topicConfigReset(name, defaults))) as Partial<TopicConfig>;
}

export interface DescribedTopicConfig {
  readonly name: string;
  readonly value: string;
  /** configSources: TOPIC_CONFIG when the value differs from the broker's default. */
  readonly source: number;
  /** configTypes */
  readonly type: number;
  readonly documentation: string;
}

/**
 * A served config of a topic under its Kafka name. Weir keeps a topic's effective values, not
 * which ones were set on it, so a value equal to the broker's default is reported as that default:
 * DEFAULT_CONFIG when it is also the built-in default, STATIC_BROKER_CONFIG when the broker was
 * started with another one.
 */
export function describeTopicConfig(name: string, config: TopicConfig, defaults: TopicConfig): DescribedTopicConfig {
  const { field, type, documentation, unbounded } = configName(name);
  const value = config[field];
  let source: number = configSources.TOPIC_CONFIG;
  if (value === defaults[field]) {
    source = value === topicConfigDefaults[field] ? configSources.DEFAULT_CONFIG : configSources.STATIC_BROKER_CONFIG;
  }
  return { name, value: value === null ? (unbounded ?? '-1') : String(value), source, type, documentation };
}
