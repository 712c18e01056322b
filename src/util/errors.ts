/**
 * Operating errors: every failure a caller can meet at run time (bad input, a full disk, a closed
 * connection) is a `WeirError` with a stable `code` and a `retriable` flag. Programmer errors are
 * assertions (`node:assert`) and are never caught.
 *
 * The codes are data: one catalog, shared by the broker, the native protocol (which carries the
 * numeric `wire` value) and the client, so that the same condition has the same name everywhere.
 */

export interface ErrorSpec {
  /** Stable number on the native protocol; never reused. */
  readonly wire: number;
  readonly retriable: boolean;
  readonly summary: string;
}

export const errorCatalog = {
  UNKNOWN: { wire: 1, retriable: false, summary: 'an unexpected server error' },
  CORRUPT_MESSAGE: { wire: 2, retriable: false, summary: 'a record batch failed validation (CRC, length or layout)' },
  MESSAGE_TOO_LARGE: { wire: 3, retriable: false, summary: 'a batch or message exceeds the configured maximum' },
  UNKNOWN_TOPIC: { wire: 4, retriable: false, summary: 'the topic does not exist' },
  UNKNOWN_PARTITION: { wire: 5, retriable: false, summary: 'the partition does not exist' },
  TOPIC_EXISTS: { wire: 6, retriable: false, summary: 'a topic with this name already exists' },
  INVALID_TOPIC: { wire: 7, retriable: false, summary: 'the topic name is not valid' },
  INVALID_CONFIG: { wire: 8, retriable: false, summary: 'a configuration value is out of range or malformed' },
  INVALID_REQUEST: { wire: 9, retriable: false, summary: 'the request is malformed' },
  UNSUPPORTED_VERSION: { wire: 10, retriable: false, summary: 'the protocol version is not supported' },
  OFFSET_OUT_OF_RANGE: { wire: 11, retriable: false, summary: 'the offset lies outside the log' },
  STORAGE_FAILED: { wire: 12, retriable: false, summary: 'a write to disk failed; the partition refuses appends until the broker restarts' },
  DISK_FULL: { wire: 13, retriable: false, summary: 'the disk is full; the partition refuses appends until the broker restarts' },
  NOT_LEADER: { wire: 14, retriable: true, summary: 'this broker does not lead the partition' },
  TIMEOUT: { wire: 15, retriable: true, summary: 'the operation did not finish in time' },
  SHUTTING_DOWN: { wire: 16, retriable: true, summary: 'the broker is shutting down' },
  CONNECTION_CLOSED: { wire: 17, retriable: true, summary: 'the connection closed before the answer arrived' },
  DUPLICATE_SEQUENCE: { wire: 18, retriable: false, summary: 'the batch was already stored (idempotent retry)' },
  OUT_OF_ORDER_SEQUENCE: { wire: 19, retriable: false, summary: 'a producer sequence number skipped ahead' },
  PRODUCER_FENCED: { wire: 20, retriable: false, summary: 'a newer producer epoch exists for this producer id' },
  UNKNOWN_PRODUCER: { wire: 21, retriable: false, summary: 'the producer id is not known' },
  UNKNOWN_GROUP: { wire: 22, retriable: false, summary: 'the consumer group does not exist' },
  UNKNOWN_MEMBER: { wire: 23, retriable: false, summary: 'the member is not part of the group' },
  ILLEGAL_GENERATION: { wire: 24, retriable: false, summary: 'the member belongs to an older generation of the group' },
  REBALANCE_IN_PROGRESS: { wire: 25, retriable: true, summary: 'the group is rebalancing; rejoin' },
  GROUP_NOT_EMPTY: { wire: 26, retriable: false, summary: 'the group still has members' },
  QUEUE_FULL: { wire: 27, retriable: true, summary: 'a queue subscription is at its backlog limit' },
  UNKNOWN_SUBSCRIPTION: { wire: 28, retriable: false, summary: 'the subscription does not exist' },
  INVALID_RECEIPT: { wire: 29, retriable: false, summary: 'the delivery receipt is unknown or expired' },
  CLOSED: { wire: 30, retriable: false, summary: 'the object was closed' },
  LIMIT_EXCEEDED: { wire: 31, retriable: true, summary: 'a server limit (connections, in-flight requests, waiters) was reached' },
  INVALID_GROUP_ID: { wire: 32, retriable: false, summary: 'the consumer group id is empty or too long' },
  INVALID_SESSION_TIMEOUT: { wire: 33, retriable: false, summary: 'the session timeout is outside the allowed range' },
  INCONSISTENT_GROUP_PROTOCOL: { wire: 34, retriable: false, summary: "the member's protocol type or assignors do not match the group's" },
  OFFSET_METADATA_TOO_LARGE: { wire: 35, retriable: false, summary: 'the metadata of a committed offset exceeds 4,096 bytes' },
  INVALID_TIMESTAMP: { wire: 36, retriable: false, summary: "a record batch's timestamp is further ahead of the broker's clock than the topic allows" },
  DISK_FREE_LOW: { wire: 37, retriable: true, summary: "free space on the data directory's file system is below the broker's minimum; produces are refused until there is room again" },
  INVALID_RECORD: { wire: 38, retriable: false, summary: 'a well-formed record batch that a client may not write (a control batch)' },
  FENCED_INSTANCE_ID: { wire: 39, retriable: false, summary: "a newer member with the same group instance id replaced this one" },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof errorCatalog;

const codeByWire = new Map<number, ErrorCode>(
  (Object.keys(errorCatalog) as ErrorCode[]).map((code) => [errorCatalog[code].wire, code]),
);

export function errorCodeFromWire(wire: number): ErrorCode {
  return codeByWire.get(wire) ?? 'UNKNOWN';
}

export class WeirError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; retriable?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'WeirError';
    this.code = code;
    this.retriable = options?.retriable ?? errorCatalog[code].retriable;
  }
}

export function isWeirError(error: unknown, code?: ErrorCode): error is WeirError {
  return error instanceof WeirError && (code === undefined || error.code === code);
}

/** `error` as a WeirError: itself, or UNKNOWN with it as the cause. */
export function asWeirError(error: unknown): WeirError {
  return error instanceof WeirError ? error : new WeirError('UNKNOWN', String(error), { cause: error });
}
