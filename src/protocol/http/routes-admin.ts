/**
 * Administration routes: health and readiness, topics, queue subscriptions, consumer groups and
 * dead letters.
 */
import type { OffsetResetTarget, QueueSubscriptionConfig, TopicConfig } from '../../broker/types.js';
import { parseFlushPolicy } from '../../broker/topic-config.js';
import { isWeirError, WeirError } from '../../util/errors.js';
import { sendEmpty, sendJson } from './http-errors.js';
import type { HttpContext } from './http-context.js';
import { deadLetterJson, groupJson } from './json-view.js';
import { encodings } from './message-json.js';
import type { RouteRequest, Router } from './router.js';
import { arrayOf, integerIn, invalid, objectWith, plainObject, queryChoice, queryInteger, queryOffset, stringOf } from './schema.js';

export const deadLettersReadMax = 1_000;
export const replaySelectMax = 10_000;

export function addAdminRoutes(router: Router, context: HttpContext): void {
  router.add('GET', '/healthz', 'Liveness: answers while the process serves', ({ res }) => sendJson(res, 200, { status: 'ok' }));
  router.add('GET', '/readyz', 'Readiness: 503 while shutting down', (r) => ready(context, r));
  router.add('GET', '/v1/topics', 'List topics', ({ res, query }) => {
    const includeInternal = queryChoice(query, 'internal', ['true', 'false'] as const, 'false') === 'true';
    sendJson(res, 200, { topics: context.broker.listTopics({ includeInternal }) });
  }, { query: ['internal'] });
  router.add('POST', '/v1/topics', 'Create a topic', (r) => createTopic(context, r));
  router.add('GET', '/v1/topics/{topic}', 'Describe a topic', ({ res, params }) => sendJson(res, 200, context.broker.describeTopic(params.topic!)));
  router.add('PATCH', '/v1/topics/{topic}', 'Alter a topic: configuration, more partitions', (r) => alterTopic(context, r));
  router.add('DELETE', '/v1/topics/{topic}', 'Delete a topic', async ({ res, params }) => {
    // Deleted first: the long polls it ends then find it gone (404), not there (an empty 200).
    await context.broker.deleteTopic(params.topic!);
    await context.queues.forget(params.topic!);
    sendEmpty(res, 204);
  });
  router.add('GET', '/v1/subscriptions', 'List queue subscriptions', ({ res, query }) => {
    const topic = query.get('topic');
    sendJson(res, 200, { subscriptions: context.broker.listSubscriptions(topic === null || topic === '' ? undefined : topic) });
  }, { query: ['topic'] });
  router.add('PUT', '/v1/topics/{topic}/subscriptions/{subscription}', 'Create a queue subscription (200 when it exists)', (r) => putSubscription(context, r));
  router.add('GET', '/v1/topics/{topic}/subscriptions/{subscription}', 'Describe a queue subscription', ({ res, params }) =>
    sendJson(res, 200, context.broker.describeSubscription(params.topic!, params.subscription!)),
  );
  router.add('DELETE', '/v1/topics/{topic}/subscriptions/{subscription}', 'Delete a queue subscription', async ({ res, params }) => {
    await context.broker.deleteSubscription(params.topic!, params.subscription!);
    await context.queues.forget(params.topic!, params.subscription!);
    sendEmpty(res, 204);
  });
  router.add('GET', '/v1/groups', 'List consumer groups', ({ res }) => sendJson(res, 200, { groups: context.broker.listGroups() }));
  router.add('GET', '/v1/groups/{group}', 'Describe a consumer group (offsets with lag)', ({ res, params }) => sendJson(res, 200, groupJson(context.broker.describeGroup(params.group!))));
  router.add('DELETE', '/v1/groups/{group}', 'Delete a consumer group', async ({ res, params }) => {
    await context.broker.deleteGroup(params.group!);
    sendEmpty(res, 204);
  });
  router.add('POST', '/v1/groups/{group}/reset-offsets', "Move an idle group's committed offsets on a topic", (r) => resetOffsets(context, r));
  router.add('GET', '/v1/dead-letters/{topic}', 'List dead letters with their reasons', (r) => listDeadLetters(context, r), { query: ['partition', 'offset', 'max', 'encoding'] });
  router.add('POST', '/v1/dead-letters/{topic}/replay', 'Replay dead letters to their original topics', (r) => replay(context, r));
}

async function ready(context: HttpContext, { res }: RouteRequest): Promise<void> {
  let ready = !context.closing();
  if (ready) {
    try {
      await context.broker.fetch({ partitions: [], waitMs: 0 }); // throws SHUTTING_DOWN once the broker closes
    } catch {
      ready = false;
    }
  }
  sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'shutting-down' });
}

async function createTopic(context: HttpContext, request: RouteRequest): Promise<void> {
  const body = objectWith(await context.bodies.readJson(request), 'body', ['name', 'partitions', 'config']);
  const name = stringOf(body.name, 'name', 249);
  const config = body.config === undefined ? {} : topicConfigOf(body.config);
  if (body.partitions !== undefined) {
    const partitions = integerIn(body.partitions, 'partitions', 1, 10_000);
    if (config.partitions !== undefined && config.partitions !== partitions) {
      throw new WeirError('INVALID_REQUEST', `partitions ${partitions} and config.partitions ${config.partitions} disagree: give the count once`);
    }
    config.partitions = partitions;
  }
  sendJson(request.res, 201, await context.broker.createTopic(name, config)); // the broker validates each value (INVALID_CONFIG)
}

/** The body is the fields to change, as in TopicConfig (`partitions` included). */
async function alterTopic(context: HttpContext, request: RouteRequest): Promise<void> {
  const changes = topicConfigOf(await context.bodies.readJson(request));
  sendJson(request.res, 200, await context.broker.alterTopic(request.params.topic!, changes));
}

function topicConfigOf(value: unknown): Partial<TopicConfig> {
  const config = { ...plainObject(value, 'config') } as Partial<TopicConfig>; // the broker rejects unknown fields (INVALID_CONFIG)
  if (typeof config.flush === 'string') config.flush = parseFlushPolicy(config.flush);
  return config;
}

const subscriptionFields = ['ackTimeoutMs', 'deliveriesMax', 'backoff', 'deadLetterTopic', 'discard', 'backlogMessagesMax', 'backlogBytesMax', 'overflow', 'keyOrdered', 'startAt'] as const;

/** PUT creates the subscription (201) or applies the given settings to the existing one (200). */
async function putSubscription(context: HttpContext, request: RouteRequest): Promise<void> {
  const { res, params } = request;
  const body = await context.bodies.readOptionalJson(request);
  const config = (body === undefined ? {} : objectWith(body, 'body', subscriptionFields)) as Partial<QueueSubscriptionConfig>;
  const topic = params.topic!;
  const name = params.subscription!;
  let exists = true;
  try {
    context.broker.describeSubscription(topic, name);
  } catch (error) {
    if (!isWeirError(error, 'UNKNOWN_SUBSCRIPTION') && !isWeirError(error, 'UNKNOWN_TOPIC')) throw error;
    exists = false; // creating it creates a missing topic too, where the broker creates topics on first use
  }
  sendJson(res, exists ? 200 : 201, await context.broker.createSubscription(topic, name, config)); // the broker validates each value
}

/**
 * Body: `topic`, then `to` ("earliest", "latest", an offset as a number or decimal string, or an
 * ISO-8601 time) or `shiftBy` (an integer), and optionally `partitions` and `dryRun`.
 */
async function resetOffsets(context: HttpContext, request: RouteRequest): Promise<void> {
  const body = objectWith(await context.bodies.readJson(request), 'body', ['topic', 'to', 'shiftBy', 'partitions', 'dryRun']);
  const topic = stringOf(body.topic, 'topic', 249);
  if ((body.to === undefined) === (body.shiftBy === undefined)) invalid('body', 'exactly one of to and shiftBy');
  const target: OffsetResetTarget = body.to === undefined ? { shiftBy: BigInt(integerIn(body.shiftBy, 'shiftBy', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)) } : { to: resetPosition(body.to) };
  const partitions = body.partitions === undefined ? undefined : arrayOf(body.partitions, 'partitions', 1, 10_000).map((p, i) => integerIn(p, `partitions[${i}]`, 0, 9_999));
  if (body.dryRun !== undefined && typeof body.dryRun !== 'boolean') invalid('dryRun', 'true or false', body.dryRun);
  const dryRun = body.dryRun === true;
  const groupId = request.params.group!;
  const resets = await context.broker.resetGroupOffsets({ groupId, topic, target, dryRun, ...(partitions === undefined ? {} : { partitions }) });
  sendJson(request.res, 200, { groupId, topic, dryRun, resets });
}

function resetPosition(value: unknown): 'earliest' | 'latest' | bigint | { timestampMs: number } {
  if (value === 'earliest' || value === 'latest') return value;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  if (typeof value === 'string' && /^\d{1,19}$/.test(value) && BigInt(value) <= 0x7fff_ffff_ffff_ffffn) return BigInt(value);
  if (typeof value === 'string' && /^\d{4}-\d{2}-\d{2}/.test(value) && !Number.isNaN(Date.parse(value))) return { timestampMs: Date.parse(value) };
  return invalid('to', 'earliest, latest, an offset, or an ISO-8601 time', value);
}

async function listDeadLetters(context: HttpContext, { res, params, query }: RouteRequest): Promise<void> {
  const options: { partition?: number; offset?: bigint; max?: number } = { max: queryInteger(query, 'max', 100, 1, deadLettersReadMax) };
  const partition = queryInteger(query, 'partition', -1, 0, 9_999);
  if (partition >= 0) options.partition = partition;
  const offset = queryOffset(query, 'offset');
  if (offset !== null) options.offset = offset;
  const encoding = queryChoice(query, 'encoding', encodings, 'utf8');
  const letters = await context.broker.listDeadLetters(params.topic!, options);
  sendJson(res, 200, { deadLetters: letters.map((letter) => deadLetterJson(letter, encoding)) });
}

async function replay(context: HttpContext, request: RouteRequest): Promise<void> {
  const { res, params } = request;
  const json = await context.bodies.readOptionalJson(request);
  const body = json === undefined ? {} : objectWith(json, 'body', ['select']);
  let select: { partition: number; offset: bigint }[] | undefined;
  if (body.select !== undefined) {
    select = arrayOf(body.select, 'select', 1, replaySelectMax).map((item, i) => {
      const entry = objectWith(item, `select[${i}]`, ['partition', 'offset']);
      const offset = entry.offset;
      if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) invalid(`select[${i}].offset`, 'a non-negative integer', offset);
      return { partition: integerIn(entry.partition, `select[${i}].partition`, 0, 9_999), offset: BigInt(offset) };
    });
  }
  sendJson(res, 200, await context.broker.replayDeadLetters(params.topic!, select));
}
