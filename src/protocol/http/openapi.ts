/**
 * The OpenAPI 3.1 description served at /openapi.json. Every route of the listener's table is
 * described here, with every status it answers (http-api.test.ts checks both).
 */

const json = (schema: unknown) => ({ 'application/json': { schema } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const ok = (description: string, schema: unknown) => ({ description, content: json(schema) });
const errorResponse = (description: string) => ({ description, content: json(ref('ErrorBody')) });
const pathParam = (name: string, description: string) => ({ name, in: 'path', required: true, description, schema: { type: 'string' } });
const queryParam = (name: string, description: string, schema: unknown = { type: 'string' }, required = false) => ({ name, in: 'query', required, description, schema });

const topicParam = pathParam('topic', 'topic name');
const diskFreeLow = errorResponse('DISK_FREE_LOW: the broker disk has less free space than its minimum (retry-after)');
const subscriptionParam = pathParam('subscription', 'queue subscription name');
const errors = {
  '400': errorResponse('invalid request (INVALID_*, CORRUPT_MESSAGE); the message names the field and the limit'),
  '404': errorResponse('unknown topic, partition, subscription or group (UNKNOWN_*)'),
  '431': errorResponse('the request line and headers exceed 16 KiB (16,384 bytes)'),
  '500': errorResponse('unexpected server error'),
  '503': errorResponse('the broker is shutting down (SHUTTING_DOWN)'),
};
const groupHasMembers = errorResponse('GROUP_NOT_EMPTY: the group has live native or Kafka members (HTTP reads use groups without members)');
const encodingParam = queryParam('encoding', 'keys, values and header values as UTF-8 text or base64', { enum: ['utf8', 'base64'], default: 'utf8' });
/** The query of a consume request; a long poll needs a subscription, a WebSocket or SSE session only for type=queue. */
const subscribeParams = (subscriptionRequired: boolean) => [
  topicParam,
  subscriptionRequired
    ? queryParam('subscription', 'consumer group (type=stream) or queue subscription (type=queue)', { type: 'string', minLength: 1 }, true)
    : queryParam('subscription', 'consumer group (type=stream) or queue subscription (type=queue); required for type=queue; without it a type=stream session follows the topic from its latest offset'),
  queryParam('type', 'stream or queue', { enum: ['stream', 'queue'], default: 'stream' }),
  queryParam('from', 'where a consumer group without committed offsets starts', { enum: ['earliest', 'latest'], default: 'earliest' }),
  encodingParam,
];
const receiptsBody = (extra: Record<string, unknown>, required: string[]) => ({
  required: true,
  content: json({ type: 'object', required: ['receipts', ...required], additionalProperties: false, properties: { receipts: { type: 'array', minItems: 1, maxItems: 10000, items: { type: 'string' } }, ...extra } }),
});
const settle = (summary: string, extra: Record<string, unknown> = {}, required: string[] = []) => ({
  post: {
    summary,
    parameters: [topicParam, subscriptionParam],
    requestBody: receiptsBody(extra, required),
    responses: { '200': ok('one outcome per receipt, null when it was settled', ref('SettleResults')), ...errors },
  },
});

const schemas = {
  Error: {
    type: 'object',
    required: ['code', 'message', 'retriable'],
    properties: { code: { type: 'string', examples: ['QUEUE_FULL'] }, message: { type: 'string' }, retriable: { type: 'boolean' } },
  },
  ErrorBody: { type: 'object', required: ['error'], properties: { error: ref('Error') } },
  ProduceMessage: {
    type: 'object',
    required: ['value'],
    additionalProperties: false,
    properties: {
      key: { type: ['string', 'null'], description: 'picks the partition with Kafka murmur2' },
      value: { type: ['string', 'null'] },
      headers: { type: 'object', additionalProperties: { type: ['string', 'null'] }, maxProperties: 100 },
      partition: { type: 'integer', minimum: 0 },
      delayMs: { type: 'integer', minimum: 0, description: 'becomes weir-deliver-at (queue subscriptions)' },
      ttlMs: { type: 'integer', minimum: 1, description: 'becomes weir-expires-at (queue subscriptions)' },
    },
  },
  ProduceRequest: {
    type: 'object',
    required: ['messages'],
    additionalProperties: false,
    properties: {
      encoding: { enum: ['utf8', 'base64'], default: 'utf8' },
      messages: { type: 'array', minItems: 1, maxItems: 10000, items: ref('ProduceMessage') },
    },
  },
  ProduceResults: {
    type: 'object',
    properties: {
      results: {
        type: 'array',
        items: { type: 'object', properties: { partition: { type: 'integer' }, offset: { type: 'integer' }, error: ref('Error') } },
      },
    },
  },
  Message: {
    type: 'object',
    required: ['partition', 'offset', 'timestamp', 'key', 'value', 'headers'],
    properties: {
      partition: { type: 'integer' },
      offset: { type: 'integer' },
      timestamp: { type: 'integer', description: 'milliseconds since the epoch' },
      key: { type: ['string', 'null'] },
      value: { type: ['string', 'null'] },
      headers: { type: 'object', additionalProperties: { type: ['string', 'null'] } },
      deliveryCount: { type: 'integer', description: 'queue deliveries only' },
      receipt: { type: 'string', description: 'queue deliveries only; opaque, for ack/nack/reject/extend/release' },
    },
  },
  Messages: { type: 'object', required: ['messages'], properties: { messages: { type: 'array', items: ref('Message') } } },
  SettleResults: { type: 'object', properties: { results: { type: 'array', items: { oneOf: [{ type: 'null' }, { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } }] } } } },
  TopicConfig: {
    type: 'object',
    properties: {
      partitions: { type: 'integer', minimum: 1 },
      retentionMs: { type: ['integer', 'null'] },
      retentionBytes: { type: ['integer', 'null'] },
      flush: { oneOf: [{ type: 'string', examples: ['always', 'none', 'interval:100'] }, { type: 'object', properties: { kind: { enum: ['always', 'none', 'interval'] }, intervalMs: { type: 'integer' } } }] },
      messageBytesMax: { type: 'integer' },
      segmentBytesMax: { type: 'integer' },
      segmentAgeMsMax: { type: 'integer' },
      messageTtlMs: { type: ['integer', 'null'], description: 'queue subscriptions expire messages this old' },
      timestampAheadMsMax: { type: ['integer', 'null'], description: "batches dated further ahead of the broker's clock are refused (INVALID_TIMESTAMP); null accepts any" },
      timestampBehindMsMax: { type: ['integer', 'null'], description: "batches with a record dated further behind the broker's clock are refused (INVALID_TIMESTAMP); null (the default) accepts any" },
    },
  },
  TopicDescription: {
    type: 'object',
    properties: {
      name: { type: 'string' },
      internal: { type: 'boolean' },
      config: ref('TopicConfig'),
      partitions: {
        type: 'array',
        items: { type: 'object', properties: { partition: { type: 'integer' }, offsetStart: { type: 'integer' }, offsetEnd: { type: 'integer' }, highWatermark: { type: 'integer' }, sizeBytes: { type: 'integer' } } },
      },
    },
  },
  QueueSubscriptionConfig: {
    type: 'object',
    additionalProperties: false,
    properties: {
      ackTimeoutMs: { type: 'integer' },
      deliveriesMax: { type: 'integer' },
      backoff: { type: 'object', description: "{kind:'fixed',delayMs} or {kind:'exponential',initialMs,maxMs,multiplier,jitter}" },
      deadLetterTopic: { type: 'string' },
      discard: { enum: ['drop', 'dead-letter'] },
      backlogMessagesMax: { type: ['integer', 'null'] },
      backlogBytesMax: { type: ['integer', 'null'] },
      overflow: { enum: ['reject', 'drop-oldest'] },
      keyOrdered: { type: 'boolean' },
      startAt: { enum: ['earliest', 'latest'] },
    },
  },
  SubscriptionDescription: {
    type: 'object',
    description: 'backlog, in-flight, scheduled, oldest message age, redeliveries and dead letters of a queue subscription',
    properties: {
      topic: { type: 'string' },
      name: { type: 'string' },
      type: { const: 'queue' },
      config: ref('QueueSubscriptionConfig'),
      consumers: { type: 'integer' },
      backlogMessages: { type: 'integer' },
      backlogBytes: { type: 'integer' },
      inFlight: { type: 'integer' },
      scheduled: { type: 'integer' },
      oldestMessageAgeMs: { type: ['integer', 'null'] },
      redeliveriesTotal: { type: 'integer', description: 'deliveries of messages delivered before (after a nack, an expired lease or a consumer gone) since the broker started' },
      deadLettersTotal: { type: 'integer' },
      ackedTotal: { type: 'integer' },
      deliveryCounts: { type: 'object', additionalProperties: { type: 'integer' } },
      partitions: { type: 'array', items: { type: 'object' } },
    },
  },
  GroupDescription: {
    type: 'object',
    properties: {
      groupId: { type: 'string' },
      state: { enum: ['Empty', 'PreparingRebalance', 'CompletingRebalance', 'Stable', 'Dead'] },
      protocolType: { type: 'string' },
      protocolName: { type: 'string' },
      generationId: { type: 'integer' },
      members: { type: 'array', items: { type: 'object' } },
      offsets: {
        type: 'array',
        items: { type: 'object', properties: { topic: { type: 'string' }, partition: { type: 'integer' }, offset: { type: 'integer' }, metadata: { type: ['string', 'null'] }, highWatermark: { type: 'integer' }, lag: { type: 'integer' } } },
      },
    },
  },
  DeadLetter: {
    type: 'object',
    description: 'the message as in Message (its partition and offset in the dead-letter topic), then where it came from and why',
    required: ['partition', 'offset', 'timestamp', 'key', 'value', 'headers', 'deliveryCount', 'originalTopic', 'originalPartition', 'originalOffset', 'subscription', 'reason', 'deadLetteredAtMs'],
    properties: {
      partition: { type: 'integer' },
      offset: { type: 'integer' },
      timestamp: { type: 'integer', description: 'milliseconds since the epoch' },
      key: { type: ['string', 'null'] },
      value: { type: ['string', 'null'] },
      headers: { type: 'object', additionalProperties: { type: ['string', 'null'] } },
      originalTopic: { type: 'string' },
      originalPartition: { type: 'integer' },
      originalOffset: { type: 'integer' },
      subscription: { type: 'string' },
      deliveryCount: { type: 'integer' },
      reason: { type: 'string' },
      deadLetteredAtMs: { type: 'integer', description: 'milliseconds since the epoch' },
    },
  },
};

/** Any request may be refused before routing (docs/http-api.md, browser safety). */
const refusedForBrowserSafety = errorResponse('a request a browser sent for another site or origin, or with a Host that is not the broker\'s (INVALID_REQUEST)');
/** What reading a request body may answer (json-body.ts). */
const bodyResponses = {
  '408': errorResponse('TIMEOUT: the body stalled (nothing arrived for 60 s)'),
  '413': errorResponse('MESSAGE_TOO_LARGE: body over 16 MiB'),
  '503': errorResponse('SHUTTING_DOWN; or LIMIT_EXCEEDED: request bodies in memory at their limit and none finished within 60 s (retry-after)'),
};

interface Operation {
  requestBody?: unknown;
  responses: Record<string, unknown>;
}

/** Adds the responses that do not depend on the route: the browser-safety 403, and the body's for operations with one. */
function withCommonResponses<T extends Record<string, Record<string, Operation>>>(paths: T): T {
  for (const item of Object.values(paths)) {
    for (const operation of Object.values(item)) {
      const body = operation.requestBody === undefined ? {} : { '408': bodyResponses['408'], '503': bodyResponses['503'] };
      const tooLarge = operation.requestBody === undefined ? {} : { '413': bodyResponses['413'] };
      operation.responses = { ...tooLarge, ...operation.responses, ...body, '403': refusedForBrowserSafety };
    }
  }
  return paths;
}

export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'Weir HTTP API',
    version: '1',
    description: 'Produce, consume and administer a Weir broker over HTTP; WebSocket and SSE subscriptions for browsers. See docs/http-api.md.',
  },
  paths: withCommonResponses({
    '/healthz': { get: { summary: 'Liveness', responses: { '200': ok('the process serves', { type: 'object', properties: { status: { const: 'ok' } } }) } } },
    '/readyz': {
      get: {
        summary: 'Readiness',
        responses: { '200': ok('the broker is open', { type: 'object' }), '503': ok('shutting down', { type: 'object' }) },
      },
    },
    '/openapi.json': { get: { summary: 'This description', responses: { '200': ok('OpenAPI 3.1', { type: 'object' }) } } },
    '/metrics': { get: { summary: 'Prometheus metrics (text format 0.0.4)', responses: { '200': { description: 'metrics', content: { 'text/plain': { schema: { type: 'string' } } } } } } },
    '/': { get: { summary: 'Redirects to the web console', responses: { '302': { description: 'to /console/' } } } },
    '/console/{path}': {
      get: {
        summary: 'The web console (static files)',
        parameters: [pathParam('path', 'file below the console directory; may span several segments')],
        responses: { '200': { description: 'the file' }, '404': errorResponse('no such file'), '503': { description: 'the console is not built (npm run build): says so and how to build it', content: { 'text/plain': { schema: { type: 'string' } } } } },
      },
    },
    '/demo/chat': { get: { summary: 'Chat-room demo page (WebSocket)', responses: { '200': { description: 'HTML', content: { 'text/html': { schema: { type: 'string' } } } } } } },
    '/v1/topics/{topic}/messages': {
      post: {
        summary: 'Produce messages (answers after the acknowledgement: acks leader, durable under the topic flush policy)',
        parameters: [topicParam],
        requestBody: { required: true, content: json(ref('ProduceRequest')) },
        responses: {
          '200': ok('partition and offset of each message, in request order', ref('ProduceResults')),
          ...errors,
          '413': errorResponse('body over 16 MiB, or a partition batch over the topic messageBytesMax'),
          '429': errorResponse('QUEUE_FULL: a queue subscription is at its backlog limit (retry-after)'),
          '507': diskFreeLow,
        },
      },
      get: {
        summary: 'Long-polling consume: a consumer group (committed before answering) or a queue subscription (with receipts)',
        parameters: [
          ...subscribeParams(true),
          queryParam('max', 'most messages returned', { type: 'integer', minimum: 1, maximum: 10000, default: 100 }),
          queryParam('waitMs', 'wait this long for the first message', { type: 'integer', minimum: 0, maximum: 30000, default: 0 }),
        ],
        responses: {
          '200': ok('messages (possibly none)', ref('Messages')),
          ...errors,
          '409': groupHasMembers,
          '429': errorResponse('LIMIT_EXCEEDED: long polls use too many queue subscriptions at once (retry-after)'),
        },
      },
    },
    '/v1/topics/{topic}/partitions/{partition}/messages': {
      get: {
        summary: 'Browse (peek) a partition without a subscription',
        parameters: [
          topicParam,
          pathParam('partition', 'partition number'),
          queryParam('offset', 'first offset (default the log start)', { type: 'integer', minimum: 0 }),
          queryParam('timestamp', 'first message at or after this time (ms since the epoch)', { type: 'integer', minimum: 0 }),
          queryParam('max', 'most messages returned', { type: 'integer', minimum: 1, maximum: 10000, default: 100 }),
          queryParam('waitMs', 'wait this long for the first message', { type: 'integer', minimum: 0, maximum: 30000, default: 0 }),
          encodingParam,
        ],
        responses: {
          '200': ok('messages and the next offset', { allOf: [ref('Messages'), { type: 'object', properties: { nextOffset: { type: 'integer' }, offsetStart: { type: 'integer' }, highWatermark: { type: 'integer' } } }] }),
          ...errors,
        },
      },
    },
    '/v1/topics/{topic}/subscriptions/{subscription}/ack': settle('Acknowledge queue deliveries'),
    '/v1/topics/{topic}/subscriptions/{subscription}/nack': settle('Return deliveries for redelivery (optionally after delayMs)', { delayMs: { type: 'integer', minimum: 0, maximum: 604800000 } }),
    '/v1/topics/{topic}/subscriptions/{subscription}/reject': settle('Dead-letter deliveries with a reason', { reason: { type: 'string', minLength: 1, description: 'Kept to its first 1,000 characters (UTF-16 code units; a surrogate pair is not split); a longer one is cut, not refused' } }, ['reason']),
    '/v1/topics/{topic}/subscriptions/{subscription}/extend': settle('Extend the leases of deliveries', { extendMs: { type: 'integer', minimum: 1, maximum: 604800000 } }, ['extendMs']),
    '/v1/topics/{topic}/subscriptions/{subscription}/release': settle('Give deliveries back unprocessed: delivered again at once, the delivery not counted'),
    '/v1/topics': {
      get: {
        summary: 'List topics',
        parameters: [queryParam('internal', 'include Weir-internal topics', { enum: ['true', 'false'] })],
        responses: { '200': ok('topics', { type: 'object', properties: { topics: { type: 'array', items: ref('TopicDescription') } } }) },
      },
      post: {
        summary: 'Create a topic',
        requestBody: {
          required: true,
          content: json({ type: 'object', required: ['name'], additionalProperties: false, properties: { name: { type: 'string' }, partitions: { type: 'integer', minimum: 1 }, config: ref('TopicConfig') } }),
        },
        responses: { '201': ok('created', ref('TopicDescription')), ...errors, '409': errorResponse('TOPIC_EXISTS') },
      },
    },
    '/v1/topics/{topic}': {
      get: { summary: 'Describe a topic', parameters: [topicParam], responses: { '200': ok('the topic', ref('TopicDescription')), ...errors } },
      patch: {
        summary: 'Alter a topic: the fields given replace its configuration; a larger partitions adds partitions (it cannot shrink)',
        parameters: [topicParam],
        requestBody: { required: true, content: json(ref('TopicConfig')) },
        responses: { '200': ok('the altered topic', ref('TopicDescription')), ...errors },
      },
      delete: { summary: 'Delete a topic', parameters: [topicParam], responses: { '204': { description: 'deleted' }, ...errors } },
    },
    '/v1/subscriptions': {
      get: {
        summary: 'List queue subscriptions',
        parameters: [queryParam('topic', 'only this topic')],
        responses: { '200': ok('subscriptions', { type: 'object', properties: { subscriptions: { type: 'array', items: ref('SubscriptionDescription') } } }) },
      },
    },
    '/v1/topics/{topic}/subscriptions/{subscription}': {
      put: {
        summary: 'Create a queue subscription (an existing one is returned unchanged)',
        parameters: [topicParam, subscriptionParam],
        requestBody: { required: false, content: json(ref('QueueSubscriptionConfig')) },
        responses: { '201': ok('created', ref('SubscriptionDescription')), '200': ok('it exists', ref('SubscriptionDescription')), ...errors },
      },
      get: { summary: 'Describe a queue subscription', parameters: [topicParam, subscriptionParam], responses: { '200': ok('the subscription', ref('SubscriptionDescription')), ...errors } },
      delete: { summary: 'Delete a queue subscription', parameters: [topicParam, subscriptionParam], responses: { '204': { description: 'deleted' }, ...errors } },
    },
    '/v1/groups': {
      get: {
        summary: 'List consumer groups',
        responses: { '200': ok('groups', { type: 'object', properties: { groups: { type: 'array', items: { type: 'object', properties: { groupId: { type: 'string' }, protocolType: { type: 'string' }, state: { type: 'string' } } } } } }) },
      },
    },
    '/v1/groups/{group}': {
      get: { summary: 'Describe a consumer group (offsets with lag)', parameters: [pathParam('group', 'group id')], responses: { '200': ok('the group', ref('GroupDescription')), ...errors } },
      delete: {
        summary: 'Delete a consumer group',
        parameters: [pathParam('group', 'group id')],
        responses: { '204': { description: 'deleted' }, ...errors, '409': errorResponse('GROUP_NOT_EMPTY: the group has live members') },
      },
    },
    '/v1/groups/{group}/reset-offsets': {
      post: {
        summary: "Move an idle group's committed offsets on a topic (all partitions or none)",
        parameters: [pathParam('group', 'group id')],
        requestBody: {
          required: true,
          content: json({
            type: 'object',
            additionalProperties: false,
            required: ['topic'],
            properties: {
              topic: { type: 'string' },
              to: { description: 'earliest, latest, an offset (number or decimal string), or an ISO-8601 time (the first message at or after it); give to or shiftBy', oneOf: [{ type: 'string' }, { type: 'integer', minimum: 0 }] },
              shiftBy: { type: 'integer', description: 'moves each committed offset by this many (negative: back)' },
              partitions: { type: 'array', items: { type: 'integer', minimum: 0 }, description: "default: every partition of the topic" },
              dryRun: { type: 'boolean', default: false, description: 'work the offsets out and commit nothing' },
            },
          }),
        },
        responses: {
          '200': ok('the new offsets (clamped into the log, with a note where they were)', {
            type: 'object',
            properties: {
              groupId: { type: 'string' },
              topic: { type: 'string' },
              dryRun: { type: 'boolean' },
              resets: { type: 'array', items: { type: 'object', properties: { partition: { type: 'integer' }, previous: { type: ['integer', 'null'] }, offset: { type: 'integer' }, note: { type: ['string', 'null'] } } } },
            },
          }),
          ...errors,
          '409': errorResponse('GROUP_NOT_EMPTY: the group has live members (they would commit over the reset)'),
        },
      },
    },
    '/v1/dead-letters/{topic}': {
      get: {
        summary: 'List dead letters with their reasons',
        parameters: [
          pathParam('topic', 'dead-letter topic'),
          queryParam('partition', 'only this partition', { type: 'integer', minimum: 0 }),
          queryParam('offset', 'from this offset', { type: 'integer', minimum: 0 }),
          queryParam('max', 'most returned', { type: 'integer', minimum: 1, maximum: 1000, default: 100 }),
          encodingParam,
        ],
        responses: { '200': ok('dead letters', { type: 'object', properties: { deadLetters: { type: 'array', items: ref('DeadLetter') } } }), ...errors },
      },
    },
    '/v1/dead-letters/{topic}/replay': {
      post: {
        summary: 'Replay dead letters to their original topics (all when select is omitted)',
        parameters: [pathParam('topic', 'dead-letter topic')],
        requestBody: {
          required: false,
          content: json({ type: 'object', additionalProperties: false, properties: { select: { type: 'array', items: { type: 'object', required: ['partition', 'offset'], properties: { partition: { type: 'integer' }, offset: { type: 'integer' } } } } } }),
        },
        responses: { '200': ok('how many were replayed', { type: 'object', properties: { replayed: { type: 'integer' } } }), ...errors, '507': diskFreeLow },
      },
    },
    '/v1/topics/{topic}/ws': {
      get: {
        summary: 'WebSocket subscription (credit flow control; produce and settle frames)',
        description: 'Server → client: {"type":"messages","messages":[...]}, {"type":"produced"|"settled","id","results"}, {"type":"error","id","error"}. Client → server: {"type":"credit","credits":N}, {"type":"ack"|"nack"|"reject"|"extend"|"release","receipts":[...]}, {"type":"produce","messages":[...]}.',
        parameters: subscribeParams(false),
        responses: { '101': { description: 'switching to the WebSocket protocol' }, '426': errorResponse('not a WebSocket upgrade'), ...errors, '409': groupHasMembers },
      },
    },
    '/v1/topics/{topic}/events': {
      get: {
        summary: 'Server-Sent Events subscription (queue deliveries are acknowledged on send)',
        description: 'Without a subscription, the last event of each write has as its id every partition\'s next offset (PARTITION:OFFSET,...); a Last-Event-ID of that form resumes there.',
        parameters: [
          ...subscribeParams(false),
          { name: 'Last-Event-ID', in: 'header', required: false, schema: { type: 'string' }, description: 'Where a stream without a subscription goes on from (sent by a reconnecting EventSource).' },
        ],
        responses: { '200': { description: 'event: message, data: a Message', content: { 'text/event-stream': { schema: { type: 'string' } } } }, ...errors, '409': groupHasMembers },
      },
    },
  }),
  components: { schemas },
};
