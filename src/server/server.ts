/**
 * The composition root: opens the broker core on a data directory and puts the protocol
 * listeners in front of it. Nothing imports this module but the entry points (cli, bench, tests).
 */
import { Broker } from '../broker/broker.js';
import type { TopicConfig } from '../broker/types.js';
import { HttpListener } from '../protocol/http/http-listener.js';
import { KafkaListener } from '../protocol/kafka/kafka-listener.js';
import { NativeListener, nativeListenerDefaults, timerMsLimit } from '../protocol/native/listener.js';
import { RequestMemory, SharedByteBudget, fetchMemoryDefaults, fetchMemoryGauges, requestMemoryDefaults, requestMemoryGauges } from '../util/byte-budget.js';
import type { Logger } from '../util/logger.js';

export { parseFlushPolicy } from '../broker/topic-config.js';
export { diskFreeMinBytesDefault, offsetsRetentionMsDefault, producerIdleMsMaxDefault } from '../broker/broker.js';
export { ackTimeoutMsMax, ackTimeoutMsMin, deliveriesMaxLimit } from '../broker/queue/queue-config.js';
export { connectionIdleMsMaxDefault as kafkaConnectionIdleMsMaxDefault, connectionIdleMsMaxLimit as kafkaConnectionIdleMsMaxLimit } from '../protocol/kafka/kafka-listener.js';
export const nativeConnectionIdleMsMaxDefault = nativeListenerDefaults.connectionIdleMsMax;
export const nativeConnectionIdleMsMaxLimit = timerMsLimit;
/** How long a native connection has to say hello (NativeListenerOptions.helloTimeoutMs), and the most --native-hello-ms-max allows. */
export const nativeHelloMsMaxDefault = nativeListenerDefaults.helloTimeoutMs;
export const nativeHelloMsMaxLimit = timerMsLimit;
/** How long a begun frame has to arrive, native and Kafka listeners alike, and the most --frame-arrival-ms-max allows. */
export { frameArrivalMsMaxDefault } from '../util/connection-deadlines.js';
export const frameArrivalMsMaxLimit = timerMsLimit;
export { fetchMemoryDefaults, memoryBoundBytesLimit, memoryBoundBytesMin, requestMemoryDefaults } from '../util/byte-budget.js';
export { windowMemoryDefaults as queueWindowMemoryDefaults } from '../broker/queue/queue-partition.js';
export { leaseMemoryDefaults as queueLeaseMemoryDefaults } from '../broker/queue/lease-memory.js';
export type { TopicConfig };

/** Connections each listener (native, Kafka, HTTP) keeps open at most: the default (given to all three), and the most --connections-max allows. */
export const connectionsMaxDefault = nativeListenerDefaults.connectionsMax;
export const connectionsMaxLimit = 1_000_000;

export const nativePortDefault = 7400;
export const kafkaPortDefault = 9092;
export const httpPortDefault = 7480;
export const dataDirDefault = './weir-data';

export interface ServerOptions {
  dataDir: string;
  host: string;
  /** Native protocol port; 0 picks a free one. */
  port: number;
  /** Idle native connections are closed after this long (NativeListenerOptions.connectionIdleMsMax; 0: never). */
  nativeConnectionIdleMsMax?: number;
  /** A native connection that has not said hello within this long is closed (NativeListenerOptions.helloTimeoutMs). */
  nativeHelloMsMax?: number;
  /** A begun frame not all arrived within this long closes its connection, native and Kafka (the listeners' frameArrivalMsMax; 0: no limit). */
  frameArrivalMsMax?: number;
  /** Kafka-compatible listener port (0 picks a free one); null turns it off. */
  kafkaPort: number | null;
  /** Host Kafka clients are told to connect to (default: the listen host). */
  kafkaAdvertisedHost?: string;
  /** Idle Kafka connections are closed after this long (KafkaListenerOptions.connectionIdleMsMax; 0: never). */
  kafkaConnectionIdleMsMax?: number;
  /** HTTP port (REST, WebSocket, SSE, metrics, console); 0 picks a free one; null turns it off. */
  httpPort?: number | null;
  /** Address the HTTP listener binds (default: `host`). */
  httpHost?: string;
  autoCreateTopics: boolean;
  defaultTopicConfig: Partial<TopicConfig>;
  /** Cut damaged partition logs at the damage instead of refusing to start (BrokerOptions.repair). */
  repair?: boolean;
  /** Free bytes below which produces are refused (BrokerOptions.diskFreeMinBytes; 0: no check). */
  diskFreeMinBytes?: number;
  /** How often a long start says how far it got (BrokerOptions.startProgressIntervalMs). */
  startProgressIntervalMs?: number;
  /** Idle time after which a partition forgets an idempotent producer id (BrokerOptions.producerIdleMsMax). */
  producerIdleMsMax?: number;
  /** How long a group without members keeps its committed offsets (BrokerOptions.offsetsRetentionMs). */
  offsetsRetentionMs?: number;
  /** The bound on fetch memory, native and Kafka listeners together (default fetchMemoryDefaults.bytesMax). */
  fetchMemoryBytesMax?: number;
  /** The bound on request bytes read and not yet handled, native and Kafka together (default requestMemoryDefaults.bytesMax). */
  requestMemoryBytesMax?: number;
  /** The bound on the queue windows' memory (BrokerOptions.queueWindowMemoryBytesMax). */
  queueWindowMemoryBytesMax?: number;
  /** The bound on the queue consumers' leased bytes (BrokerOptions.queueLeaseMemoryBytesMax). */
  queueLeaseMemoryBytesMax?: number;
  /** Connections each listener keeps open at most; further ones are refused: native and HTTP with a LIMIT_EXCEEDED answer, Kafka closed at accept (default connectionsMaxDefault). */
  connectionsMax?: number;
  logger: Logger;
}

export interface RunningServer {
  broker: Broker;
  nativePort: number;
  kafkaPort: number | null;
  httpPort: number | null;
  /** Graceful: stop accepting, finish in-flight requests, flush and close every partition. */
  close(): Promise<void>;
}

interface Listener {
  start(): Promise<{ port: number }>;
  close(): Promise<void>;
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const broker = await Broker.open({
    dataDir: options.dataDir,
    autoCreateTopics: options.autoCreateTopics,
    defaultTopicConfig: options.defaultTopicConfig,
    ...(options.repair ? { repair: true } : {}),
    ...(options.diskFreeMinBytes !== undefined ? { diskFreeMinBytes: options.diskFreeMinBytes } : {}),
    ...(options.startProgressIntervalMs !== undefined ? { startProgressIntervalMs: options.startProgressIntervalMs } : {}),
    ...(options.producerIdleMsMax !== undefined ? { producerIdleMsMax: options.producerIdleMsMax } : {}),
    ...(options.offsetsRetentionMs !== undefined ? { offsetsRetentionMs: options.offsetsRetentionMs } : {}),
    ...(options.queueWindowMemoryBytesMax !== undefined ? { queueWindowMemoryBytesMax: options.queueWindowMemoryBytesMax } : {}),
    ...(options.queueLeaseMemoryBytesMax !== undefined ? { queueLeaseMemoryBytesMax: options.queueLeaseMemoryBytesMax } : {}),
    logger: options.logger,
  });
  const listeners: Listener[] = [];
  const connectionsMax = options.connectionsMax ?? connectionsMaxDefault;
  // One bound on the memory that fetch answers hold, for the native and Kafka listeners together.
  const fetchMemory = new SharedByteBudget({ ...fetchMemoryDefaults, bytesMax: options.fetchMemoryBytesMax ?? fetchMemoryDefaults.bytesMax, gauges: fetchMemoryGauges });
  // And one on the request bytes read and not yet handled.
  const requestMemory = new RequestMemory({ ...requestMemoryDefaults, bytesMax: options.requestMemoryBytesMax ?? requestMemoryDefaults.bytesMax, gauges: requestMemoryGauges });
  try {
    const native = new NativeListener(broker, {
      host: options.host,
      port: options.port,
      fetchMemory,
      requestMemory,
      connectionsMax,
      ...(options.nativeConnectionIdleMsMax !== undefined ? { connectionIdleMsMax: options.nativeConnectionIdleMsMax } : {}),
      ...(options.nativeHelloMsMax !== undefined ? { helloTimeoutMs: options.nativeHelloMsMax } : {}),
      ...(options.frameArrivalMsMax !== undefined ? { frameArrivalMsMax: options.frameArrivalMsMax } : {}),
      logger: options.logger,
    });
    const { port: nativePort } = await native.start();
    listeners.push(native);
    let kafkaPort: number | null = null;
    if (options.kafkaPort !== null) {
      const kafka = new KafkaListener(broker, {
        host: options.host,
        port: options.kafkaPort,
        clusterId: broker.clusterId,
        fetchMemory,
        requestMemory,
        connectionsMax,
        ...(options.kafkaAdvertisedHost ? { advertisedHost: options.kafkaAdvertisedHost } : {}),
        ...(options.kafkaConnectionIdleMsMax !== undefined ? { connectionIdleMsMax: options.kafkaConnectionIdleMsMax } : {}),
        ...(options.frameArrivalMsMax !== undefined ? { frameArrivalMsMax: options.frameArrivalMsMax } : {}),
        logger: options.logger,
      });
      kafkaPort = (await kafka.start()).port;
      listeners.push(kafka);
    }
    let httpPort: number | null = null;
    if (options.httpPort !== undefined && options.httpPort !== null) {
      const http = new HttpListener(broker, { host: options.httpHost ?? options.host, port: options.httpPort, connectionsMax, logger: options.logger });
      httpPort = (await http.start()).port;
      listeners.push(http);
    }
    let closing: Promise<void> | undefined;
    return {
      broker,
      nativePort,
      kafkaPort,
      httpPort,
      close() {
        closing ??= (async () => {
          await Promise.allSettled(listeners.map((l) => l.close()));
          await broker.close();
        })();
        return closing;
      },
    };
  } catch (error) {
    await Promise.allSettled(listeners.map((l) => l.close()));
    await broker.close();
    throw error;
  }
}
