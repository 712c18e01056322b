/**
 * The console's view of the broker's HTTP API (docs/http-api route table): typed JSON shapes and
 * one `request` function. Offsets and timestamps arrive as JSON numbers; keys, values and header
 * values as UTF-8 strings (or null).
 */

export interface TopicConfig {
  partitions: number;
  retentionMs: number | null;
  retentionBytes: number | null;
  flush: unknown;
  messageBytesMax: number;
  segmentBytesMax: number;
  segmentAgeMsMax: number;
  messageTtlMs: number | null;
  timestampAheadMsMax: number | null;
  timestampBehindMsMax: number | null;
  [name: string]: unknown;
}

export interface PartitionState {
  partition: number;
  offsetStart: number;
  offsetEnd: number;
  highWatermark: number;
  sizeBytes: number;
}

export interface Topic {
  name: string;
  internal: boolean;
  config: TopicConfig;
  partitions: PartitionState[];
}

/** Headers come as `{name: value}` or as `[{key, value}]`; `headerList` reads both. */
export type Headers = Record<string, string | null> | { key: string; value: string | null }[];

export interface Message {
  partition: number;
  offset: number;
  timestamp: number;
  key: string | null;
  value: string | null;
  headers?: Headers;
}

export interface GroupSummary {
  groupId: string;
  protocolType: string;
  state: string;
}

export interface GroupMember {
  memberId: string;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  assignment: { topic: string; partitions: number[] }[] | string | null;
}

export interface GroupOffset {
  topic: string;
  partition: number;
  offset: number;
  metadata: string | null;
  highWatermark: number;
  lag: number;
}

export interface Group {
  groupId: string;
  state: string;
  protocolType: string;
  protocolName: string;
  generationId: number;
  members: GroupMember[];
  offsets: GroupOffset[];
}

export interface QueuePartitionState {
  partition: number;
  ackFloor: number;
  backlogMessages: number;
  backlogBytes: number;
  inFlight: number;
  scheduled: number;
}

export interface Subscription {
  topic: string;
  name: string;
  type: 'queue';
  config: { deadLetterTopic: string; deliveriesMax: number; ackTimeoutMs: number; [name: string]: unknown };
  consumers: number;
  backlogMessages: number;
  backlogBytes: number;
  inFlight: number;
  scheduled: number;
  oldestMessageAgeMs: number | null;
  redeliveriesTotal: number;
  deadLettersTotal: number;
  ackedTotal: number;
  deliveryCounts: Record<string, number>;
  partitions: QueuePartitionState[];
}

export interface DeadLetter {
  partition: number;
  offset: number;
  timestamp: number;
  key: string | null;
  value: string | null;
  headers: Headers;
  originalTopic: string;
  originalPartition: number;
  originalOffset: number;
  subscription: string;
  deliveryCount: number;
  reason: string;
  deadLetteredAtMs: number;
}

/** A failed request: the broker's error code and message, or a network failure. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

const requestTimeoutMs = 15_000;

export async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method, headers: { accept: 'application/json' }, signal: AbortSignal.timeout(requestTimeoutMs) };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { ...init.headers, 'content-type': 'application/json' };
  }
  let response: Response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiError(0, 'UNREACHABLE', `the broker did not answer (${(error as Error).message})`);
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let parsed: unknown = undefined;
  try {
    parsed = text.length > 0 ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!response.ok) {
    const error = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
    throw new ApiError(response.status, error?.code ?? `HTTP_${response.status}`, error?.message ?? (text.slice(0, 200) || response.statusText));
  }
  return parsed as T;
}

const segment = encodeURIComponent;

export const api = {
  topics: () => request<{ topics: Topic[] }>('GET', '/v1/topics').then((r) => r.topics),
  topic: (name: string) => request<Topic>('GET', `/v1/topics/${segment(name)}`),
  createTopic: (name: string, partitions: number, config: Partial<TopicConfig>) =>
    request<Topic>('POST', '/v1/topics', { name, partitions, config }),
  /** Only the fields given change; partitions can only grow (400 INVALID_CONFIG names the problem). */
  alterTopic: (name: string, changes: Partial<TopicConfig>) => request<Topic>('PATCH', `/v1/topics/${segment(name)}`, changes),
  deleteTopic: (name: string) => request<void>('DELETE', `/v1/topics/${segment(name)}`),
  browse: (topic: string, partition: number, from: { offset: number } | { timestamp: number }, max: number) => {
    const query = 'offset' in from ? `offset=${from.offset}` : `timestamp=${from.timestamp}`;
    return request<{ messages: Message[] }>('GET', `/v1/topics/${segment(topic)}/partitions/${partition}/messages?${query}&max=${max}`).then((r) => r.messages);
  },
  groups: () => request<{ groups: GroupSummary[] }>('GET', '/v1/groups').then((r) => r.groups),
  group: (groupId: string) => request<Group>('GET', `/v1/groups/${segment(groupId)}`),
  subscriptions: () => request<{ subscriptions: Subscription[] }>('GET', '/v1/subscriptions').then((r) => r.subscriptions),
  deadLetters: (topic: string, options: { partition?: number; offset?: number; max: number }) => {
    const query = new URLSearchParams({ max: String(options.max) });
    if (options.partition !== undefined) query.set('partition', String(options.partition));
    if (options.offset !== undefined) query.set('offset', String(options.offset));
    return request<{ deadLetters: DeadLetter[] }>('GET', `/v1/dead-letters/${segment(topic)}?${query}`).then((r) => r.deadLetters);
  },
  replay: (topic: string, select?: { partition: number; offset: number }[]) =>
    request<{ replayed: number }>('POST', `/v1/dead-letters/${segment(topic)}/replay`, select === undefined ? {} : { select }),
  ready: () => request<{ status: string }>('GET', '/readyz'),
  metricsText: async (): Promise<string | null> => {
    const response = await fetch('/metrics', { signal: AbortSignal.timeout(requestTimeoutMs) });
    return response.ok ? response.text() : null;
  },
};

export function headerList(headers: Headers | undefined): { key: string; value: string | null }[] {
  if (headers === undefined || headers === null) return [];
  if (Array.isArray(headers)) return headers;
  return Object.entries(headers).map(([key, value]) => ({ key, value }));
}

export function errorText(error: unknown): string {
  if (error instanceof ApiError) return error.code.startsWith('HTTP_') || error.code === 'UNREACHABLE' ? error.message : `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}
