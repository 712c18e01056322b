/**
 * Message routes: produce, long-polling consume (consumer group or queue), browse a partition,
 * and settle queue deliveries (ack, nack, reject, extend, release).
 */
import type { QueueSettlement } from '../../broker/types.js';
import { settleDelayMsMax } from '../../broker/queue/queue-config.js';
import { rejectReasonKept } from '../../util/reject-reason.js';
import { WeirError } from '../../util/errors.js';
import { sendError, sendJson } from './http-errors.js';
import type { HttpContext } from './http-context.js';
import { decodeReceipt, encodings } from './message-json.js';
import { parseProduceBody, produceMessagesMax } from './produce.js';
import type { RouteRequest, Router } from './router.js';
import { arrayOf, integerIn, invalid, objectWith, queryChoice, queryInteger, queryOffset, wellFormed } from './schema.js';
import { LatestSource, parsePositions, readPositions, type MessageSource } from './stream-read.js';

/** Messages one read may return, and the longest long-poll wait. */
export const readMessagesMax = 10_000;
export const readMessagesDefault = 100;
export const waitMsMax = 30_000;

/** The query of a subscription (sourceFor): WebSocket and SSE sessions take these, a long poll also max and waitMs. */
export const subscribeQuery = ['subscription', 'type', 'from', 'encoding'] as const;
const consumeQuery = [...subscribeQuery, 'max', 'waitMs'];
const browseQuery = ['offset', 'timestamp', 'max', 'waitMs', 'encoding'];

export function addMessageRoutes(router: Router, context: HttpContext): void {
  router.add('POST', '/v1/topics/{topic}/messages', 'Produce messages', (r) => produce(context, r));
  // Every read here commits (a group) or leases (a queue): no HEAD.
  router.add('GET', '/v1/topics/{topic}/messages', 'Long-polling consume (consumer group or queue subscription)', (r) => consume(context, r), { head: false, query: consumeQuery });
  router.add('GET', '/v1/topics/{topic}/partitions/{partition}/messages', 'Browse a partition from an offset or a time', (r) => browse(context, r), { query: browseQuery });
  for (const action of settleActions) {
    router.add('POST', `/v1/topics/{topic}/subscriptions/{subscription}/${action}`, `Settle queue deliveries: ${action}`, (r) => settle(context, r, action));
  }
}

async function produce(context: HttpContext, request: RouteRequest): Promise<void> {
  const { res, params } = request;
  const messages = parseProduceBody(await context.bodies.readJson(request));
  const outcome = await context.producer.produce(params.topic!, messages);
  if (outcome.error === null) sendJson(res, 200, { results: outcome.results });
  else sendError(res, outcome.error, { results: outcome.results });
}

/**
 * The message source a consume request names in its query: a long poll (`session: false`) shares
 * pooled queue consumers; a WebSocket or SSE session gets a queue consumer of its own.
 * `resumeAt`: an SSE client's Last-Event-ID, where a session without a subscription goes on from.
 */
export function sourceFor(context: HttpContext, topic: string, query: URLSearchParams, options: { session: boolean; resumeAt?: string | undefined }): MessageSource {
  const type = queryChoice(query, 'type', ['stream', 'queue'] as const, 'stream');
  const encoding = queryChoice(query, 'encoding', encodings, 'utf8');
  const subscription = query.get('subscription');
  if (subscription === null || subscription === '') {
    if (!options.session || type === 'queue') {
      throw new WeirError('INVALID_REQUEST', `query parameter subscription is required (a consumer group for type=stream, a queue subscription for type=queue)`);
    }
    const latest = new LatestSource(context.broker, topic, encoding, parsePositions(options.resumeAt));
    latest.start(); // UNKNOWN_TOPIC before the stream starts; positions fixed now
    return latest;
  }
  if (type === 'queue') {
    if (options.session) return context.queues.sessionSource(topic, subscription, encoding);
    return { read: (max, waitMs, signal) => context.queues.receive(topic, subscription, { max, waitMs, encoding }, signal), close: async () => {} };
  }
  context.broker.describeTopic(topic);
  const start = queryChoice(query, 'from', ['earliest', 'latest'] as const, 'earliest');
  return context.groups.source(subscription, topic, { start, encoding });
}

async function consume(context: HttpContext, { res, params, query, signal }: RouteRequest): Promise<void> {
  const source = sourceFor(context, params.topic!, query, { session: false });
  const max = queryInteger(query, 'max', readMessagesDefault, 1, readMessagesMax);
  const waitMs = queryInteger(query, 'waitMs', 0, 0, waitMsMax);
  const messages = await source.read(max, waitMs, signal);
  sendJson(res, 200, { messages });
}

async function browse(context: HttpContext, { res, params, query, signal }: RouteRequest): Promise<void> {
  const topic = params.topic!;
  if (!/^\d{1,5}$/.test(params.partition!)) throw new WeirError('INVALID_REQUEST', `partition ${JSON.stringify(params.partition)} is not a partition number`);
  const partition = Number(params.partition);
  const state = context.broker.describeTopic(topic).partitions[partition];
  if (state === undefined) throw new WeirError('UNKNOWN_PARTITION', `topic ${topic} has no partition ${partition}`);
  const max = queryInteger(query, 'max', readMessagesDefault, 1, readMessagesMax);
  const waitMs = queryInteger(query, 'waitMs', 0, 0, waitMsMax);
  const encoding = queryChoice(query, 'encoding', encodings, 'utf8');
  let offset = queryOffset(query, 'offset');
  const timestamp = queryInteger(query, 'timestamp', -1, 0, Number.MAX_SAFE_INTEGER);
  if (offset !== null && timestamp >= 0) throw new WeirError('INVALID_REQUEST', 'give offset or timestamp, not both');
  if (timestamp >= 0) {
    const found = await context.broker.listOffset(topic, partition, { timestampMs: timestamp });
    offset = found.offset >= 0n ? found.offset : state.highWatermark;
  }
  const positions = new Map([[partition, offset ?? state.offsetStart]]);
  const messages = await readPositions(context.broker, topic, positions, { max, waitMs, encoding }, signal);
  const after = context.broker.describeTopic(topic).partitions[partition] ?? state;
  sendJson(res, 200, { messages, nextOffset: positions.get(partition)!, offsetStart: after.offsetStart, highWatermark: after.highWatermark });
}

/** `release` gives a delivery back unseen: ready again at once, its delivery count lowered, its receipt dead. */
export const settleActions = ['ack', 'nack', 'reject', 'extend', 'release'] as const;
export type SettleAction = (typeof settleActions)[number];

/** Validates a settle body (HTTP or a WebSocket frame) into settlements. */
export function parseSettlements(action: SettleAction, body: unknown, extraFields: readonly string[] = []): QueueSettlement[] {
  const fields = { ack: ['receipts'], nack: ['receipts', 'delayMs'], reject: ['receipts', 'reason'], extend: ['receipts', 'extendMs'], release: ['receipts'] }[action];
  const request = objectWith(body, 'body', [...fields, ...extraFields]);
  const receipts = arrayOf(request.receipts, 'receipts', 1, produceMessagesMax).map((text, i) => decodeReceipt(text, `receipts[${i}]`));
  switch (action) {
    case 'ack':
    case 'release':
      return receipts.map((receipt) => ({ action, receipt }));
    case 'nack': {
      // The broker's bound (7 days), checked here so that the request is refused whole with 400
      // rather than answered 200 with each receipt failing.
      const delayMs = request.delayMs === undefined ? undefined : integerIn(request.delayMs, 'delayMs', 0, settleDelayMsMax);
      return receipts.map((receipt) => (delayMs === undefined ? { action, receipt } : { action, receipt, delayMs }));
    }
    case 'reject': {
      const reason = rejectReason(request.reason);
      return receipts.map((receipt) => ({ action, receipt, reason }));
    }
    case 'extend': {
      const extendMs = integerIn(request.extendMs, 'extendMs', 1, settleDelayMsMax);
      return receipts.map((receipt) => ({ action, receipt, extendMs }));
    }
  }
}

/**
 * A reject's reason as the dead letter keeps it (rejectReasonKept, the rule every protocol meets),
 * checked here so that a reason that says nothing refuses the request whole with 400.
 */
export function rejectReason(value: unknown): string {
  if (typeof value !== 'string') invalid('reason', 'a string', value);
  return wellFormed(rejectReasonKept(value), 'reason');
}

/** One outcome per settlement: null, or the error's code and message. */
export async function settleJson(context: HttpContext, topic: string, subscription: string, settlements: QueueSettlement[]): Promise<({ code: string; message: string } | null)[]> {
  const failures = await context.queues.settle(topic, subscription, settlements);
  const outcomes: ({ code: string; message: string } | null)[] = settlements.map(() => null);
  for (const { index, error } of failures) outcomes[index] = { code: error.code, message: error.message };
  return outcomes;
}

async function settle(context: HttpContext, request: RouteRequest, action: SettleAction): Promise<void> {
  const { res, params } = request;
  const settlements = parseSettlements(action, await context.bodies.readJson(request));
  const results = await settleJson(context, params.topic!, params.subscription!, settlements);
  sendJson(res, 200, { results });
}
