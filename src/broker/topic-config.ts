/**
 * Topic configuration: defaults, validation and the mapping onto a partition log's configuration.
 * Every bound is named here; a bad value is an INVALID_CONFIG error that names the field and the
 * allowed range.
 */
import type { LogConfig } from '../storage/config.js';
import { logConfigDefaults } from '../storage/config.js';
import { WeirError } from '../util/errors.js';
import type { FlushPolicy, TopicConfig } from './types.js';

export const partitionsMax = 10_000;
export const messageBytesMaxLimit = 64 * 1024 * 1024;
export const segmentBytesMin = 16 * 1024;
export const segmentBytesMaxLimit = 1024 * 1024 * 1024;
export const flushIntervalMsMax = 3_600_000;

export const topicConfigDefaults: TopicConfig = {
  partitions: 1,
  retentionMs: logConfigDefaults.retentionMs,
  retentionBytes: logConfigDefaults.retentionBytes,
  flush: logConfigDefaults.flush,
  messageBytesMax: logConfigDefaults.batchBytesMax,
  segmentBytesMax: logConfigDefaults.segmentBytesMax,
  segmentAgeMsMax: logConfigDefaults.segmentAgeMsMax,
  messageTtlMs: null,
  timestampAheadMsMax: 3_600_000,
  timestampBehindMsMax: null,
};

export function invalid(field: string, value: unknown, rule: string): never {
  throw new WeirError('INVALID_CONFIG', `${field}=${JSON.stringify(value)} is invalid: ${rule}`);
}

export function integerIn(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    invalid(field, value, `expected an integer from ${min} to ${max}`);
  }
  return value;
}

export function optionalLimit(field: string, value: unknown, min: number): number | null {
  if (value === null || value === -1) return null;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    invalid(field, value, `expected an integer of at least ${min}, or -1 for no limit`);
  }
  return value;
}

/**
 * Refuses a field of the object setting `field` other than `known` (a typo such as `intervalMS`
 * would otherwise be dropped without a word and the setting taken as if it were not there).
 */
export function onlyKnownFields(field: string, value: object, known: readonly string[]): void {
  for (const [name, given] of Object.entries(value)) {
    if (!known.includes(name)) invalid(`${field}.${name}`, given, `not a field of ${field} (${known.join(', ')})`);
  }
}

function flushPolicy(value: unknown): FlushPolicy {
  const policy = value as FlushPolicy;
  if (policy && typeof policy === 'object') {
    if (policy.kind === 'always' || policy.kind === 'none') {
      onlyKnownFields('flush', policy, ['kind']);
      return { kind: policy.kind };
    }
    if (policy.kind === 'interval') {
      onlyKnownFields('flush', policy, ['kind', 'intervalMs']);
      return { kind: 'interval', intervalMs: integerIn('flush.intervalMs', policy.intervalMs, 1, flushIntervalMsMax) };
    }
  }
  return invalid('flush', value, "expected {kind:'always'}, {kind:'none'} or {kind:'interval', intervalMs}");
}

/** Parses the textual forms used by the CLI and HTTP: `always`, `none`, `interval:100` or `100ms`. */
export function parseFlushPolicy(text: string): FlushPolicy {
  if (text === 'always' || text === 'none') return { kind: text };
  const match = /^(?:interval:)?(\d+)(?:ms)?$/.exec(text);
  if (match) return flushPolicy({ kind: 'interval', intervalMs: Number(match[1]) });
  return invalid('flush', text, "expected 'always', 'none' or 'interval:<ms>'");
}

export function formatFlushPolicy(policy: FlushPolicy): string {
  return policy.kind === 'interval' ? `interval:${policy.intervalMs}` : policy.kind;
}

const knownFields = new Set(Object.keys(topicConfigDefaults));

/** Merges `overrides` onto `base`, validating every field. Unknown fields are rejected. */
export function resolveTopicConfig(overrides: Partial<TopicConfig> = {}, base: TopicConfig = topicConfigDefaults): TopicConfig {
  for (const field of Object.keys(overrides)) {
    if (!knownFields.has(field)) invalid(field, (overrides as Record<string, unknown>)[field], 'unknown configuration field');
  }
  const merged = { ...base, ...Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)) };
  return {
    partitions: integerIn('partitions', merged.partitions, 1, partitionsMax),
    retentionMs: optionalLimit('retentionMs', merged.retentionMs, 1),
    retentionBytes: optionalLimit('retentionBytes', merged.retentionBytes, 1),
    flush: flushPolicy(merged.flush),
    messageBytesMax: integerIn('messageBytesMax', merged.messageBytesMax, 1024, messageBytesMaxLimit),
    segmentBytesMax: integerIn('segmentBytesMax', merged.segmentBytesMax, segmentBytesMin, segmentBytesMaxLimit),
    segmentAgeMsMax: integerIn('segmentAgeMsMax', merged.segmentAgeMsMax, 1000, Number.MAX_SAFE_INTEGER),
    messageTtlMs: optionalLimit('messageTtlMs', merged.messageTtlMs ?? null, 1),
    timestampAheadMsMax: optionalLimit('timestampAheadMsMax', merged.timestampAheadMsMax, 0),
    timestampBehindMsMax: optionalLimit('timestampBehindMsMax', merged.timestampBehindMsMax, 0),
  };
}

export function logConfigOf(config: TopicConfig): LogConfig {
  if (config.messageBytesMax > config.segmentBytesMax) {
    invalid('messageBytesMax', config.messageBytesMax, `must not exceed segmentBytesMax (${config.segmentBytesMax})`);
  }
  return {
    ...logConfigDefaults,
    segmentBytesMax: config.segmentBytesMax,
    segmentAgeMsMax: config.segmentAgeMsMax,
    retentionMs: config.retentionMs,
    retentionBytes: config.retentionBytes,
    flush: config.flush,
    batchBytesMax: config.messageBytesMax,
    timestampAheadMsMax: config.timestampAheadMsMax,
    timestampBehindMsMax: config.timestampBehindMsMax,
  };
}

const topicNamePattern = /^[A-Za-z0-9._-]{1,249}$/;

/** Topic names as Kafka allows them: letters, digits, `.`, `_`, `-`, at most 249 characters. */
export function validateTopicName(name: unknown): string {
  if (typeof name !== 'string' || !topicNamePattern.test(name) || name === '.' || name === '..') {
    throw new WeirError(
      'INVALID_TOPIC',
      `topic name ${JSON.stringify(name)} is invalid: use 1 to 249 of the characters A-Z a-z 0-9 . _ -`,
    );
  }
  return name;
}

/** A name users may give a topic: valid, and not one of the `__` names Weir keeps for its own topics. */
export function validateUserTopicName(name: unknown): string {
  const valid = validateTopicName(name);
  if (valid.startsWith('__')) throw new WeirError('INVALID_TOPIC', `topic names starting with "__" are reserved for Weir (${valid})`);
  return valid;
}
