/**
 * The producing side of `weir bench`: one Producer per connection, each sending its share with
 * `sendNoWait` in bursts. The window in flight is bounded by the producer's buffer
 * (`windowBytes`); when it is full the loop waits for `ready()`. One latency callback is shared
 * by a burst (its messages count from the burst's start), so no closure is made per message.
 */
import { randomFillSync } from 'node:crypto';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Client, Producer, ProducerMessage, SendCallback } from '../../client/index.js';
import type { WeirError } from '../../util/errors.js';
import { CoarseClock, LatencyRecorder } from './latency.js';

export const produceWorkloadDefaults = {
  /** Messages offered between two turns of the event loop. */
  burstMessages: 2_000,
  // Measured: 4-8 MiB gave the highest acknowledged rate (fsync groups stay full, less queueing).
  windowBytes: 8 * 1024 * 1024,
  /** Bytes at the start of each value in an end-to-end run: the send time (float64 ms). */
  stampBytes: 8,
} as const;

export interface ProduceWorkloadOptions {
  topic: string;
  clients: Client[];
  /** Messages in all (split evenly), or null to run until `deadlineMs`. */
  count: number | null;
  /** `performance.now()` after which no new message is sent. */
  deadlineMs: number;
  messageBytes: number;
  acks: 'none' | 'leader';
  windowBytes: number;
  /** Writes the send time into each value (for end-to-end latency). */
  stampValues: boolean;
}

export interface ProduceTally {
  sent: number;
  acknowledged: number;
  failure: WeirError | null;
  latency: LatencyRecorder;
}

export interface ProduceResult {
  messages: number;
  seconds: number;
  latency: LatencyRecorder;
}

export async function runProducers(options: ProduceWorkloadOptions, tally: ProduceTally): Promise<ProduceResult> {
  const producers = options.clients.map((client) =>
    client.producer({ acks: options.acks, bufferBytesMax: options.windowBytes, lingerMs: 2 }),
  );
  const startedMs = performance.now();
  const quotas = producers.map((_, index) => (options.count === null ? Number.POSITIVE_INFINITY : shareOf(options.count, producers.length, index)));
  await Promise.all(producers.map((producer, index) => produceShare(producer, quotas[index]!, options, tally)));
  await Promise.all(producers.map((producer) => producer.flush()));
  const seconds = (performance.now() - startedMs) / 1000;
  await Promise.all(producers.map((producer) => producer.close()));
  if (tally.failure !== null) throw tally.failure;
  return { messages: tally.acknowledged, seconds, latency: tally.latency };
}

export function shareOf(total: number, parts: number, index: number): number {
  return Math.floor(total / parts) + (index < total % parts ? 1 : 0);
}

async function produceShare(producer: Producer, quota: number, options: ProduceWorkloadOptions, tally: ProduceTally): Promise<void> {
  const value = Buffer.allocUnsafe(options.messageBytes);
  randomFillSync(value);
  const message: ProducerMessage = { value };
  const clock = new CoarseClock();
  // The first message waits for the topic's metadata, so it is sent on its own.
  if (quota > 0) {
    const first: ProducerMessage = { value: Buffer.from(value) };
    if (options.stampValues) first.value = stamped(Buffer.from(value));
    const sentMs = performance.now();
    tally.sent++;
    await producer.send(options.topic, first).then(
      () => acknowledge(tally, performance.now() - sentMs),
      (error: WeirError) => (tally.failure ??= error),
    );
  }
  let sent = 1;
  while (sent < quota && tally.failure === null && performance.now() < options.deadlineMs) {
    const burstStartMs = performance.now();
    // Acknowledgements of one batch arrive in one synchronous run and share one clock reading:
    // they are counted, and recorded once with their count.
    let unrecorded = 0;
    let ackedMs = 0;
    const record = (): void => {
      tally.latency.recordManyMs(ackedMs - burstStartMs, unrecorded);
      unrecorded = 0;
    };
    const onAck: SendCallback = (error) => {
      if (error !== null) {
        tally.failure ??= error;
        return;
      }
      tally.acknowledged++;
      if (unrecorded++ === 0) {
        ackedMs = clock.nowMs();
        queueMicrotask(record);
      }
    };
    const burstEnd = Math.min(quota, sent + produceWorkloadDefaults.burstMessages);
    let full = false;
    while (sent < burstEnd) {
      if (options.stampValues) value.writeDoubleLE(performance.now(), 0);
      if (!producer.sendNoWait(options.topic, message, onAck)) {
        full = true;
        break;
      }
      sent++;
      tally.sent++;
    }
    if (full) await producer.ready();
    else await yieldToEventLoop();
  }
}

function acknowledge(tally: ProduceTally, latencyMs: number): void {
  tally.acknowledged++;
  tally.latency.recordMs(latencyMs);
}

function stamped(value: Buffer): Buffer {
  value.writeDoubleLE(performance.now(), 0);
  return value;
}
