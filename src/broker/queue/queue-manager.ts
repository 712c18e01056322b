/**
 * Every queue subscription of the broker: creation and deletion, recovery from the queue state
 * log, the hooks the produce path calls (backlog admission), lease expiry, checkpoint rounds,
 * and the dead-letter tools.
 */
import { decodeBatches, decompressedBytesMax } from '../../format/record-batch.js';
import { SharedByteBudget } from '../../util/byte-budget.js';
import { WeirError, asWeirError } from '../../util/errors.js';
import { metrics } from '../../util/metrics.js';
import type { Partition } from '../partition.js';
import type {
  DeadLetter,
  QueueConsumer,
  QueueConsumerOptions,
  QueueSettleFailure,
  QueueSettlement,
  QueueSubscriptionConfig,
  SubscriptionDescription,
} from '../types.js';
import { deadLetterOf, replayBatch } from './dead-letters.js';
import { queueConfigDefaults, resolveQueueConfig, validateSubscriptionName } from './queue-config.js';
import { validateUserTopicName } from '../topic-config.js';
import { QueueStateLog, applyEvents, type RecoveredSubscription } from './queue-state-log.js';
import { LeaseMemory, leaseMemoryDefaults } from './lease-memory.js';
import { windowMemoryDefaults } from './queue-partition.js';
import { QueueSubscription, type QueueHost } from './queue-subscription.js';

export const subscriptionsMax = 10_000;
export const settlementsPerRequestMax = 100_000;
export const deadLettersListMax = 10_000;
/** Missing dead letters a replay's refusal names (the rest are counted). */
const missingNamedMax = 10;
const leaseSweepIntervalMs = 50;
const checkpointIntervalMs = 10_000;
const readBytes = 4 * 1024 * 1024;
const windowMemoryBytes = metrics
  .gauge({ name: 'weir_queue_window_memory_bytes', help: "Bytes of the log that the queue subscriptions' windows hold in memory, all of them together", labelNames: [] })
  .series({});
const windowMemoryBytesMax = metrics
  .gauge({ name: 'weir_queue_window_memory_max_bytes', help: "The bound on the queue windows' memory (weir start --queue-window-memory-bytes)", labelNames: [] })
  .series({});
const leaseMemoryBytes = metrics
  .gauge({ name: 'weir_queue_lease_memory_bytes', help: 'Bytes of the messages that queue consumers hold leased (delivered, not yet settled), all of them together', labelNames: [] })
  .series({});
const leaseMemoryBytesMax = metrics
  .gauge({ name: 'weir_queue_lease_memory_max_bytes', help: "The bound on the queue consumers' leased bytes (weir start --queue-lease-memory-bytes)", labelNames: [] })
  .series({});

export interface QueueManagerOptions {
  /** The bound on what every subscription's windows hold of the log together (default windowMemoryDefaults.bytesMax). */
  windowMemoryBytesMax?: number;
  /** The bound on what every subscription's consumers hold leased together (default leaseMemoryDefaults.bytesMax). */
  leaseMemoryBytesMax?: number;
}

export interface QueueManagerHost extends QueueHost {
  /** The partitions of an existing topic. */
  partitions(topic: string): Partition[] | undefined;
  /** The partitions of a topic, created by the broker's auto-creation rules when missing. */
  ensureTopic(topic: string): Promise<Partition[]>;
  /** Produces through the broker's normal path (admission, limits). */
  produce(topic: string, partition: number, batch: Buffer): Promise<{ offset: bigint }>;
}

export class QueueManager {
  readonly #host: QueueManagerHost;
  readonly #state: QueueStateLog;
  /** What every subscription's windows hold of the log, bounded together (queue-partition.ts). */
  readonly #windowMemory: SharedByteBudget;
  /** What every subscription's consumers hold leased, bounded together (lease-memory.ts). */
  readonly #leaseMemory: LeaseMemory;
  /** topic → subscription name → subscription */
  readonly #topics = new Map<string, Map<string, QueueSubscription>>();
  readonly #timers: NodeJS.Timeout[] = [];
  #checkpointedAt = -1n;
  #checkpointing = false;
  #closed = false;

  private constructor(host: QueueManagerHost, state: QueueStateLog, options: QueueManagerOptions) {
    this.#host = host;
    this.#state = state;
    this.#windowMemory = new SharedByteBudget({ ...windowMemoryDefaults, bytesMax: options.windowMemoryBytesMax ?? windowMemoryDefaults.bytesMax });
    windowMemoryBytesMax.set(this.#windowMemory.bytesMax);
    this.#leaseMemory = new LeaseMemory({ ...leaseMemoryDefaults, bytesMax: options.leaseMemoryBytesMax ?? leaseMemoryDefaults.bytesMax });
    leaseMemoryBytesMax.set(this.#leaseMemory.bytesMax);
  }

  static async open(statePartition: Partition, host: QueueManagerHost, options: QueueManagerOptions = {}): Promise<QueueManager> {
    const manager = new QueueManager(host, new QueueStateLog(statePartition), options);
    await manager.#recover();
    const sweep = setInterval(() => manager.#sweep(), leaseSweepIntervalMs);
    const checkpoint = setInterval(() => void manager.checkpointRound(), checkpointIntervalMs);
    sweep.unref();
    checkpoint.unref();
    manager.#timers.push(sweep, checkpoint);
    return manager;
  }

  async #recover(): Promise<void> {
    const recovered = await this.#state.replay();
    for (const [key, subscription] of recovered) {
      const sources = this.#host.partitions(subscription.topic);
      if (sources === undefined) {
        this.#state.put(key, null);
        continue;
      }
      await this.#scanDeadLetters(subscription);
      this.#add(new QueueSubscription({ ...subscription, sources, host: this.#host, state: this.#state, windowMemory: this.#windowMemory, leaseMemory: this.#leaseMemory, recovered: subscription }));
    }
    if (recovered.size > 0) await this.checkpointRound(true);
  }

  /**
   * Finds the letters this subscription wrote after the state log last heard of one (a crash
   * between writing a letter and recording it) and counts those messages as settled.
   */
  async #scanDeadLetters(subscription: RecoveredSubscription): Promise<void> {
    const partitions = this.#host.partitions(subscription.config.deadLetterTopic);
    if (partitions === undefined) return;
    for (const partition of partitions) {
      const log = partition.log;
      let offset = subscription.dlq.get(partition.index) ?? log.offsetStart;
      if (offset < log.offsetStart) offset = log.offsetStart;
      while (offset < log.highWatermark) {
        const records = decodeBatches(await log.read(offset, readBytes), { decompressedBytesMax, offsetMin: offset });
        if (records.length === 0) break;
        for (const record of records) {
          offset = record.offset + 1n;
          const letter = deadLetterOf(partition.index, record);
          if (letter === null || letter.subscription !== subscription.name || letter.originalTopic !== subscription.topic) continue;
          const from = letter.originalOffset.toString();
          const to = (letter.originalOffset + 1n).toString();
          applyEvents(subscription, { k: 'e', p: letter.originalPartition, s: [[from, to]], d: [[partition.index, record.offset.toString()]] });
        }
      }
    }
  }

  #add(subscription: QueueSubscription): void {
    let byName = this.#topics.get(subscription.topic);
    if (byName === undefined) this.#topics.set(subscription.topic, (byName = new Map()));
    byName.set(subscription.name, subscription);
    subscription.start();
  }

  #get(topic: string, name: string): QueueSubscription {
    const subscription = this.#topics.get(topic)?.get(name);
    if (subscription === undefined) {
      validateSubscriptionName(name);
      if (this.#host.partitions(topic) === undefined) throw new WeirError('UNKNOWN_TOPIC', `topic ${topic} does not exist (so it has no queue subscription ${name})`);
      throw new WeirError('UNKNOWN_SUBSCRIPTION', `topic ${topic} has no queue subscription ${name}`);
    }
    return subscription;
  }

  get #count(): number {
    let count = 0;
    for (const byName of this.#topics.values()) count += byName.size;
    return count;
  }

  // --- administration ------------------------------------------------------------------------

  /** Creates the subscription, or updates an existing one's settings; returns its description. */
  async create(topic: string, name: string, overrides: Partial<QueueSubscriptionConfig> = {}): Promise<SubscriptionDescription> {
    this.#checkOpen();
    validateSubscriptionName(name);
    validateUserTopicName(topic); // Weir's own topics take no subscriptions
    const existing = this.#topics.get(topic)?.get(name);
    if (existing !== undefined) {
      const config = resolveQueueConfig(topic, overrides, existing.config);
      if (config.keyOrdered !== existing.config.keyOrdered) {
        throw new WeirError('INVALID_CONFIG', `keyOrdered cannot change on the existing subscription ${name}; delete it and create it again`);
      }
      // Where a subscription starts is where its window began reading when it was created; moving
      // it afterwards would be a seek of its state, not a setting.
      if (config.startAt !== existing.config.startAt) {
        throw new WeirError(
          'INVALID_CONFIG',
          `startAt cannot change on the existing subscription ${name} of topic ${topic}: it started at ${existing.config.startAt} when it was created; delete it and create it again to start at ${config.startAt}`,
        );
      }
      const before = { ...existing.config };
      Object.assign(existing.config, config);
      this.#state.put(existing.key, () => existing.checkpoint());
      try {
        await this.#state.flushed();
      } catch (error) {
        Object.assign(existing.config, before); // not stored: in force only until a restart otherwise
        throw error;
      }
      return existing.describe();
    }
    const config = resolveQueueConfig(topic, overrides, queueConfigDefaults(topic, name));
    const sources = await this.#host.ensureTopic(topic);
    if (this.#count >= subscriptionsMax) throw new WeirError('LIMIT_EXCEEDED', `the broker holds the maximum of ${subscriptionsMax} queue subscriptions`);
    const raced = this.#topics.get(topic)?.get(name);
    if (raced !== undefined) return raced.describe();
    const dlq = new Map<number, bigint>();
    for (const partition of this.#host.partitions(config.deadLetterTopic) ?? []) dlq.set(partition.index, partition.log.offsetEnd);
    const subscription = new QueueSubscription({ topic, name, config, sources, host: this.#host, state: this.#state, windowMemory: this.#windowMemory, leaseMemory: this.#leaseMemory });
    for (const [p, o] of dlq) subscription.dlqPositions.set(p, o);
    this.#add(subscription);
    this.#state.put(subscription.key, () => subscription.checkpoint());
    try {
      await this.#state.flushed();
    } catch (error) {
      // Not stored (say DISK_FULL): gone now as it would be after a restart.
      if (this.#topics.get(topic)?.get(name) === subscription) this.#remove(subscription, 'could not be stored');
      throw error;
    }
    this.#host.logger('info', `created queue subscription ${name} on topic ${topic}`);
    return subscription.describe();
  }

  async delete(topic: string, name: string): Promise<void> {
    this.#checkOpen();
    const subscription = this.#get(topic, name);
    this.#remove(subscription, 'was deleted');
    await this.#state.flushed();
    this.#host.logger('info', `deleted queue subscription ${name} of topic ${topic}`);
  }

  #remove(subscription: QueueSubscription, what: string): void {
    subscription.close(new WeirError('UNKNOWN_SUBSCRIPTION', `subscription ${subscription.name} of topic ${subscription.topic} ${what}`));
    this.#topics.get(subscription.topic)?.delete(subscription.name);
    if (this.#topics.get(subscription.topic)?.size === 0) this.#topics.delete(subscription.topic);
    this.#state.put(subscription.key, null);
  }

  /** The topic is gone: so are its subscriptions. */
  topicDeleted(topic: string): void {
    for (const subscription of [...(this.#topics.get(topic)?.values() ?? [])]) this.#remove(subscription, 'was deleted with its topic');
    void this.#state.flushed().catch(() => {});
  }

  /** The topic grew: its subscriptions deliver the new partitions' messages too. */
  partitionsAdded(topic: string, sources: readonly Partition[]): void {
    for (const subscription of this.#topics.get(topic)?.values() ?? []) {
      subscription.addPartitions(sources);
      this.#state.put(subscription.key, () => subscription.checkpoint());
    }
  }

  list(topic?: string): SubscriptionDescription[] {
    const topics = topic === undefined ? [...this.#topics.keys()].sort() : [topic];
    return topics.flatMap((t) => [...(this.#topics.get(t)?.values() ?? [])].sort((a, b) => (a.name < b.name ? -1 : 1)).map((s) => s.describe()));
  }

  describe(topic: string, name: string): SubscriptionDescription {
    return this.#get(topic, name).describe();
  }

  // --- consuming -----------------------------------------------------------------------------

  async openConsumer(options: QueueConsumerOptions): Promise<QueueConsumer> {
    this.#checkOpen();
    validateSubscriptionName(options.subscription);
    let subscription = this.#topics.get(options.topic)?.get(options.subscription);
    if (subscription === undefined) {
      await this.create(options.topic, options.subscription, options.config ?? {});
      subscription = this.#get(options.topic, options.subscription);
    }
    return subscription.openConsumer(options);
  }

  async settle(topic: string, name: string, settlements: QueueSettlement[], quiet = false): Promise<QueueSettleFailure[]> {
    this.#checkOpen();
    let messages = 0;
    for (const settlement of settlements) {
      const count = settlement.count ?? 1;
      // A release of nothing is how a consumer with nothing to give back stops its deliveries (the
      // front end does that for any release); it settles nothing.
      const countMin = settlement.action === 'release' ? 0 : 1;
      if (!Number.isSafeInteger(count) || count < countMin) {
        throw new WeirError('INVALID_REQUEST', `settlement count ${count} is invalid: expected ${countMin} or more for ${settlement.action}`);
      }
      messages += count;
    }
    if (messages > settlementsPerRequestMax) {
      throw new WeirError('INVALID_REQUEST', `at most ${settlementsPerRequestMax} messages may be settled per request, got ${messages}`);
    }
    return this.#get(topic, name).settle(settlements, quiet);
  }

  // --- the produce path ----------------------------------------------------------------------

  /** Throws QUEUE_FULL when a `reject` subscription of the topic cannot take the batch. */
  admit(topic: string, messages: number, bytes: number): void {
    const byName = this.#topics.get(topic);
    if (byName === undefined) return;
    for (const subscription of byName.values()) subscription.admit(messages, bytes);
  }

  hasSubscriptions(topic: string): boolean {
    return this.#topics.has(topic);
  }

  appended(topic: string, partition: number, bytes: number): void {
    const byName = this.#topics.get(topic);
    if (byName === undefined) return;
    for (const subscription of byName.values()) subscription.appended(partition, bytes);
  }

  // --- dead letters --------------------------------------------------------------------------

  async listDeadLetters(topic: string, options: { partition?: number; offset?: bigint; max?: number } = {}): Promise<DeadLetter[]> {
    const partitions = this.#host.partitions(topic);
    if (partitions === undefined) throw new WeirError('UNKNOWN_TOPIC', `topic ${topic} does not exist`);
    if (options.partition !== undefined && !partitions.some((p) => p.index === options.partition)) {
      throw new WeirError('UNKNOWN_PARTITION', `topic ${topic} has no partition ${options.partition} (it has ${partitions.length})`);
    }
    const max = options.max ?? 100;
    if (!Number.isSafeInteger(max) || max < 1 || max > deadLettersListMax) {
      throw new WeirError('INVALID_REQUEST', `max ${max} is invalid: expected 1 to ${deadLettersListMax}`);
    }
    const letters: DeadLetter[] = [];
    for (const partition of partitions) {
      if (options.partition !== undefined && partition.index !== options.partition) continue;
      const log = partition.log;
      let offset = options.offset ?? log.offsetStart;
      if (offset < log.offsetStart) offset = log.offsetStart;
      while (offset < log.highWatermark && letters.length < max) {
        const records = decodeBatches(await log.read(offset, readBytes), { decompressedBytesMax, offsetMin: offset });
        if (records.length === 0) break;
        for (const record of records) {
          offset = record.offset + 1n;
          const letter = deadLetterOf(partition.index, record);
          if (letter !== null && letters.length < max) letters.push(letter);
        }
      }
    }
    return letters;
  }

  async replayDeadLetters(topic: string, select?: { partition: number; offset: bigint }[]): Promise<{ replayed: number }> {
    this.#checkOpen();
    const partitions = this.#host.partitions(topic);
    if (partitions === undefined) throw new WeirError('UNKNOWN_TOPIC', `topic ${topic} does not exist`);
    // The selected letters not yet found, as P:O in the order given (what is left is missing).
    const wanted = select === undefined ? null : new Set(select.map((s) => `${s.partition}:${s.offset}`));
    let replayed = 0;
    for (const partition of partitions) {
      const log = partition.log;
      let offset = log.offsetStart;
      const end = log.highWatermark;
      while (offset < end && (wanted === null || wanted.size > 0)) {
        const records = decodeBatches(await log.read(offset, readBytes), { decompressedBytesMax, offsetMin: offset });
        if (records.length === 0) break;
        for (const record of records) {
          if (record.offset >= end) break;
          offset = record.offset + 1n;
          if (wanted !== null && !wanted.delete(`${partition.index}:${record.offset}`)) continue;
          const letter = deadLetterOf(partition.index, record);
          if (letter === null) {
            if (wanted !== null) throw new WeirError('INVALID_REQUEST', `${topic}/${partition.index}@${record.offset} is not a dead letter`);
            continue;
          }
          try {
            await this.#host.produce(letter.originalTopic, letter.originalPartition, replayBatch(letter));
          } catch (error) {
            const failure = asWeirError(error);
            const count = `${replayed} dead letter${replayed === 1 ? '' : 's'}`;
            throw new WeirError(failure.code, `replayed ${count} from ${topic} before the one at ${partition.index}:${record.offset} failed: ${failure.message}`, {
              cause: failure,
              retriable: failure.retriable,
            });
          }
          replayed++;
        }
      }
    }
    if (wanted !== null && wanted.size > 0) {
      const missing = [...wanted];
      const named = missing.slice(0, missingNamedMax).join(', ') + (missing.length > missingNamedMax ? ` and ${missing.length - missingNamedMax} more` : '');
      const verb = missing.length === 1 ? 'does' : 'do';
      throw new WeirError('INVALID_REQUEST', `${missing.length} of the selected dead letters of ${topic} ${verb} not exist: ${named} (replayed ${replayed})`);
    }
    return { replayed };
  }

  // --- background ----------------------------------------------------------------------------

  #sweep(): void {
    const now = Date.now();
    for (const byName of this.#topics.values()) for (const subscription of byName.values()) subscription.sweepLeases(now);
    windowMemoryBytes.set(this.#windowMemory.held);
    leaseMemoryBytes.set(this.#leaseMemory.held);
    void this.#state.flushed().catch((error) => this.#host.logger('error', `recording expired leases failed: ${String(error)}`));
  }

  /**
   * Writes a checkpoint of every subscription, then drops the state log's segments that hold
   * only records older than the round. Skipped when nothing was recorded since the last round.
   */
  async checkpointRound(force = false): Promise<void> {
    const log = this.#state.log;
    if (this.#checkpointing || this.#closed || (!force && log.offsetEnd === this.#checkpointedAt)) return;
    this.#checkpointing = true;
    try {
      for (const byName of this.#topics.values()) {
        for (const subscription of byName.values()) this.#state.put(subscription.key, () => subscription.checkpoint());
      }
      const baseOffset = await this.#state.flushed();
      this.#checkpointedAt = log.offsetEnd;
      await log.deleteBefore(baseOffset);
    } catch (error) {
      this.#host.logger('error', `queue state checkpoint failed: ${String(error)}`);
    } finally {
      this.#checkpointing = false;
    }
  }

  #checkOpen(): void {
    if (this.#closed) throw new WeirError('SHUTTING_DOWN', 'the broker is shutting down');
  }

  /** Writes a last checkpoint and stops; consumers' leases are not counted as failures. */
  async close(): Promise<void> {
    if (this.#closed) return;
    for (const timer of this.#timers) clearInterval(timer);
    for (const byName of this.#topics.values()) for (const subscription of byName.values()) subscription.close();
    await this.checkpointRound(true);
    this.#closed = true;
  }
}

