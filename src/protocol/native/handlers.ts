/**
 * Request handlers: each decodes nothing and knows no bytes; it maps one decoded request onto
 * `BrokerApi` calls and returns the response value for the wire codec. No broker logic here.
 */
import type { BrokerApi, FetchPartitionResult as BrokerFetchResult } from '../../broker/types.js';
import { WeirError, errorCatalog } from '../../util/errors.js';
import type { ApiName, RequestOf, ResponseOf } from './wire/messages.js';

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
    errorMessage: result.error?.message ?? '',
    highWatermark: result.highWatermark,
    offsetStart: result.offsetStart,
    records: result.records,
  };
}

/** Handlers by API, except hello, subscribe, credit and unsubscribe (the connection owns those). */
export const handlers: { [N in Exclude<ApiName, 'hello' | 'subscribe' | 'credit' | 'unsubscribe'>]: Handler<N> } = {
  createTopic: (broker, request) => broker.createTopic(request.name, stripUndefined(request.config)),
  deleteTopic: async (broker, request) => {
    await broker.deleteTopic(request.name);
    return {};
  },
  listTopics: async (broker, request) => broker.listTopics({ includeInternal: request.includeInternal }),
  describeTopic: async (broker, request) => (request.ensure ? broker.ensureTopic(request.name) : broker.describeTopic(request.name)),
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
    });
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
};

/** Maps any thrown value onto a catalog code and a message for the error response. */
export function toWireError(error: unknown): { error: WeirError; unexpected: boolean } {
  if (error instanceof WeirError) return { error, unexpected: false };
  const message = error instanceof Error ? error.message : String(error);
  return { error: new WeirError('UNKNOWN', message, { cause: error }), unexpected: true };
}
