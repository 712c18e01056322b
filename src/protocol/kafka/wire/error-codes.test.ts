/**
 * The translation from Weir's error catalog to Kafka's error codes, where a client's reaction
 * depends on the code: a broker going away must read as retriable, not as a server fault.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { errorCatalog, WeirError, type ErrorCode } from '../../../util/errors.js';
import { groupErrorCode } from '../handlers/groups.js';
import type { HandlerContext } from '../handlers/context.js';
import { kafkaErrorFor, kafkaErrors } from './error-codes.js';

/**
 * Kafka's codes that its protocol guide marks retriable and that make clients refresh metadata
 * before they retry (InvalidMetadataException in the Java client; kafkajs and librdkafka refresh
 * on the same codes).
 */
const refreshAndRetry: readonly number[] = [kafkaErrors.LEADER_NOT_AVAILABLE, kafkaErrors.NOT_LEADER_OR_FOLLOWER];

test('a partition closed under a request (broker shutting down, topic being deleted) is NOT_LEADER_OR_FOLLOWER', () => {
  // Not LEADER_NOT_AVAILABLE: a Fetch partition may carry this error, and the Java consumer
  // refreshes metadata on NOT_LEADER_OR_FOLLOWER there but fails on LEADER_NOT_AVAILABLE.
  assert.equal(kafkaErrorFor('CLOSED'), kafkaErrors.NOT_LEADER_OR_FOLLOWER);
  assert.equal(kafkaErrors.NOT_LEADER_OR_FOLLOWER, 6);
});

test('every way of saying "this broker cannot serve the partition right now" maps to a refresh-and-retry code', () => {
  const goingAway: readonly ErrorCode[] = ['CLOSED', 'SHUTTING_DOWN', 'NOT_LEADER'];
  for (const code of goingAway) {
    assert.ok(refreshAndRetry.includes(kafkaErrorFor(code)), `${code} maps to ${kafkaErrorFor(code)}`);
  }
});

test('only UNKNOWN, and codes no Kafka request can meet, fall back to UNKNOWN_SERVER_ERROR', () => {
  // Client-side or queue-only conditions: a Kafka handler never sees them.
  const notKafka: readonly ErrorCode[] = ['CONNECTION_CLOSED', 'UNKNOWN_SUBSCRIPTION', 'INVALID_RECEIPT'];
  const unmapped = (Object.keys(errorCatalog) as ErrorCode[]).filter((code) => kafkaErrorFor(code) === kafkaErrors.UNKNOWN_SERVER_ERROR);
  assert.deepEqual(unmapped.sort(), ['UNKNOWN', ...notKafka].sort());
});

test('the group and offset APIs answer a broker going away with COORDINATOR_NOT_AVAILABLE, which clients retry after finding the coordinator again', () => {
  const context = { logger: () => undefined } as unknown as HandlerContext;
  for (const code of ['SHUTTING_DOWN', 'CLOSED'] as const) {
    assert.equal(groupErrorCode(context, new WeirError(code, 'going away')), kafkaErrors.COORDINATOR_NOT_AVAILABLE, code);
  }
  assert.equal(groupErrorCode(context, new WeirError('REBALANCE_IN_PROGRESS', 'rejoin')), kafkaErrors.REBALANCE_IN_PROGRESS);
});
