/**
 * Request handlers: each decodes nothing and knows no bytes; it maps one decoded request onto
 * `BrokerApi` calls and returns the response value for the wire codec. No broker logic here.
 */
import type { BrokerApi, FetchPartitionResult as BrokerFetchResult, QueueSettlement, QueueSubscriptionConfig } from '../../broker/types.js';
import { WeirError, errorCatalog } from '../../util/errors.js';
import { truncateMessage } from './wire/frame.js';
import { nackBackoffMs, type ApiName, type RequestOf, type ResponseOf } from './wire/messages.js';

/** What a handler may know about the connection it serves. */
export interface RequestContext {
  clientId: string;
  clientHost: string;
  signal: AbortSignal;
  /** The records of one fetch response must fit in a frame. */
  fetchBytesMax: number;
}

export type Handler<N extends ApiName> = (broker: BrokerApi, request: RequestOf<N>, context: RequestContext) => Promise<ResponseOf<N>>;

/** The protocol type of broker-assigned groups (the broker spreads partitions itself). */
export const weirGroupProtocolType = 'weir';
const weirGroupProtocolName = 'weir';

function stripUndefined<T extends object>(value: T): Partial<{ [K in keyof T]: Exclude<T[K], undefined> }> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as never;
}

function fetchResultToWire(result: BrokerFetchResult): ResponseOf<'fetch'>[number] {
  return {
    topic: result.topic,
    partition: result.partition,
    errorCode: result.error === undefined ? 0 : errorCatalog[result.error.code].wire,
    errorMessage: truncateMessage(result.error?.message ?? ''),
    highWatermark: result.highWatermark,
    offsetStart: result.offsetStart,
    records: result.records,
  };
}

/** A queue subscription configuration sent as JSON; INVALID_CONFIG when it is not an object. */
export function parseQueueConfig(json: string | null): Partial<QueueSubscriptionConfig> | undefined {
  if (json === null) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (error) {
    throw new WeirError('INVALID_CONFIG', `queue subscription configuration is not JSON: ${(error as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new WeirError('INVALID_CONFIG', 'queue subscription configuration must be a JSON object');
  }
  return value as Partial<QueueSubscriptionConfig>;
}

/** JSON with bigints as decimal strings. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

const queueSettlementOf = (s: RequestOf<'queueSettle'>['settlements'][number]): QueueSettlement => {
  const receipt = { partition: s.partition, offset: s.offset, deliveryCount: s.deliveryCount, leaseEpoch: s.leaseEpoch };
  const count = s.count;
  switch (s.action) {
    case 'ack':
      return { action: 'ack', receipt, count };
    case 'nack':
      // Any other negative delay goes on to the broker, which refuses it.
      return s.ms === nackBackoffMs ? { action: 'nack', receipt, count } : { action: 'nack', receipt, delayMs: s.ms, count };
    case 'reject':
      return { action: 'reject', receipt, reason: s.reason, count };
    case 'extend':
      return { action: 'extend', receipt, extendMs: s.ms, count };
    case 'release':
      return { action: 'release', receipt, count };
  }
};

/** A queueSettleQuiet request: settled like queueSettle, without waiting for the sync (nobody reads the outcome). */
export async function settleQuietly(broker: BrokerApi, request: RequestOf<'queueSettle'>): Promise<void> {
  await broker.settle(request.topic, request.subscription, request.settlements.map(queueSettlementOf), { quiet: true });
}

/** APIs the connection serves itself (they hold per-connection state). */
type ConnectionApis = 'hello' | 'subscribe' | 'credit' | 'unsubscribe' | 'queueSubscribe' | 'queueReceive' | 'queueCredit' | 'queueUnsubscribe' | 'queueSettleQuiet';

/** Handlers by API, except those the connection owns. */
export const handlers: { [N in Exclude<ApiName, ConnectionApis>]: Handler<N> } = {
  createTopic: (broker, request) => broker.createTopic(request.name, stripUndefined(request.config)),
  alterTopic: (broker, request) => broker.alterTopic(request.name, stripUndefined(request.config)),
  deleteTopic: async (broker, request) => {
    await broker.deleteTopic(request.name);
    return {};
  },
  listTopics: async (broker, request) => broker.listTopics({ includeInternal: request.includeInternal }),
  describeTopic: async (broker, request) =>
    request.ensure ? broker.ensureTopic(request.name, request.partition >= 0 ? request.partition : undefined) : broker.describeTopic(request.name),
  produce: async (broker, request) => {
    const result = await broker.produce(request);
    return {
      baseOffset: result.baseOffset,
      logAppendTimeMs: result.logAppendTimeMs,
      offsetStart: result.offsetStart,
      duplicate: result.duplicate,
    };
  },
  fetch: async (broker, request, context) => {
    const results = await broker.fetch(
      {
        partitions: request.partitions,
        waitMs: request.waitMs,
        bytesMin: request.bytesMin,
        bytesMaxTotal: Math.min(request.bytesMaxTotal, context.fetchBytesMax),
      },
      context.signal,
    );
    return results.map(fetchResultToWire);
  },
  listOffsets: (broker, request) => broker.listOffset(request.topic, request.partition, request.spec),
  initProducerId: (broker) => broker.initProducerId(),
  joinGroup: async (broker, request, context) => {
    const metadata = Buffer.from(JSON.stringify({ topics: request.topics }), 'utf8');
    const result = await broker.joinGroup({
      groupId: request.groupId,
      memberId: request.memberId,
      groupInstanceId: request.groupInstanceId,
      clientId: context.clientId,
      clientHost: context.clientHost,
      sessionTimeoutMs: request.sessionTimeoutMs,
      rebalanceTimeoutMs: request.rebalanceTimeoutMs,
      protocolType: weirGroupProtocolType,
      protocols: [{ name: weirGroupProtocolName, metadata }],
    }, { signal: context.signal });
    return {
      generationId: result.generationId,
      protocolName: result.protocolName,
      leaderId: result.leaderId,
      memberId: result.memberId,
      assignment: result.assignment ?? [],
    };
  },
  heartbeat: async (broker, request) => {
    await broker.heartbeat(request);
    return {};
  },
  leaveGroup: async (broker, request) => {
    await broker.leaveGroup(request.groupId, request.memberId);
    return {};
  },
  commitOffsets: async (broker, request) => {
    const ref = request.generationId < 0 ? { groupId: request.groupId } : request;
    await broker.commitOffsets(ref, request.offsets);
    return {};
  },
  fetchOffsets: (broker, request) => broker.fetchOffsets(request.groupId, request.partitions),
  listGroups: async (broker) => broker.listGroups(),
  describeGroup: async (broker, request) => broker.describeGroup(request.groupId),
  deleteGroup: async (broker, request) => {
    await broker.deleteGroup(request.groupId);
    return {};
  },
  resetOffsets: async (broker, request) => {
    const resets = await broker.resetGroupOffsets(request);
    return resets.map((r) => ({ ...r, previous: r.previous ?? -1n }));
  },
  queueSettle: async (broker, request) => {
    const failures = await broker.settle(request.topic, request.subscription, request.settlements.map(queueSettlementOf));
    return failures.map(({ index, offset, error }) => ({ index, offset, errorCode: errorCatalog[error.code].wire, errorMessage: error.message }));
  },
  createSubscription: async (broker, request) => ({
    json: toJson(await broker.createSubscription(request.topic, request.name, parseQueueConfig(request.configJson))),
  }),
  deleteSubscription: async (broker, request) => {
    await broker.deleteSubscription(request.topic, request.name);
    return {};
  },
  listSubscriptions: async (broker, request) => ({ json: toJson(broker.listSubscriptions(request.topic ?? undefined)) }),
  describeSubscription: async (broker, request) => ({ json: toJson(broker.describeSubscription(request.topic, request.name)) }),
  listDeadLetters: async (broker, request) => {
    const letters = await broker.listDeadLetters(request.topic, {
      ...(request.partition >= 0 ? { partition: request.partition } : {}),
      ...(request.offset >= 0n ? { offset: request.offset } : {}),
      max: request.max,
    });
    return letters;
  },
  replayDeadLetters: (broker, request) => broker.replayDeadLetters(request.topic, request.select),
};

/** Maps any thrown value onto a catalog code and a message for the error response. */
export function toWireError(error: unknown): { error: WeirError; unexpected: boolean } {
  if (error instanceof WeirError) return { error, unexpected: false };
  const message = error instanceof Error ? error.message : String(error);
  return { error: new WeirError('UNKNOWN', message, { cause: error }), unexpected: true };
}
