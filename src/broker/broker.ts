/**
 * The broker core: topics and their partitions, producing, long-polling fetches, offsets, and
 * consumer groups. Protocol front ends call it through `BrokerApi` and contain no broker logic.
 *
 * Data directory layout (docs/format/data-directory.md):
 *   <dataDir>/.lock                           the running broker's PID, start time and boot (data-dir-lock.ts)
 *   <dataDir>/broker.json                     the cluster id and producer id allocation
 *   <dataDir>/topics/<topic>/topic.json       the topic's configuration
 *   <dataDir>/topics/<topic>/<n>/             partition n's log (segments and indexes)
 *   <dataDir>/topics/<topic>/<n>.producers.json  idempotent-producer snapshot of partition n
 * A topic exists when its `topic.json` does: creation makes the partitions first and writes
 * `topic.json` last (synced, with its directory entry), deletion removes `topic.json` first. A
 * topic directory without it is a creation or deletion a crash interrupted, removed at start, so a
 * crash at any step leaves either the whole topic or none of it. Every file the broker writes
 * goes through the storage file system (`BrokerOptions.fileSystem`), so that the same steps can be
 * tested against a simulated power loss.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { batchOffsets, batchPositions } from '../format/record-batch.js';
import type { LogConfig } from '../storage/config.js';
import { nodeFileSystem, readWholeFile, writeFileAtomic, type FileSystem } from '../storage/file-system.js';
import { HandlePool } from '../storage/handle-pool.js';
import { errorMessageOf } from '../storage/storage-errors.js';
import { bytesToValidate } from '../storage/recovery.js';
import type { AppendOptions } from '../storage/partition-log.js';
import { forEachBounded } from '../util/bounded-concurrency.js';
import { isWeirError, WeirError } from '../util/errors.js';
import { metrics } from '../util/metrics.js';
import { lockDataDir, type DataDirLock } from './data-dir-lock.js';
import { GroupCoordinator, validateGroupId } from './group-coordinator.js';
import { resetGroupOffsets } from './offset-reset.js';
import { mebibytes, StartProgress, startProgressIntervalMsDefault } from './start-progress.js';
import { OffsetStore, offsetMetadataBytesMax, offsetsCompactAfterBytesDefault, offsetsTopic } from './offset-store.js';
import { Partition } from './partition.js';
import { deadLetterHeadersBytesMax } from './queue/dead-letters.js';
import { QueueManager } from './queue/queue-manager.js';
import { windowMemoryDefaults } from './queue/queue-partition.js';
import { leaseMemoryDefaults } from './queue/lease-memory.js';
import { queueStateTopic } from './queue/queue-state-log.js';
import { logConfigOf, messageBytesMaxLimit, resolveTopicConfig, segmentBytesMaxLimit, segmentBytesMin, topicConfigDefaults, validateTopicName, validateUserTopicName } from './topic-config.js';
import type {
  BrokerApi,
  CommittedOffset,
  DeadLetter,
  FetchPartitionResult,
  FetchRequest,
  GroupDescription,
  GroupStateName,
  GroupMemberRef,
  JoinGroupRequest,
  JoinGroupResult,
  ListedOffset,
  OffsetCommitEntry,
  OffsetReset,
  OffsetResetRequest,
  OffsetSpec,
  ProduceRequest,
  ProduceResult,
  QueueBrokerApi,
  QueueConsumer,
  QueueConsumerOptions,
  QueueSettleFailure,
  QueueSettlement,
  QueueSubscriptionConfig,
  SubscriptionDescription,
  SyncGroupRequest,
  TopicConfig,
  TopicDescription,
} from './types.js';
import type { Logger } from '../util/logger.js';

export type { Logger };

export interface BrokerOptions {
  dataDir: string;
  /** Create a topic with `defaultTopicConfig` on first produce or fetch (default true). */
  autoCreateTopics?: boolean;
  defaultTopicConfig?: Partial<TopicConfig>;
  /** How often retention runs over every partition (default 30 s). */
  retentionCheckIntervalMs?: number;
  /** Growth of `__consumer_offsets` that starts a compaction (default 16 MiB; see offset-store.ts). */
  offsetsCompactAfterBytes?: number;
  logger?: Logger;
  /**
   * Where the broker keeps its files: the machine's file system by default. Tests pass a
   * crash-simulating one; with any file system but the default the data directory is not locked.
   */
  fileSystem?: FileSystem;
  /**
   * A partition whose log is damaged before its durable end (a bad CRC in a sealed segment, a
   * segment cut short) opens cut at the damage, dropping what follows, instead of stopping the
   * start (default false: damage stops the start with CORRUPT_MESSAGE naming the file).
   */
  repair?: boolean;
  /**
   * Produces to user topics are refused with DISK_FREE_LOW (retriable) while the file system
   * holding the data directory has fewer free bytes than this, so that a filling disk stops
   * producers cleanly, before a write fails and fences its partition. Consumers, commits, queue
   * settlements and dead-lettering go on. 0 turns the check off (default 128 MiB).
   */
  diskFreeMinBytes?: number;
  /**
   * How often free space is measured (default 1 s). Between measurements the bytes produced are
   * counted against it, and a produce that would take it below diskFreeMinBytes measures again
   * at once.
   */
  diskCheckIntervalMs?: number;
  /** How often a long start says how far it got (default 5 s; start-progress.ts). */
  startProgressIntervalMs?: number;
  /**
   * A partition forgets an idempotent producer id that sent it nothing for this long, as Kafka's
   * `producer.id.expiration.ms` (default 1 day; see producer-state.ts). Checked every tenth of it
   * (at least every 100 ms, at most every minute) and when the partition opens.
   */
  producerIdleMsMax?: number;
  /**
   * A group without members is deleted, its committed offsets with it, once this long has passed
   * since its last commit and since it lost its last member, as Kafka's `offsets.retention.minutes`
   * (default 7 days). Checked every tenth of it (at least every 100 ms, at most every minute).
   */
  offsetsRetentionMs?: number;
  /**
   * The bound on what every queue subscription's windows hold of the log in memory together
   * (default 64 MiB, windowMemoryDefaults in queue-partition.ts; docs/queues.md, Limits).
   */
  queueWindowMemoryBytesMax?: number;
  /**
   * The bound on what every queue consumer holds leased together (default 64 MiB,
   * leaseMemoryDefaults in lease-memory.ts; docs/queues.md, Limits).
   */
  queueLeaseMemoryBytesMax?: number;
}

export const producerIdleMsMaxDefault = 24 * 60 * 60 * 1000;
export const offsetsRetentionMsDefault = 7 * 24 * 60 * 60 * 1000;

export const diskFreeMinBytesDefault = 128 * 1024 * 1024;
const diskFreeBytes = metrics.gauge({ name: 'weir_disk_free_bytes', help: "Free bytes on the data directory's file system, as last measured", labelNames: [] }).series({});
export const fetchWaitMsMax = 30_000;
export const fetchPartitionsMax = 10_000;
export const fetchBytesMaxTotalDefault = 50 * 1024 * 1024;
export const topicsMax = 10_000;
const producerSnapshotIntervalMs = 10_000;
/** Bounds of how often the broker looks for what expired (a tenth of the expiry in between). */
const expiryCheckIntervalMsMin = 100;
const expiryCheckIntervalMsMax = 60_000;

function expiryCheckIntervalMs(expiryMs: number): number {
  return Math.min(expiryCheckIntervalMsMax, Math.max(expiryCheckIntervalMsMin, Math.floor(expiryMs / 10)));
}
/**
 * Partitions opened at once at a start when they have their logs to validate (no clean-shutdown
 * checkpoint: after a crash). Each holds read buffers while it recovers (a 1 MiB scan window,
 * 1 MiB reads replaying its producers' state), so the memory of such a start grows with this
 * bound, not with the partition count; validating is mostly checksums, which a few opens at a
 * time keep the process's cores as busy with as all at once would.
 */
const partitionRecoveriesConcurrentMax = 8;
/**
 * Partitions opened at once otherwise (a clean start, a topic creation, partitions added): such an open reads
 * little and mostly waits on file-system calls, which more opens at a time overlap.
 */
export const partitionOpensConcurrentMax = 32;
const producerIdBlockSize = 1000n;
/** Largest `topic.json` and `broker.json` read. */
const metadataFileBytesMax = 1024 * 1024;
const topicFileName = 'topic.json';
/** How long a close waits for the topic alterations under way before it closes the partitions. */
const closeAlterationWaitMsMax = 10_000;
const brokerFileName = 'broker.json';
const clusterIdPattern = /^[A-Za-z0-9_-]{1,64}$/;
/** How a dead letter is appended: without the dead-letter topic's timestamp bounds (see #appendDeadLetter). */
const letterAppend: AppendOptions = { timestampBounds: false };

/** As Kafka makes them: a random UUID in URL-safe base64, 22 characters. */
function newClusterId(): string {
  return Buffer.from(randomUUID().replaceAll('-', ''), 'hex').toString('base64url');
}

/** The content of `topic.json`. */
interface StoredTopic {
  config: TopicConfig;
  internal?: boolean;
}

interface Topic {
  name: string;
  internal: boolean;
  config: TopicConfig;
  dir: string;
  partitions: Partition[];
  /** The alteration in progress (settled when none): alterations and the deletion run one at a time. */
  altering: Promise<unknown>;
}

export class Broker implements BrokerApi, QueueBrokerApi {
  readonly dataDir: string;
  readonly #options: Required<Omit<BrokerOptions, 'defaultTopicConfig' | 'logger' | 'fileSystem'>> & { logger: Logger };
  readonly #fileSystem: FileSystem;
  /** The partitions' descriptor pool when the file system is not the default (whose pool is shared). */
  readonly #handles: HandlePool | undefined;
  readonly #defaults: TopicConfig;
  readonly #topics = new Map<string, Topic>();
  /** Topics being created, so concurrent auto-creations share one. */
  readonly #creating = new Map<string, Promise<Topic>>();
  /** Dead-letter topic → settles once the last letter asked for is handed to its log (see #appendDeadLetter). */
  readonly #lettersIssued = new Map<string, Promise<void>>();
  /** Topics whose files are being removed: a new topic of the same name waits for that. */
  readonly #deleting = new Map<string, Promise<void>>();
  /** Topic alterations under way or queued (each settles, never rejects): close waits for them. */
  readonly #alterations = new Set<Promise<unknown>>();
  readonly #groups: GroupCoordinator;
  #offsets!: OffsetStore;
  #queues!: QueueManager;
  #producerIdNext = 0n;
  #producerIdBlockEnd = 0n;
  /** The block of producer ids being reserved (broker.json being written), or null. */
  #reservingProducerIds: Promise<void> | null = null;
  #clusterId = '';
  #closing = false;
  /** Why produces are refused for want of disk space (DISK_FREE_LOW), or null while there is room. */
  #diskFreeLow: string | null = null;
  /** Free bytes at the last measurement, and bytes produced since: a fast producer cannot outrun the check. */
  #diskFreeMeasured = Number.POSITIVE_INFINITY;
  #diskBytesSinceMeasured = 0;
  #diskRemeasuring = false;
  readonly #timers: NodeJS.Timeout[] = [];
  /** Why retention last failed on a partition, while it fails (logged when it starts or changes). */
  readonly #retentionFailures = new WeakMap<Partition, string>();
  #lock: DataDirLock | undefined;

  private constructor(options: BrokerOptions) {
    this.dataDir = options.dataDir;
    this.#options = {
      dataDir: options.dataDir,
      autoCreateTopics: options.autoCreateTopics ?? true,
      retentionCheckIntervalMs: options.retentionCheckIntervalMs ?? 30_000,
      offsetsCompactAfterBytes: options.offsetsCompactAfterBytes ?? offsetsCompactAfterBytesDefault,
      repair: options.repair ?? false,
      diskFreeMinBytes: options.diskFreeMinBytes ?? diskFreeMinBytesDefault,
      diskCheckIntervalMs: options.diskCheckIntervalMs ?? 1000,
      startProgressIntervalMs: options.startProgressIntervalMs ?? startProgressIntervalMsDefault,
      producerIdleMsMax: options.producerIdleMsMax ?? producerIdleMsMaxDefault,
      offsetsRetentionMs: options.offsetsRetentionMs ?? offsetsRetentionMsDefault,
      queueWindowMemoryBytesMax: options.queueWindowMemoryBytesMax ?? windowMemoryDefaults.bytesMax,
      queueLeaseMemoryBytesMax: options.queueLeaseMemoryBytesMax ?? leaseMemoryDefaults.bytesMax,
      logger: options.logger ?? (() => {}),
    };
    this.#fileSystem = options.fileSystem ?? nodeFileSystem;
    this.#handles = this.#fileSystem === nodeFileSystem ? undefined : new HandlePool({ fileSystem: this.#fileSystem });
    this.#defaults = resolveTopicConfig(options.defaultTopicConfig ?? {}, topicConfigDefaults);
    this.#groups = new GroupCoordinator((topic) => this.#topics.get(topic)?.partitions.length);
  }

  /** Opens (or creates) the data directory, recovers every topic and starts the broker's timers. */
  static async open(options: BrokerOptions): Promise<Broker> {
    const broker = new Broker(options);
    await broker.#open();
    return broker;
  }

  async #open(): Promise<void> {
    const fileSystem = this.#fileSystem;
    const topicsDir = join(this.dataDir, 'topics');
    if ((await fileSystem.stat(topicsDir)) === null) {
      await fileSystem.mkdir(topicsDir);
      await fileSystem.fsyncDirectory(this.dataDir);
    }
    if (fileSystem === nodeFileSystem) this.#lock = await lockDataDir(this.dataDir);
    await this.#loadBrokerFile();
    const started = Date.now();
    const stored: Array<{ name: string; stored: StoredTopic }> = [];
    for (const name of (await fileSystem.readdir(topicsDir)).sort()) {
      const dir = join(topicsDir, name);
      if (!(await fileSystem.stat(dir))?.isDirectory) continue;
      const topic = await this.#readTopicFile(dir);
      if (topic === null) {
        // A creation or deletion that did not finish (said as a warning: it removes files).
        this.#options.logger('warn', `removing ${dir}: it has no ${topicFileName}, so a topic creation or deletion did not finish`);
        await fileSystem.removeTree(dir);
        continue;
      }
      stored.push({ name, stored: topic });
    }
    const validatedBytes = await this.#openTopics(stored);
    this.#continueProducerIdsAfterStored();
    if (this.#clusterId === '') {
      this.#clusterId = newClusterId();
      await this.#writeBrokerFile(this.#producerIdBlockEnd);
    }
    let offsets = this.#topics.get(offsetsTopic);
    if (offsets === undefined) offsets = await this.#createTopic(offsetsTopic, offsetsTopicConfig(this.#options.offsetsCompactAfterBytes), true);
    this.#offsets = await OffsetStore.open(offsets.partitions[0]!, {
      compactAfterBytes: this.#options.offsetsCompactAfterBytes,
      logger: (level, message) => this.#options.logger(level, message),
    });
    // Offsets of topics that are gone (a deletion whose own clean-up a crash cut off) and of
    // partitions a topic does not have (an alteration a crash cut off after its group commits).
    await this.#offsets.forgetPartitions((topic, partition) => partition >= (this.#topics.get(topic)?.partitions.length ?? 0));
    let queueState = this.#topics.get(queueStateTopic);
    queueState ??= await this.#createTopic(queueStateTopic, queueStateTopicConfig, true);
    this.#queues = await QueueManager.open(queueState.partitions[0]!, {
      logger: this.#options.logger,
      partitions: (topic) => this.#topics.get(topic)?.partitions,
      ensureTopic: async (topic) => (await this.#topic(topic, true)).partitions,
      produce: async (topic, partition, batches) => ({ offset: (await this.produce({ topic, partition, batches, acks: 'leader' })).baseOffset }),
      appendDeadLetter: (topic, source, batches) => this.#appendDeadLetter(topic, source, batches),
      messageTtlMs: (topic) => this.#topics.get(topic)?.config.messageTtlMs ?? null,
    }, { windowMemoryBytesMax: this.#options.queueWindowMemoryBytesMax, leaseMemoryBytesMax: this.#options.queueLeaseMemoryBytesMax });
    // Counted here, after the internal topics a fresh data directory has just been given.
    const partitionCount = [...this.#topics.values()].reduce((count, topic) => count + topic.partitions.length, 0);
    const validated = validatedBytes === 0 ? '' : `, validated ${mebibytes(validatedBytes)} MiB`;
    this.#options.logger('info', `opened ${this.#topics.size} topics (${partitionCount} partitions${validated}) in ${Date.now() - started} ms from ${this.dataDir}`);
    await this.#checkDiskFree();
    this.#every(this.#options.diskCheckIntervalMs, () => this.#checkDiskFree());
    this.#every(this.#options.retentionCheckIntervalMs, () => this.#applyRetention());
    this.#every(producerSnapshotIntervalMs, () => this.#snapshotProducers());
    this.#every(expiryCheckIntervalMs(this.#options.producerIdleMsMax), async () => this.#expireProducers());
    this.#every(expiryCheckIntervalMs(this.#options.offsetsRetentionMs), () => this.#expireGroups());
  }

  /** Measures the free space of the data directory's file system and opens or closes the gate for producers. */
  async #checkDiskFree(): Promise<void> {
    const producedBefore = this.#diskBytesSinceMeasured;
    const freeBytes = await this.#fileSystem.freeBytes(this.dataDir);
    diskFreeBytes.set(freeBytes);
    this.#diskFreeMeasured = freeBytes;
    this.#diskBytesSinceMeasured -= producedBefore; // what was produced while measuring still counts
    const minBytes = this.#options.diskFreeMinBytes;
    if (freeBytes < minBytes && !this.#closing) {
      const reason = `${this.dataDir} has ${freeBytes} bytes free, below the minimum of ${minBytes} (--disk-free-min-bytes); produces are refused until there is room again`;
      if (this.#diskFreeLow === null) this.#options.logger('warn', reason);
      this.#diskFreeLow = reason;
    } else if (this.#diskFreeLow !== null) {
      this.#diskFreeLow = null;
      this.#options.logger('info', `${this.dataDir} has ${freeBytes} bytes free again (minimum ${minBytes}); produces are accepted`);
    }
  }

  #every(intervalMs: number, task: () => Promise<void>): void {
    let running = false;
    const timer = setInterval(() => {
      if (running || this.#closing) return;
      running = true;
      task()
        .catch((error) => this.#options.logger('error', `background task failed: ${String(error)}`))
        .finally(() => (running = false));
    }, intervalMs);
    timer.unref();
    this.#timers.push(timer);
  }

  /** `broker.json`: the cluster id and the end of the producer ids handed out (absent in a new directory). */
  async #loadBrokerFile(): Promise<void> {
    const path = join(this.dataDir, brokerFileName);
    const bytes = await readWholeFile(this.#fileSystem, path, metadataFileBytesMax);
    if (bytes !== null) {
      try {
        const state = JSON.parse(bytes.toString('utf8')) as { producerIdBlockEnd: string; clusterId?: unknown };
        this.#producerIdBlockEnd = BigInt(state.producerIdBlockEnd);
        // Written by brokers before the cluster id existed: one is made (and stored) at this start.
        if (state.clusterId !== undefined) {
          if (typeof state.clusterId !== 'string' || !clusterIdPattern.test(state.clusterId)) throw new Error(`clusterId ${JSON.stringify(state.clusterId)} is not 1 to 64 letters, digits, '-' or '_'`);
          this.#clusterId = state.clusterId;
        }
      } catch (error) {
        // Guessing a block end could hand out an id again, and a reused id can make a new batch look like a stored one.
        throw new WeirError('CORRUPT_MESSAGE', `${path} is unreadable (${(error as Error).message}); it must hold {"producerIdBlockEnd": "<the highest producer id handed out, plus one>", "clusterId": "<this data directory's cluster id>"}`);
      }
    }
    // Ids of a block handed out before a restart are never reused: start after the block.
    this.#producerIdNext = this.#producerIdBlockEnd;
  }

  /** Synced with its directory entry (through a temporary file) before it returns. */
  async #writeBrokerFile(producerIdBlockEnd: bigint): Promise<void> {
    const state = { clusterId: this.#clusterId, producerIdBlockEnd: producerIdBlockEnd.toString() };
    await writeFileAtomic(this.#fileSystem, this.dataDir, brokerFileName, Buffer.from(JSON.stringify(state)));
  }

  /**
   * Producer ids continue after every id the partitions remember, whatever `broker.json` says:
   * without the file (lost, or topics copied in from another directory) the broker would hand
   * out ids again, and a new producer's first batch would be taken for a stored one.
   */
  #continueProducerIdsAfterStored(): void {
    let stored = -1n;
    for (const topic of this.#topics.values()) for (const partition of topic.partitions) if (partition.producerIdMax > stored) stored = partition.producerIdMax;
    if (stored < this.#producerIdBlockEnd) return;
    this.#options.logger('warn', `${join(this.dataDir, brokerFileName)} is missing or behind the producer ids in the logs (up to ${stored}): producer ids continue after them`);
    this.#producerIdBlockEnd = stored + 1n;
    this.#producerIdNext = this.#producerIdBlockEnd;
  }

  /** A topic directory's `topic.json`, or null when there is none (the topic does not exist). */
  async #readTopicFile(dir: string): Promise<StoredTopic | null> {
    const path = join(dir, topicFileName);
    const bytes = await readWholeFile(this.#fileSystem, path, metadataFileBytesMax);
    if (bytes === null) return null;
    try {
      return JSON.parse(bytes.toString('utf8')) as StoredTopic;
    } catch (error) {
      throw new WeirError('CORRUPT_MESSAGE', `${path} is not valid JSON (${(error as Error).message}); restore it or remove the topic's directory`);
    }
  }

  /**
   * Opens the stored topics' partitions, all topics together: first those with nothing to validate,
   * `partitionOpensConcurrentMax` at a time, then the rest `partitionRecoveriesConcurrentMax` at a
   * time (a checkpoint that does not match its files, which the estimate misses, is validated in
   * the first run). Says how far it got while that takes long; returns the bytes validated. If
   * one fails, closes those already open.
   */
  async #openTopics(stored: Array<{ name: string; stored: StoredTopic }>): Promise<number> {
    const topics: Topic[] = stored.map(({ name, stored: topic }) => ({
      name,
      internal: topic.internal ?? false,
      config: resolveTopicConfig(topic.config, topicConfigDefaults),
      dir: join(this.dataDir, 'topics', name),
      partitions: [],
      altering: Promise.resolve(),
    }));
    const opening = topics.flatMap((topic) => Array.from({ length: topic.config.partitions }, (_, index) => ({ topic, index })));
    const bytes = await this.#bytesToValidate(opening.map(({ topic, index }) => join(topic.dir, String(index))));
    const progress = new StartProgress({
      partitionsTotal: opening.length,
      bytesToValidate: bytes.reduce((sum, count) => sum + count, 0),
      intervalMs: this.#options.startProgressIntervalMs,
      logger: this.#options.logger,
    });
    try {
      const runs = [
        { items: opening.filter((_, at) => bytes[at] === 0), concurrencyMax: partitionOpensConcurrentMax },
        { items: opening.filter((_, at) => bytes[at]! > 0), concurrencyMax: partitionRecoveriesConcurrentMax },
      ];
      await this.#openEach(runs, async ({ topic, index }) => {
        const partition = (topic.partitions[index] = await this.#openPartition(topic.name, topic.dir, index, topic.config, progress.validated));
        progress.partitionOpened();
        return partition;
      });
    } finally {
      progress.stop();
    }
    for (const topic of topics) this.#topics.set(topic.name, topic);
    return progress.bytesValidated;
  }

  /**
   * About how many bytes opening each partition directory will validate (recovery.ts
   * bytesToValidate), said once for all when there are any: after a crash every partition
   * validates what it wrote since its last segment began, and a line each would bury the log.
   */
  async #bytesToValidate(dirs: string[]): Promise<number[]> {
    const bytes = new Array<number>(dirs.length).fill(0);
    await forEachBounded(dirs.length, partitionOpensConcurrentMax, async (index) => {
      bytes[index] = await bytesToValidate(dirs[index]!, this.#fileSystem);
    });
    const recovering = bytes.filter((count) => count > 0).length;
    if (recovering > 0) {
      const total = bytes.reduce((sum, count) => sum + count, 0);
      this.#options.logger('info', `${recovering} of ${dirs.length} partitions have no clean-shutdown checkpoint: validating about ${mebibytes(total)} MiB of their logs`);
    }
    return bytes;
  }

  /**
   * Opens (or creates) the partitions `indexes` of a topic (by default every one),
   * `partitionOpensConcurrentMax` at a time, however many there are (a creation, or partitions
   * added); returns them in the order of `indexes`. If one fails, closes those already open.
   */
  async #openPartitions(topic: { name: string; dir: string; config: TopicConfig }, indexes?: number[]): Promise<Partition[]> {
    const opening = indexes ?? Array.from({ length: topic.config.partitions }, (_, index) => index);
    const partitions = new Array<Partition>(opening.length);
    await this.#openEach([{ items: [...opening.keys()], concurrencyMax: partitionOpensConcurrentMax }], async (at) => {
      const partition = await this.#openPartition(topic.name, topic.dir, opening[at]!, topic.config);
      partitions[at] = partition;
      return partition;
    });
    return partitions;
  }

  /**
   * Opens a partition for each item with `open`, run after run, each run `concurrencyMax` at a
   * time; if one fails, no further one starts and those already open are closed.
   */
  async #openEach<T>(runs: Array<{ items: T[]; concurrencyMax: number }>, open: (item: T) => Promise<Partition>): Promise<void> {
    const opened: Partition[] = [];
    try {
      for (const { items, concurrencyMax } of runs) {
        await forEachBounded(items.length, concurrencyMax, async (index) => {
          opened.push(await open(items[index]!));
        });
      }
    } catch (error) {
      await Promise.allSettled(opened.map((partition) => partition.close()));
      throw error;
    }
  }

  #openPartition(topic: string, dir: string, index: number, config: TopicConfig, onValidated?: (bytes: number) => void): Promise<Partition> {
    return Partition.open({
      topic,
      index,
      dir: join(dir, String(index)),
      snapshotPath: join(dir, `${index}.producers.json`),
      config: logConfigOf(config),
      ...(this.#handles ? { handles: this.#handles } : {}),
      repair: this.#options.repair,
      logger: (level, message) => this.#options.logger(level, `${topic}/${index}: ${message}`),
      ...(onValidated ? { onValidated } : {}),
      producerIdleMsMax: this.#options.producerIdleMsMax,
    });
  }

  #checkOpen(): void {
    if (this.#closing) throw new WeirError('SHUTTING_DOWN', 'the broker is shutting down');
  }

  // --- topics ---------------------------------------------------------------------------------

  async createTopic(name: string, config: Partial<TopicConfig> = {}, options: { validateOnly?: boolean } = {}): Promise<TopicDescription> {
    this.#checkOpen();
    validateUserTopicName(name);
    if (this.#topics.has(name) || this.#creating.has(name)) throw new WeirError('TOPIC_EXISTS', `topic ${name} already exists`);
    if (options.validateOnly) {
      // The same checks as a creation; the description is of the empty topic it would make.
      const resolved = this.#newTopicConfig(config);
      const partitions = Array.from({ length: resolved.partitions }, (_, partition) => ({ partition, offsetStart: 0n, offsetEnd: 0n, highWatermark: 0n, sizeBytes: 0 }));
      return { name, internal: false, config: resolved, partitions };
    }
    return this.#describe(await this.#createTopic(name, config, false));
  }

  /** A new topic's configuration, all of it checked (fields, their relations, the topic count). */
  #newTopicConfig(overrides: Partial<TopicConfig>): TopicConfig {
    const config = resolveTopicConfig(overrides, this.#defaults);
    logConfigOf(config); // validates the relations between fields
    if (this.#topics.size >= topicsMax) throw new WeirError('LIMIT_EXCEEDED', `the broker holds the maximum of ${topicsMax} topics`);
    return config;
  }

  async #createTopic(name: string, overrides: Partial<TopicConfig>, internal: boolean): Promise<Topic> {
    const config = this.#newTopicConfig(overrides);
    const creation = (async () => {
      await this.#deleting.get(name)?.catch(() => undefined); // a topic of the same name is still being removed
      const fileSystem = this.#fileSystem;
      const topicsDir = join(this.dataDir, 'topics');
      const dir = join(topicsDir, name);
      await fileSystem.removeTree(dir); // what an earlier failed creation left
      await fileSystem.mkdir(dir);
      await fileSystem.fsyncDirectory(topicsDir);
      const partitions = await this.#openPartitions({ name, dir, config });
      try {
        // Last, and durably: from here on the topic exists, also after a crash.
        await writeFileAtomic(fileSystem, dir, topicFileName, Buffer.from(JSON.stringify({ config, internal } satisfies StoredTopic, null, 2)));
      } catch (error) {
        await Promise.allSettled(partitions.map((partition) => partition.close()));
        throw error;
      }
      const topic: Topic = { name, internal, config, dir, partitions, altering: Promise.resolve() };
      this.#topics.set(name, topic);
      this.#options.logger('info', `created topic ${name} with ${config.partitions} partition${config.partitions === 1 ? '' : 's'}`);
      return topic;
    })();
    this.#creating.set(name, creation);
    try {
      return await creation;
    } finally {
      this.#creating.delete(name);
    }
  }

  async ensureTopic(name: string, partition?: number): Promise<TopicDescription> {
    return this.#describe(await this.#topic(name, true, partition));
  }

  /**
   * The topic; with `create`, made with the defaults when missing (and auto-creation is on).
   * `partition`: the one the caller is about to use; a topic the defaults would not give it is
   * not created.
   */
  async #topic(name: string, create: boolean, partition?: number): Promise<Topic> {
    const topic = this.#topics.get(name);
    if (topic !== undefined) return topic;
    const pending = this.#creating.get(name);
    if (pending !== undefined) return pending;
    if (!create || !this.#options.autoCreateTopics) {
      validateTopicName(name);
      throw new WeirError('UNKNOWN_TOPIC', `topic ${name} does not exist${create ? ' (automatic topic creation is off)' : ''}`);
    }
    this.#checkOpen();
    validateUserTopicName(name);
    const partitions = this.#defaults.partitions;
    if (partition !== undefined && partition >= partitions) {
      throw new WeirError(
        'UNKNOWN_PARTITION',
        `topic ${name} does not exist, and automatic creation would give it partitions 0..${partitions - 1}, not ${partition}: create it with more partitions first`,
      );
    }
    this.#checkRoom(); // a creation on first use is part of a produce: refused with it
    return this.#createTopic(name, {}, false);
  }

  /** The topic, created with the defaults and `overrides` when missing, whatever the auto-creation setting (dead letters). */
  async #topicAlways(name: string, overrides: Partial<TopicConfig>): Promise<Topic> {
    const topic = this.#topics.get(name);
    if (topic !== undefined) return topic;
    // No await before the creation registers itself: concurrent callers share one creation.
    const pending = this.#creating.get(name);
    if (pending !== undefined) return pending;
    this.#checkOpen();
    validateUserTopicName(name);
    return this.#createTopic(name, overrides, false);
  }

  /**
   * A dead-letter topic created on its first letter takes the largest messages its source topic
   * takes, with room for the dead-letter headers: a letter is never too large for the topic made
   * for it (the defaults' limit when that is larger).
   */
  #deadLetterTopicConfig(sourceTopic: string, letterBytes: number): Partial<TopicConfig> {
    const defaults = this.#defaults;
    const sourceBytesMax = this.#topics.get(sourceTopic)?.config.messageBytesMax ?? 0;
    const wanted = Math.max(sourceBytesMax + deadLetterHeadersBytesMax, letterBytes);
    if (wanted <= defaults.messageBytesMax) return {};
    const messageBytesMax = Math.min(messageBytesMaxLimit, wanted);
    return { messageBytesMax, segmentBytesMax: Math.max(defaults.segmentBytesMax, messageBytesMax) };
  }

  #partition(topic: Topic, index: number): Partition {
    const partition = topic.partitions[index];
    if (partition === undefined) {
      throw new WeirError('UNKNOWN_PARTITION', `topic ${topic.name} has partitions 0..${topic.partitions.length - 1}, not ${index}`);
    }
    return partition;
  }

  async deleteTopic(name: string): Promise<void> {
    this.#checkOpen();
    const topic = await this.#topic(name, false);
    if (topic.internal) throw new WeirError('INVALID_TOPIC', `topic ${name} is internal to Weir and cannot be deleted`);
    if (this.#topics.get(name) !== topic) throw new WeirError('UNKNOWN_TOPIC', `topic ${name} does not exist`); // deleted meanwhile
    this.#topics.delete(name);
    const deletion = (async () => {
      await topic.altering; // partitions it adds are closed with the others
      // A partition that fails to close (a failed write fenced it, its last flush failed) is deleted all the same.
      const closes = await Promise.allSettled(topic.partitions.map((p) => p.close()));
      closes.forEach((result, index) => {
        if (result.status === 'rejected') this.#options.logger('warn', `${name}/${index}: closing it for the deletion failed (deleted all the same): ${errorMessageOf(result.reason)}`);
      });
      // First, and durably: from here on the topic is gone, also after a crash (start removes the rest).
      await this.#fileSystem.unlink(join(topic.dir, topicFileName));
      await this.#fileSystem.fsyncDirectory(topic.dir);
      await this.#fileSystem.removeTree(topic.dir);
    })();
    this.#deleting.set(name, deletion);
    try {
      await deletion;
    } finally {
      if (this.#deleting.get(name) === deletion) this.#deleting.delete(name);
    }
    // Should this fail (or a crash come first), the next start drops the offsets (see open).
    await this.#offsets.forgetPartitions((topic) => topic === name).catch((error) => {
      this.#options.logger('warn', `dropping the committed offsets of deleted topic ${name} failed (the next start drops them): ${String(error)}`);
    });
    this.#queues.topicDeleted(name);
    this.#groups.topicChanged(name);
    this.#options.logger('info', `deleted topic ${name}`);
  }

  get topicDefaults(): TopicConfig {
    return this.#defaults;
  }

  /**
   * Groups that have committed offsets on the topic, or have a member subscribed to it (one yet
   * to commit), read its added partitions from their first message, whatever their reset policy:
   * all of those partitions' messages came after the group began reading the topic. Committed
   * before `topic.json` names the partitions, so that a group starting at `latest` does not skip
   * what is sent to them before it rebalances, also after a crash (one before `topic.json` is
   * replaced leaves offsets on partitions the topic does not have, which the next start drops).
   */
  async #startGroupsAtBeginning(topic: string, partitions: number[]): Promise<void> {
    const committed = this.#offsets.groups().filter((groupId) => this.#offsets.fetch(groupId).some((offset) => offset.topic === topic));
    for (const groupId of new Set([...committed, ...this.#groups.groupsReading(topic)])) {
      try {
        await this.#offsets.commit(groupId, partitions.map((partition) => ({ topic, partition, offset: 0n, metadata: null })));
      } catch (error) {
        this.#options.logger('warn', `group ${groupId}: could not commit the start of the partitions added to ${topic}: ${String(error)}`);
      }
    }
  }

  async alterTopic(name: string, changes: Partial<TopicConfig>, options: { validateOnly?: boolean } = {}): Promise<TopicDescription> {
    this.#checkOpen();
    const topic = await this.#topic(name, false);
    if (topic.internal) throw new WeirError('INVALID_TOPIC', `topic ${name} is internal to Weir and cannot be altered`);
    if (options.validateOnly) return { ...this.#describe(topic), config: this.#alteredConfig(topic, changes).config };
    const alteration = topic.altering.then(() => this.#alterTopic(topic, changes));
    const settled = alteration.catch(() => undefined);
    topic.altering = settled;
    this.#alterations.add(settled);
    void settled.then(() => this.#alterations.delete(settled));
    return this.#describe(await alteration);
  }

  /**
   * New partitions are opened first and the groups reading the topic are started at their
   * beginning, then `topic.json` is replaced (synced): a crash before that leaves the topic as it
   * was, and the next alteration removes the partitions' leftover files (and the next start the
   * group offsets on them). The partitions' logs take the new configuration only once it is stored.
   */
  async #alterTopic(topic: Topic, changes: Partial<TopicConfig>): Promise<Topic> {
    this.#checkOpen(); // queued behind an alteration that a close waited for
    if (this.#topics.get(topic.name) !== topic) throw new WeirError('UNKNOWN_TOPIC', `topic ${topic.name} does not exist`); // deleted meanwhile
    const { config, logConfig } = this.#alteredConfig(topic, changes);
    const count = topic.partitions.length;
    const indexes = Array.from({ length: config.partitions - count }, (_, i) => count + i);
    for (const index of indexes) {
      await this.#fileSystem.removeTree(join(topic.dir, String(index)));
      await this.#fileSystem.removeTree(join(topic.dir, `${index}.producers.json`));
    }
    const added = await this.#openPartitions({ name: topic.name, dir: topic.dir, config }, indexes);
    try {
      if (added.length > 0) await this.#startGroupsAtBeginning(topic.name, indexes);
      const stored: StoredTopic = { config, internal: false };
      await writeFileAtomic(this.#fileSystem, topic.dir, topicFileName, Buffer.from(JSON.stringify(stored, null, 2)));
    } catch (error) {
      await Promise.allSettled(added.map((partition) => partition.close()));
      // Not added after all: the groups' start on them goes too (else the next start drops it).
      if (added.length > 0) await this.#offsets.forgetPartitions((name, partition) => name === topic.name && partition >= count).catch(() => undefined);
      throw error;
    }
    topic.config = config;
    for (const partition of topic.partitions) partition.log.updateConfig(logConfig);
    topic.partitions.push(...added);
    if (added.length > 0) {
      this.#queues.partitionsAdded(topic.name, topic.partitions);
      this.#groups.topicChanged(topic.name);
    }
    const what = added.length > 0 ? `${count} -> ${config.partitions} partitions` : 'configuration';
    this.#options.logger('info', `altered topic ${topic.name} (${what})`);
    return topic;
  }

  /** The topic's configuration with `changes`, checked: INVALID_CONFIG for a bad value or fewer partitions. */
  #alteredConfig(topic: Topic, changes: Partial<TopicConfig>): { config: TopicConfig; logConfig: LogConfig } {
    const config = resolveTopicConfig(changes, topic.config);
    const logConfig = logConfigOf(config);
    const count = topic.partitions.length;
    if (config.partitions < count) {
      throw new WeirError('INVALID_CONFIG', `partitions=${config.partitions} is invalid: topic ${topic.name} has ${count} partitions and partitions can only be added`);
    }
    return { config, logConfig };
  }

  listTopics(options: { includeInternal?: boolean } = {}): TopicDescription[] {
    return [...this.#topics.values()]
      .filter((t) => options.includeInternal || !t.internal)
      .sort((a, b) => (a.name < b.name ? -1 : 1))
      .map((t) => this.#describe(t));
  }

  describeTopic(name: string): TopicDescription {
    return this.#describe(this.#existingTopic(name));
  }

  /** The topic, without creating it: throws UNKNOWN_TOPIC. */
  #existingTopic(name: string): Topic {
    const topic = this.#topics.get(name);
    if (topic === undefined) throw new WeirError('UNKNOWN_TOPIC', `topic ${name} does not exist`);
    return topic;
  }

  #describe(topic: Topic): TopicDescription {
    return { name: topic.name, internal: topic.internal, config: topic.config, partitions: topic.partitions.map((p) => p.state) };
  }

  // --- producing -------------------------------------------------------------------------------

  async produce(request: ProduceRequest): Promise<ProduceResult> {
    this.#checkOpen();
    this.#checkRoom(request.batches.length);
    return this.#produce(request);
  }

  /** DISK_FREE_LOW while the disk is short of room for producers (see #checkDiskFree). */
  #checkRoom(bytes = 0): void {
    if (this.#diskFreeLow !== null) throw new WeirError('DISK_FREE_LOW', this.#diskFreeLow);
    const minBytes = this.#options.diskFreeMinBytes;
    if (minBytes === 0) return;
    const left = this.#diskFreeMeasured - this.#diskBytesSinceMeasured - bytes;
    if (left < minBytes) {
      this.#remeasureDiskFree();
      throw new WeirError(
        'DISK_FREE_LOW',
        `${this.dataDir} had ${this.#diskFreeMeasured} bytes free when last measured and ${this.#diskBytesSinceMeasured} bytes were produced since: this produce would leave about ${Math.max(0, left)}, below the minimum of ${minBytes} (--disk-free-min-bytes); measuring again`,
      );
    }
    this.#diskBytesSinceMeasured += bytes;
  }

  /** Measures free space now (once at a time), after the bytes produced since the last measurement reached the margin. */
  #remeasureDiskFree(): void {
    if (this.#diskRemeasuring || this.#closing) return;
    this.#diskRemeasuring = true;
    this.#checkDiskFree()
      .catch((error) => this.#options.logger('error', `measuring free space failed: ${String(error)}`))
      .finally(() => (this.#diskRemeasuring = false));
  }

  /**
   * Appends a dead letter. Letters reach their topic's log in the order they are asked for (so a
   * subscription's drop-oldest letters are in offset order): each resolves the topic (creating it
   * on the first letter) only once the letter before it was handed to the log, which numbers it
   * at once; their writes and syncs still overlap. A letter keeps its message's timestamp, which
   * its source topic accepted: the dead-letter topic's timestamp bounds, meant for producers'
   * clocks, do not apply to it (a letter of an old message would otherwise be refused for ever).
   */
  #appendDeadLetter(topic: string, source: { topic: string; partition: number }, batches: Buffer): Promise<{ partition: number; offset: bigint }> {
    const previous = this.#lettersIssued.get(topic) ?? Promise.resolve();
    const issued = previous.then(async () => {
      const target = await this.#topicAlways(topic, this.#deadLetterTopicConfig(source.topic, batches.length));
      const partition = source.partition % target.partitions.length;
      this.#checkOpen();
      return { partition, appending: this.#produceTo(target, { topic, partition, batches, acks: 'leader' }, letterAppend) };
    });
    const settled = issued.then(() => {}, () => {});
    this.#lettersIssued.set(topic, settled);
    void settled.then(() => {
      if (this.#lettersIssued.get(topic) === settled) this.#lettersIssued.delete(topic);
    });
    return issued.then(async ({ partition, appending }) => ({ partition, offset: (await appending).baseOffset }));
  }

  /** A produce past the free-space gate: dead letters still move while producers are refused (the dead-letter topic is made whatever the gate says). */
  async #produce(request: ProduceRequest): Promise<ProduceResult> {
    const topic = await this.#topic(request.topic, request.create ?? true, request.partition);
    return this.#produceTo(topic, request);
  }

  /** The produce once its topic is resolved: the batches are handed to the log before it returns. */
  #produceTo(topic: Topic, request: ProduceRequest, options?: AppendOptions): Promise<ProduceResult> {
    if (topic.internal) throw new WeirError('INVALID_TOPIC', `topic ${topic.name} is internal to Weir`);
    const partition = this.#partition(topic, request.partition);
    const limit = topic.config.messageBytesMax;
    if (request.batches.length > limit) {
      throw new WeirError('MESSAGE_TOO_LARGE', `produce data of ${request.batches.length} bytes for ${topic.name}/${request.partition} exceeds messageBytesMax ${limit}`);
    }
    if (!this.#queues.hasSubscriptions(topic.name)) return partition.append(request.batches, options); // the log validates every batch
    this.#queues.admit(topic.name, recordCountOf(request.batches), request.batches.length);
    const offsetEnd = partition.log.offsetEnd;
    const appending = partition.append(request.batches, options);
    // The log assigned offsets synchronously: the queue subscriptions count the batch now, and
    // take it back if its write fails.
    if (partition.log.offsetEnd > offsetEnd) {
      this.#queues.appended(topic.name, request.partition, request.batches.length);
      appending.catch(() => this.#queues.appended(topic.name, request.partition, -request.batches.length));
    }
    return appending;
  }

  /** Made at the data directory's first start and kept in `broker.json`: reported to Kafka clients. */
  get clusterId(): string {
    return this.#clusterId;
  }

  async initProducerId(): Promise<{ producerId: bigint; producerEpoch: number }> {
    this.#checkOpen();
    // Producers that arrive while a block is being reserved wait for it (one write of broker.json
    // at a time: concurrent writes share its temporary file), then take ids from it.
    while (this.#producerIdNext >= this.#producerIdBlockEnd) {
      this.#reservingProducerIds ??= this.#reserveProducerIds().finally(() => (this.#reservingProducerIds = null));
      await this.#reservingProducerIds;
    }
    return { producerId: this.#producerIdNext++, producerEpoch: 0 };
  }

  async #reserveProducerIds(): Promise<void> {
    const blockEnd = this.#producerIdNext + producerIdBlockSize;
    // Synced with its directory entry before an id of the block is handed out: never reused.
    await this.#writeBrokerFile(blockEnd);
    this.#producerIdBlockEnd = blockEnd;
  }

  // --- consuming -------------------------------------------------------------------------------

  async fetch(request: FetchRequest, signal?: AbortSignal): Promise<FetchPartitionResult[]> {
    this.#checkOpen();
    if (request.partitions.length > fetchPartitionsMax) {
      throw new WeirError('INVALID_REQUEST', `a fetch names at most ${fetchPartitionsMax} partitions, got ${request.partitions.length}`);
    }
    const waitMs = Math.min(Math.max(0, request.waitMs), fetchWaitMsMax);
    const bytesMin = Math.max(1, request.bytesMin ?? 1);
    const deadline = Date.now() + waitMs;
    for (;;) {
      // What the read sees; a read short of bytesMin waits for data past it, not past the offset
      // asked for: data already there that is too little must not wake the fetch again at once
      // (that loop would read without end and, reading from the tail cache, starve the event loop).
      const highWatermarks = request.partitions.map((want) => this.#topics.get(want.topic)?.partitions[want.partition]?.log.highWatermark ?? -1n);
      const results = await this.#readPartitions(request);
      const bytes = results.reduce((sum, r) => sum + r.records.length, 0);
      const remainingMs = deadline - Date.now();
      if (bytes >= bytesMin || remainingMs <= 0 || this.#closing || signal?.aborted || results.some((r) => r.error)) {
        return results;
      }
      await this.#waitForData(request, highWatermarks, remainingMs, signal);
    }
  }

  async #readPartitions(request: FetchRequest): Promise<FetchPartitionResult[]> {
    let budget = request.bytesMaxTotal ?? fetchBytesMaxTotalDefault;
    const results: FetchPartitionResult[] = [];
    for (const want of request.partitions) {
      const topic = this.#topics.get(want.topic);
      const partition = topic?.partitions[want.partition];
      if (topic === undefined || partition === undefined) {
        const error = topic === undefined
          ? new WeirError('UNKNOWN_TOPIC', `topic ${want.topic} does not exist`)
          : new WeirError('UNKNOWN_PARTITION', `topic ${want.topic} has no partition ${want.partition}`);
        results.push({ topic: want.topic, partition: want.partition, records: Buffer.alloc(0), highWatermark: -1n, offsetStart: -1n, error });
        continue;
      }
      const log = partition.log;
      const base = { topic: want.topic, partition: want.partition, highWatermark: log.highWatermark, offsetStart: log.offsetStart };
      if (want.offset < log.offsetStart || want.offset > log.offsetEnd) {
        const error = new WeirError('OFFSET_OUT_OF_RANGE', `offset ${want.offset} of ${want.topic}/${want.partition} is outside ${log.offsetStart}..${log.offsetEnd}`);
        results.push({ ...base, records: Buffer.alloc(0), error });
        continue;
      }
      // At least one whole batch overall: the first partition with data may exceed the budget.
      const bytesMax = Math.min(want.bytesMax, Math.max(budget, 1));
      const records = budget > 0 || results.every((r) => r.records.length === 0) ? await log.read(want.offset, bytesMax) : Buffer.alloc(0);
      budget -= records.length;
      results.push({ ...base, highWatermark: log.highWatermark, records });
    }
    return results;
  }

  /**
   * Parks until a requested partition's high watermark passes both its offset and the high
   * watermark `seen` for it, the wait ends, or `signal` aborts.
   */
  #waitForData(request: FetchRequest, seen: bigint[], timeoutMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const cancels: (() => void)[] = [];
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        for (const cancel of cancels) cancel();
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      signal?.addEventListener('abort', done, { once: true });
      for (const [index, want] of request.partitions.entries()) {
        const from = want.offset > seen[index]! ? want.offset : seen[index]!;
        const cancel = this.#topics.get(want.topic)?.partitions[want.partition]?.watch(from + 1n, done);
        if (cancel === null) return done();
        if (cancel !== undefined) cancels.push(cancel);
      }
    });
  }

  watchHighWatermark(topicName: string, index: number, offset: bigint, wake: () => void): (() => void) | null {
    this.#checkOpen();
    return this.#partition(this.#existingTopic(topicName), index).watch(offset, wake);
  }

  readTail(topicName: string, index: number, offset: bigint, bytesMax: number): { records: Buffer; highWatermark: bigint } | null {
    const log = this.#topics.get(topicName)?.partitions[index]?.log;
    if (log === undefined || this.#closing) return null;
    const records = log.readTail(offset, bytesMax);
    return records === null ? null : { records, highWatermark: log.highWatermark };
  }

  async listOffset(topicName: string, index: number, spec: OffsetSpec): Promise<ListedOffset> {
    this.#checkOpen();
    const topic = await this.#topic(topicName, false);
    const log = this.#partition(topic, index).log;
    if (spec === 'earliest') return { offset: log.offsetStart, timestampMs: -1 };
    if (spec === 'latest') return { offset: log.highWatermark, timestampMs: -1 };
    const found = await log.offsetForTimestamp(spec.timestampMs);
    if (found === null || found.offset >= log.highWatermark) return { offset: -1n, timestampMs: -1 };
    return found;
  }

  // --- consumer groups ---------------------------------------------------------------------------

  async joinGroup(request: JoinGroupRequest, options: { signal?: AbortSignal } = {}): Promise<JoinGroupResult> {
    this.#checkOpen();
    return this.#groups.join(request, options);
  }

  async syncGroup(request: SyncGroupRequest): Promise<{ protocolName: string; assignment: Buffer }> {
    this.#checkOpen();
    return this.#groups.sync(request, request.assignments);
  }

  async heartbeat(request: GroupMemberRef): Promise<void> {
    this.#checkOpen();
    this.#groups.heartbeat(request);
  }

  async leaveGroup(groupId: string, memberId: string, groupInstanceId: string | null = null): Promise<void> {
    this.#checkOpen();
    this.#groups.leave(groupId, memberId, groupInstanceId);
  }

  async commitOffsets(ref: GroupMemberRef | { groupId: string }, offsets: OffsetCommitEntry[]): Promise<void> {
    this.#checkOpen();
    this.#groups.checkCommit(ref);
    for (const entry of offsets) this.#checkCommitEntry(entry);
    await this.#offsets.commit(ref.groupId, offsets);
  }

  async commitOffsetsEach(ref: GroupMemberRef | { groupId: string }, offsets: OffsetCommitEntry[]): Promise<(WeirError | null)[]> {
    this.#checkOpen();
    this.#groups.checkCommit(ref);
    const refusals = offsets.map((entry) => {
      try {
        this.#checkCommitEntry(entry);
        return null;
      } catch (error) {
        if (isWeirError(error)) return error;
        throw error;
      }
    });
    await this.#offsets.commit(ref.groupId, offsets.filter((_, i) => refusals[i] === null));
    return refusals;
  }

  async commitOffsetsIfUnchanged(groupId: string, offsets: (OffsetCommitEntry & { previous: bigint })[]): Promise<boolean> {
    this.#checkOpen();
    this.#groups.checkCommit({ groupId });
    for (const entry of offsets) this.#checkCommitEntry(entry);
    const entries = offsets.map(({ topic, partition, offset, metadata }) => ({ topic, partition, offset, metadata }));
    return this.#offsets.commit(groupId, entries, { unchangedFrom: offsets.map((entry) => entry.previous) });
  }

  /** A committed offset names an existing partition; a negative one means "no position" (as Kafka clients commit -1 or -2). */
  #checkCommitEntry(entry: OffsetCommitEntry): void {
    this.#partition(this.#existingTopic(entry.topic), entry.partition);
    if (entry.metadata !== null && Buffer.byteLength(entry.metadata) > offsetMetadataBytesMax) {
      throw new WeirError('OFFSET_METADATA_TOO_LARGE', `offset metadata of ${entry.topic}/${entry.partition} exceeds ${offsetMetadataBytesMax} bytes`);
    }
  }

  async fetchOffsets(groupId: string, partitions?: { topic: string; partition: number }[]): Promise<CommittedOffset[]> {
    this.#checkOpen();
    validateGroupId(groupId);
    return this.#offsets.fetch(groupId, partitions);
  }

  listGroups(): { groupId: string; protocolType: string; state: GroupStateName }[] {
    const active = this.#groups.list();
    const known = new Set(active.map((g) => g.groupId));
    const stored = this.#offsets.groups().filter((g) => !known.has(g)).map((groupId) => ({ groupId, protocolType: '', state: 'Empty' as const }));
    return [...active, ...stored].sort((a, b) => (a.groupId < b.groupId ? -1 : 1));
  }

  watchGroupMember(groupId: string, memberId: string, onGone: (error: WeirError) => void): () => void {
    return this.#groups.watchMember(groupId, memberId, onGone);
  }

  describeGroup(groupId: string): GroupDescription {
    validateGroupId(groupId);
    const live = this.#groups.describe(groupId);
    const offsets = this.#offsets.fetch(groupId).map((committed) => {
      const highWatermark = this.#topics.get(committed.topic)?.partitions[committed.partition]?.log.highWatermark ?? -1n;
      // No lag without a partition, or without a position (a negative commit).
      const lag = highWatermark >= 0n && committed.offset >= 0n ? (highWatermark > committed.offset ? highWatermark - committed.offset : 0n) : -1n;
      return { ...committed, highWatermark, lag };
    });
    if (live === undefined && offsets.length === 0) throw new WeirError('UNKNOWN_GROUP', `group ${groupId} does not exist`);
    return {
      ...(live ?? { groupId, state: 'Empty', protocolType: '', protocolName: '', generationId: 0, members: [] }),
      offsets: offsets.sort((a, b) => (a.topic === b.topic ? a.partition - b.partition : a.topic < b.topic ? -1 : 1)),
    };
  }

  async deleteGroup(groupId: string): Promise<void> {
    this.#checkOpen();
    validateGroupId(groupId);
    if (!this.#groups.has(groupId) && this.#offsets.fetch(groupId).length === 0) {
      throw new WeirError('UNKNOWN_GROUP', `group ${groupId} does not exist`);
    }
    this.#groups.delete(groupId);
    await this.#offsets.deleteGroup(groupId);
  }

  /**
   * Deletes the groups without members that neither committed nor lost their last member within
   * `offsetsRetentionMs`: from the coordinator, and their offsets by deletion records, so that
   * they stay gone after a restart. A group that gains a member or commits meanwhile stays.
   */
  async #expireGroups(): Promise<void> {
    const retentionMs = this.#options.offsetsRetentionMs;
    const activeMsMin = Date.now() - retentionMs;
    const groupIds = new Set([...this.#groups.list().map((group) => group.groupId), ...this.#offsets.groups()]);
    let count = 0;
    const withOffsets: string[] = [];
    for (const groupId of groupIds) {
      const emptySinceMs = this.#groups.emptySinceMs(groupId);
      if (emptySinceMs === null || (emptySinceMs !== undefined && emptySinceMs >= activeMsMin)) continue;
      const committedMs = this.#offsets.lastCommitMs(groupId);
      if (committedMs !== undefined && committedMs >= activeMsMin) continue;
      this.#groups.delete(groupId);
      if (committedMs === undefined) count++;
      else withOffsets.push(groupId);
    }
    if (withOffsets.length > 0) count += (await this.#offsets.expireGroups(withOffsets, activeMsMin)).length;
    if (count > 0) this.#options.logger('info', `deleted ${count} groups without members, idle for ${retentionMs} ms`);
  }

  async resetGroupOffsets(request: OffsetResetRequest): Promise<OffsetReset[]> {
    this.#checkOpen();
    validateGroupId(request.groupId);
    return resetGroupOffsets(this, request);
  }

  // --- queue subscriptions -----------------------------------------------------------------------

  async createSubscription(topic: string, name: string, config?: Partial<QueueSubscriptionConfig>): Promise<SubscriptionDescription> {
    this.#checkOpen();
    return this.#queues.create(topic, name, config);
  }

  async deleteSubscription(topic: string, name: string): Promise<void> {
    this.#checkOpen();
    await this.#queues.delete(topic, name);
  }

  listSubscriptions(topic?: string): SubscriptionDescription[] {
    return this.#queues.list(topic);
  }

  describeSubscription(topic: string, name: string): SubscriptionDescription {
    return this.#queues.describe(topic, name);
  }

  async openQueueConsumer(options: QueueConsumerOptions): Promise<QueueConsumer> {
    this.#checkOpen();
    return this.#queues.openConsumer(options);
  }

  async settle(topic: string, subscription: string, settlements: QueueSettlement[], options?: { quiet?: boolean }): Promise<QueueSettleFailure[]> {
    this.#checkOpen();
    return this.#queues.settle(topic, subscription, settlements, options?.quiet ?? false);
  }

  async listDeadLetters(topic: string, options?: { partition?: number; offset?: bigint; max?: number }): Promise<DeadLetter[]> {
    this.#checkOpen();
    return this.#queues.listDeadLetters(topic, options);
  }

  async replayDeadLetters(topic: string, select?: { partition: number; offset: bigint }[]): Promise<{ replayed: number }> {
    this.#checkOpen();
    return this.#queues.replayDeadLetters(topic, select);
  }

  // --- lifecycle -------------------------------------------------------------------------------

  /**
   * One retention pass over every partition. A partition whose retention fails (a damaged segment
   * whose newest timestamp cannot be read, a deletion the file system refuses) is skipped until
   * the next pass: it must not keep retention from the partitions after it. The failure is logged
   * when it starts or changes, not at every pass (a damaged segment would fill the log with one
   * line per pass), and the recovery when retention works again.
   */
  async #applyRetention(): Promise<void> {
    for (const topic of this.#topics.values()) {
      for (const partition of topic.partitions) {
        if (this.#closing) return;
        const name = `${topic.name}/${partition.index}`;
        const failedBefore = this.#retentionFailures.get(partition);
        try {
          const deleted = await partition.log.applyRetention();
          if (failedBefore !== undefined) this.#options.logger('info', `${name}: retention works again`);
          this.#retentionFailures.delete(partition);
          if (deleted > 0) this.#options.logger('info', `${name}: retention deleted ${deleted} segments`);
        } catch (error) {
          const message = errorMessageOf(error);
          if (message !== failedBefore) {
            this.#options.logger('error', `${name}: retention failed (tried again every ${this.#options.retentionCheckIntervalMs} ms, logged again if the failure changes): ${message}`);
          }
          this.#retentionFailures.set(partition, message);
        }
      }
    }
  }

  /** Idempotent producer ids the partitions remember, together. */
  get producerCount(): number {
    let count = 0;
    for (const topic of this.#topics.values()) for (const partition of topic.partitions) count += partition.producerCount;
    return count;
  }

  #expireProducers(): void {
    let count = 0;
    for (const topic of this.#topics.values()) {
      for (const partition of topic.partitions) count += partition.expireProducers(this.#options.producerIdleMsMax);
    }
    if (count > 0) this.#options.logger('info', `forgot ${count} idempotent producer ids idle for ${this.#options.producerIdleMsMax} ms`);
  }

  async #snapshotProducers(): Promise<void> {
    for (const topic of this.#topics.values()) {
      for (const partition of topic.partitions) await partition.snapshotProducers();
    }
  }

  /**
   * Stops accepting requests, waits for the topic alterations under way (at most
   * `closeAlterationWaitMsMax`), wakes parked fetches, flushes and closes every partition.
   */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    for (const timer of this.#timers) clearInterval(timer);
    await this.#finishAlterations();
    this.#groups.close();
    await this.#queues?.close();
    await Promise.allSettled([...this.#creating.values(), ...this.#deleting.values()]);
    const results = await Promise.allSettled([...this.#topics.values()].flatMap((t) => t.partitions.map((p) => p.close())));
    for (const result of results) {
      if (result.status === 'rejected') this.#options.logger('error', `closing a partition failed: ${String(result.reason)}`);
    }
    await this.#lock?.release();
  }

  /**
   * An alteration adding partitions opens them before it stores `topic.json` and takes them into
   * the topic only after: closed halfway, its partitions would stay open and the topic half
   * altered in memory. Alterations queued behind it refuse (SHUTTING_DOWN); one that outlasts the
   * bound is left to fail on the closed partitions (the stored topic is as before or as altered).
   */
  async #finishAlterations(): Promise<void> {
    const count = this.#alterations.size;
    if (count === 0) return;
    this.#options.logger('info', `closing: waiting for ${count} topic alteration${count === 1 ? '' : 's'} under way (at most ${closeAlterationWaitMsMax} ms)`);
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), closeAlterationWaitMsMax)));
    const finished = Promise.allSettled(this.#alterations).then(() => false);
    if (await Promise.race([finished, expired])) this.#options.logger('warn', `closing: topic alterations still under way after ${closeAlterationWaitMsMax} ms; closing anyway`);
    clearTimeout(timer);
  }
}

/** Segments of a quarter of the compaction threshold, so that a compaction can drop most of the log. */
function offsetsTopicConfig(compactAfterBytes: number): Partial<TopicConfig> {
  const segmentBytesMax = Math.min(segmentBytesMaxLimit, Math.max(segmentBytesMin, Math.floor(compactAfterBytes / 4)));
  return {
    partitions: 1,
    retentionMs: null,
    retentionBytes: null,
    flush: { kind: 'always' },
    segmentBytesMax,
    messageBytesMax: Math.min(topicConfigDefaults.messageBytesMax, segmentBytesMax),
  };
}

const queueStateTopicConfig: Partial<TopicConfig> = {
  partitions: 1,
  retentionMs: null,
  retentionBytes: null,
  flush: { kind: 'always' },
  messageBytesMax: 64 * 1024 * 1024,
  segmentBytesMax: 64 * 1024 * 1024,
};

/** Records in a run of whole batches (from their headers). */
function recordCountOf(batches: Buffer): number {
  let count = 0;
  for (const { position } of batchPositions(batches)) count += batches.readInt32BE(position + batchOffsets.lastOffsetDelta) + 1;
  return count;
}
