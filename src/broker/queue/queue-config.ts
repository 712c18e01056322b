/**
 * Queue subscription configuration: defaults, validation (INVALID_CONFIG naming the field and the
 * allowed range) and the redelivery backoff it implies.
 */
import { WeirError, isWeirError } from '../../util/errors.js';
import { integerIn, invalid, onlyKnownFields, optionalLimit, validateUserTopicName } from '../topic-config.js';
import type { QueueSubscriptionConfig, RedeliveryBackoff } from '../types.js';

export const ackTimeoutMsMin = 100;
export const ackTimeoutMsMax = 12 * 3_600_000;
export const deliveriesMaxLimit = 1_000;
export const backoffMsMax = 24 * 3_600_000;
export const subscriptionNameBytesMax = 200;
/** A nack's or an extension's own delay may not exceed this. */
export const settleDelayMsMax = 7 * 24 * 3_600_000;
/** An extension is at least this long: one of 0 ms would end the lease at once (a nack in disguise). */
export const extendMsMin = 1;

export function queueConfigDefaults(topic: string, subscription: string): QueueSubscriptionConfig {
  return {
    ackTimeoutMs: 30_000,
    deliveriesMax: 5,
    backoff: { kind: 'exponential', initialMs: 1_000, maxMs: 60_000, multiplier: 2, jitter: 0.2 },
    deadLetterTopic: `${topic}.${subscription}.dlq`,
    discard: 'drop',
    backlogMessagesMax: null,
    backlogBytesMax: null,
    overflow: 'reject',
    keyOrdered: false,
    startAt: 'earliest',
  };
}

const configFields = new Set<string>(Object.keys(queueConfigDefaults('t', 's')));

export function validateSubscriptionName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0 || Buffer.byteLength(name) > subscriptionNameBytesMax || !/^[A-Za-z0-9._-]+$/.test(name)) {
    throw new WeirError(
      'INVALID_REQUEST',
      `subscription name ${JSON.stringify(name)} is invalid: 1 to ${subscriptionNameBytesMax} characters of A-Z a-z 0-9 . _ -`,
    );
  }
  return name;
}

/** A subscription of `topic`'s settings: `base` with `overrides`, each checked. */
export function resolveQueueConfig(topic: string, overrides: Partial<QueueSubscriptionConfig>, base: QueueSubscriptionConfig): QueueSubscriptionConfig {
  for (const field of Object.keys(overrides)) {
    if (!configFields.has(field)) invalid(field, (overrides as Record<string, unknown>)[field], 'not a queue subscription setting');
  }
  const merged = { ...base, ...overrides };
  if (merged.deadLetterTopic === topic) invalid('deadLetterTopic', topic, "the subscription's own topic: its letters would come back to it as new messages");
  return {
    ackTimeoutMs: integerIn('ackTimeoutMs', merged.ackTimeoutMs, ackTimeoutMsMin, ackTimeoutMsMax),
    deliveriesMax: integerIn('deliveriesMax', merged.deliveriesMax, 1, deliveriesMaxLimit),
    backoff: backoffPolicy(merged.backoff),
    deadLetterTopic: deadLetterTopicName(merged.deadLetterTopic),
    discard: oneOf('discard', merged.discard, ['drop', 'dead-letter'] as const),
    backlogMessagesMax: optionalLimit('backlogMessagesMax', merged.backlogMessagesMax, 1),
    backlogBytesMax: optionalLimit('backlogBytesMax', merged.backlogBytesMax, 1),
    overflow: oneOf('overflow', merged.overflow, ['reject', 'drop-oldest'] as const),
    keyOrdered: typeof merged.keyOrdered === 'boolean' ? merged.keyOrdered : invalid('keyOrdered', merged.keyOrdered, 'expected true or false'),
    startAt: oneOf('startAt', merged.startAt, ['earliest', 'latest'] as const),
  };
}

/** A topic name fit for dead letters; the error keeps its code (INVALID_TOPIC) and names the setting. */
function deadLetterTopicName(value: unknown): string {
  try {
    return validateUserTopicName(value);
  } catch (error) {
    if (!isWeirError(error)) throw error;
    throw new WeirError(error.code, `deadLetterTopic ${JSON.stringify(value)} is invalid: ${error.message}`);
  }
}

function oneOf<T extends string>(field: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  return invalid(field, value, `expected one of ${allowed.join(', ')}`);
}

function backoffPolicy(value: unknown): RedeliveryBackoff {
  const policy = value as RedeliveryBackoff;
  if (policy && typeof policy === 'object') {
    if (policy.kind === 'fixed') {
      onlyKnownFields('backoff', policy, ['kind', 'delayMs']);
      return { kind: 'fixed', delayMs: integerIn('backoff.delayMs', policy.delayMs, 0, backoffMsMax) };
    }
    if (policy.kind === 'exponential') {
      onlyKnownFields('backoff', policy, ['kind', 'initialMs', 'maxMs', 'multiplier', 'jitter']);
      const initialMs = integerIn('backoff.initialMs', policy.initialMs, 0, backoffMsMax);
      const maxMs = integerIn('backoff.maxMs', policy.maxMs, initialMs, backoffMsMax);
      const multiplier = typeof policy.multiplier === 'number' && policy.multiplier >= 1 && policy.multiplier <= 10
        ? policy.multiplier
        : invalid('backoff.multiplier', policy.multiplier, 'expected a number from 1 to 10');
      const jitter = typeof policy.jitter === 'number' && policy.jitter >= 0 && policy.jitter <= 1
        ? policy.jitter
        : invalid('backoff.jitter', policy.jitter, 'expected a number from 0 to 1');
      return { kind: 'exponential', initialMs, maxMs, multiplier, jitter };
    }
  }
  return invalid('backoff', value, "expected {kind:'fixed', delayMs} or {kind:'exponential', initialMs, maxMs, multiplier, jitter}");
}

/** The wait before a message that failed its `deliveryCount`-th delivery is offered again. */
export function redeliveryDelayMs(policy: RedeliveryBackoff, deliveryCount: number, random: () => number = Math.random): number {
  if (policy.kind === 'fixed') return policy.delayMs;
  const base = Math.min(policy.maxMs, policy.initialMs * policy.multiplier ** Math.max(0, deliveryCount - 1));
  const spread = base * policy.jitter;
  return Math.max(0, Math.round(base - spread + 2 * spread * random()));
}
