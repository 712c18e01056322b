/**
 * Live throughput: polls GET /v1/topics once a second and differentiates each partition's
 * `offsetEnd` (messages appended) and `sizeBytes` (bytes stored) between two samples. Only
 * partitions present in both samples count, so a new topic is not a spike; a size that shrinks
 * (retention deleted a segment) counts as zero, not as negative throughput.
 *
 * One sampler serves the whole app, so the charts keep their history while the user visits
 * other pages; the history is bounded at `historyPointsMax` points.
 */
import { api, errorText, type Topic } from './api.js';

export const sampleIntervalMs = 1000;
export const historyPointsMax = 180;

export interface RatePoint {
  timeMs: number;
  messagesPerSecond: number;
  bytesPerSecond: number;
}

export interface TopicRate {
  messagesPerSecond: number;
  bytesPerSecond: number;
}

export interface ThroughputState {
  history: RatePoint[];
  /** The latest topic list, or null before the first answer. */
  topics: Topic[] | null;
  byTopic: Map<string, TopicRate>;
  error: string | null;
}

export interface Sample {
  timeMs: number;
  partitions: Map<string, { offsetEnd: number; sizeBytes: number }>;
}

type Listener = (state: ThroughputState) => void;

const listeners = new Set<Listener>();
let state: ThroughputState = { history: [], topics: null, byTopic: new Map(), error: null };
let previous: Sample | null = null;
let running = false;

export function sampleOf(topics: Topic[], timeMs: number): Sample {
  const partitions = new Map<string, { offsetEnd: number; sizeBytes: number }>();
  for (const topic of topics) {
    for (const p of topic.partitions) partitions.set(`${topic.name}\u0000${p.partition}`, { offsetEnd: p.offsetEnd, sizeBytes: p.sizeBytes });
  }
  return { timeMs, partitions };
}

export function ratesBetween(before: Sample, after: Sample): { total: TopicRate; byTopic: Map<string, TopicRate> } {
  const seconds = Math.max((after.timeMs - before.timeMs) / 1000, 0.001);
  const byTopic = new Map<string, TopicRate>();
  const total = { messagesPerSecond: 0, bytesPerSecond: 0 };
  for (const [key, now] of after.partitions) {
    const then = before.partitions.get(key);
    if (then === undefined) continue;
    const messages = Math.max(now.offsetEnd - then.offsetEnd, 0) / seconds;
    const bytes = Math.max(now.sizeBytes - then.sizeBytes, 0) / seconds;
    const topic = key.slice(0, key.indexOf('\u0000'));
    const rate = byTopic.get(topic) ?? { messagesPerSecond: 0, bytesPerSecond: 0 };
    rate.messagesPerSecond += messages;
    rate.bytesPerSecond += bytes;
    byTopic.set(topic, rate);
    total.messagesPerSecond += messages;
    total.bytesPerSecond += bytes;
  }
  return { total, byTopic };
}

async function poll(): Promise<void> {
  try {
    const topics = await api.topics();
    const sample = sampleOf(topics, performance.now());
    let { history, byTopic } = state;
    if (previous !== null) {
      const rates = ratesBetween(previous, sample);
      history = [...history, { timeMs: Date.now(), ...rates.total }].slice(-historyPointsMax);
      byTopic = rates.byTopic;
    }
    previous = sample;
    state = { history, topics, byTopic, error: null };
  } catch (error) {
    previous = null;
    state = { ...state, error: errorText(error) };
  }
  for (const listener of listeners) listener(state);
}

function loop(): void {
  running = true;
  void poll().finally(() => {
    if (listeners.size > 0) setTimeout(loop, sampleIntervalMs);
    else running = false;
  });
}

/** Calls `listener` with every new sample; polling runs while anybody listens. */
export function subscribeThroughput(listener: Listener): () => void {
  listeners.add(listener);
  listener(state);
  if (!running) loop();
  return () => {
    listeners.delete(listener);
  };
}
