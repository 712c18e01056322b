/**
 * What a Kafka request handler sees: the broker, this node's identity as clients must reach it,
 * and the connection the request came on.
 */
import type { BrokerApi } from '../../../broker/types.js';
import { isWeirError } from '../../../util/errors.js';
import type { RequestHeader } from '../wire/header.js';
import { kafkaErrorFor, kafkaErrors } from '../wire/error-codes.js';
import type { Logger as KafkaLogger } from '../../../util/logger.js';

export type { KafkaLogger };

export interface HandlerContext {
  readonly broker: BrokerApi;
  readonly nodeId: number;
  /** Host and port that Metadata and FindCoordinator hand to clients. */
  readonly advertisedHost: string;
  readonly advertisedPort: number;
  readonly clusterId: string;
  readonly header: RequestHeader;
  readonly clientHost: string;
  /** Aborted when the connection closes (ends long polls). */
  readonly signal: AbortSignal;
  readonly logger: KafkaLogger;
}

/**
 * A refusal that Weir's error catalog has no code for, with the Kafka error code to answer
 * (INVALID_PARTITIONS, INVALID_REPLICA_ASSIGNMENT, ...). Thrown and caught inside handlers.
 */
export class KafkaRefusal extends Error {
  readonly errorCode: number;

  constructor(errorCode: number, message: string) {
    super(message);
    this.name = 'KafkaRefusal';
    this.errorCode = errorCode;
  }
}

/**
 * Thrown by a handler when the connection must close after the responses before this request
 * (a failed produce with acks 0: Kafka closes the connection so the client notices).
 */
export class CloseConnection extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'CloseConnection';
  }
}

/** The Kafka error code for a failure; unexpected errors are logged and become UNKNOWN_SERVER_ERROR. */
export function errorCodeOf(context: HandlerContext, error: unknown): number {
  if (error instanceof KafkaRefusal) return error.errorCode;
  if (isWeirError(error)) return kafkaErrorFor(error.code);
  context.logger('error', `kafka: ${context.header.apiKey}/v${context.header.apiVersion} failed: ${String(error)}`);
  return kafkaErrors.UNKNOWN_SERVER_ERROR;
}

export function errorMessageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The names that occur more than once (Kafka refuses such entries with INVALID_REQUEST). */
export function repeatedNames(names: readonly string[]): Set<string> {
  const seen = new Set<string>();
  const repeated = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) repeated.add(name);
    seen.add(name);
  }
  return repeated;
}
