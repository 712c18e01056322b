/** `weir start`: a broker in the foreground on embedded defaults. */
import { resolve } from 'node:path';
import { dataDirDefault, diskFreeMinBytesDefault, httpPortDefault, offsetsRetentionMsDefault, producerIdleMsMaxDefault, kafkaConnectionIdleMsMaxDefault, kafkaConnectionIdleMsMaxLimit, kafkaPortDefault, nativeConnectionIdleMsMaxDefault, nativeConnectionIdleMsMaxLimit, nativeHelloMsMaxDefault, nativeHelloMsMaxLimit, nativePortDefault, parseFlushPolicy, startServer, type TopicConfig } from '../../server/server.js';
import { connectionsMaxDefault, connectionsMaxLimit, fetchMemoryDefaults, frameArrivalMsMaxDefault, frameArrivalMsMaxLimit, memoryBoundBytesLimit, memoryBoundBytesMin, queueLeaseMemoryDefaults, queueWindowMemoryDefaults, requestMemoryDefaults } from '../../server/server.js';
import { createLogger, logLevels } from '../../util/logger.js';
import { choiceOption, integerOption, parseCommandLine, UsageError } from '../args.js';

/** The range of --fetch-memory-bytes, --request-memory-bytes and the --queue-*-memory-bytes, for the usage. */
const memoryBoundBytesRange = `${memoryBoundBytesMin / 2 ** 20} MiB to ${memoryBoundBytesLimit / 2 ** 40} TiB`;

export const startUsage = `weir start [options]
  --data-dir DIR            where topics are stored (default ${dataDirDefault})
  --host HOST               address to listen on (default 127.0.0.1)
  --port N                  native protocol port (default ${nativePortDefault}; 0 picks a free port)
  --native-connection-idle-ms-max MS
                            close a native connection idle this long: nothing in progress (no request,
                            subscription, queue consumer or group membership) and nothing sent or
                            received (default ${nativeConnectionIdleMsMaxDefault}, 10 minutes; 0: never)
  --native-hello-ms-max MS  close a native connection that has not said hello this long after connecting
                            (default ${nativeHelloMsMaxDefault}, 10 s; 1 to ${nativeHelloMsMaxLimit})
  --frame-arrival-ms-max MS close a native or Kafka connection whose begun frame (request) has not all
                            arrived this long after its first byte, time the broker paused reading not
                            counted (default ${frameArrivalMsMaxDefault}, 30 s; 0: never)
  --kafka-port N            Kafka-compatible listener port (default ${kafkaPortDefault}; 0 picks a free port)
  --no-kafka                no Kafka-compatible listener
  --kafka-advertised-host H host Kafka clients are told to connect to (default: --host)
  --kafka-connection-idle-ms-max MS
                            close a Kafka connection idle this long, as Kafka's connections.max.idle.ms
                            (default ${kafkaConnectionIdleMsMaxDefault}, 10 minutes; 0: never)
  --http-port N             HTTP port: REST API, WebSocket/SSE, /metrics, web console (default ${httpPortDefault}; 0 picks a free port)
  --http-host H             address the HTTP port binds (default 127.0.0.1)
  --no-http                 no HTTP listener
  --no-auto-create-topics   create no topic on first use: a produce to a missing topic fails
  --default-partitions N    partitions of automatically created topics (default 1)
  --default-flush POLICY    always | none | interval:<ms> (default always)
  --disk-free-min-bytes N   refuse produces (DISK_FREE_LOW, retriable) while the data directory's
                            file system has fewer free bytes (default 134217728, 128 MiB; 0: never)
  --producer-idle-ms-max MS a partition forgets an idempotent producer id idle this long, as Kafka's
                            producer.id.expiration.ms (default ${producerIdleMsMaxDefault}, 1 day)
  --offsets-retention-ms MS a consumer group without members is deleted with its offsets this long
                            after its last commit, as Kafka's offsets.retention.minutes
                            (default ${offsetsRetentionMsDefault}, 7 days)
  --fetch-memory-bytes N    bytes that running fetches and unsent fetch answers and push deliveries
                            hold, every native and Kafka connection together; at the bound fetches
                            run smaller (default ${fetchMemoryDefaults.bytesMax}, 128 MiB; ${memoryBoundBytesRange})
  --request-memory-bytes N  bytes of requests read and not yet handled, every native and Kafka
                            connection together, as Kafka's queued.max.request.bytes; at the bound
                            connections stop reading (default ${requestMemoryDefaults.bytesMax}, 64 MiB; ${memoryBoundBytesRange})
  --queue-window-memory-bytes N
                            bytes of the log that every queue subscription's windows hold together;
                            at the bound they stop reading ahead (default ${queueWindowMemoryDefaults.bytesMax}, 64 MiB; ${memoryBoundBytesRange})
  --queue-lease-memory-bytes N
                            bytes of the messages every queue consumer holds leased (delivered, not
                            settled) together; at the bound a consumer is handed more only while it
                            holds under 64 KiB (default ${queueLeaseMemoryDefaults.bytesMax}, 64 MiB; ${memoryBoundBytesRange})
  --connections-max N       connections each listener (native, Kafka, HTTP) keeps open; further ones
                            are refused (default ${connectionsMaxDefault}; 1 to ${connectionsMaxLimit})
  --log-level LEVEL         debug | info | warn | error (default info)
  --repair                  a partition damaged before its durable end is cut at the damage (what
                            follows it is dropped, and logged) instead of stopping the start`;

/** The range of --producer-idle-ms-max and --offsets-retention-ms: 100 ms to 10 years. */
const expiryMsMin = 100;
const expiryMsMax = 10 * 365 * 24 * 3_600_000;

/** Environment variable: how often a long start logs its progress, in ms (default 5000). */
export const startProgressIntervalVariable = 'WEIR_START_PROGRESS_INTERVAL_MS';

/** Not an option: tests shorten the interval to see the progress of a start without making a long one. */
function startProgressIntervalOf(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const intervalMs = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(intervalMs) || intervalMs < 1) throw new UsageError(`${startProgressIntervalVariable}=${JSON.stringify(value)}: expected a whole number of milliseconds, at least 1`);
  return intervalMs;
}

function memoryBoundOption(name: string, value: string | undefined, fallback: number): number {
  return integerOption(name, value, fallback, memoryBoundBytesMin, memoryBoundBytesLimit);
}

export async function start(argv: string[]): Promise<number> {
  const { values } = parseCommandLine({
    args: argv,
    options: {
      'data-dir': { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      'native-connection-idle-ms-max': { type: 'string' },
      'native-hello-ms-max': { type: 'string' },
      'frame-arrival-ms-max': { type: 'string' },
      'kafka-port': { type: 'string' },
      'no-kafka': { type: 'boolean' },
      'kafka-advertised-host': { type: 'string' },
      'kafka-connection-idle-ms-max': { type: 'string' },
      'http-port': { type: 'string' },
      'http-host': { type: 'string' },
      'no-http': { type: 'boolean' },
      'no-auto-create-topics': { type: 'boolean' },
      'default-partitions': { type: 'string' },
      'default-flush': { type: 'string' },
      'log-level': { type: 'string' },
      'disk-free-min-bytes': { type: 'string' },
      'producer-idle-ms-max': { type: 'string' },
      'offsets-retention-ms': { type: 'string' },
      'fetch-memory-bytes': { type: 'string' },
      'request-memory-bytes': { type: 'string' },
      'queue-window-memory-bytes': { type: 'string' },
      'queue-lease-memory-bytes': { type: 'string' },
      'connections-max': { type: 'string' },
      repair: { type: 'boolean' },
    },
    strict: true,
  });
  const logger = createLogger(choiceOption('log-level', values['log-level'], logLevels, 'info'));
  const defaults: Partial<TopicConfig> = { partitions: integerOption('default-partitions', values['default-partitions'], 1, 1, 10_000) };
  if (values['default-flush'] !== undefined) {
    try {
      defaults.flush = parseFlushPolicy(values['default-flush']);
    } catch (error) {
      throw new UsageError(`--default-flush ${JSON.stringify(values['default-flush'])}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  const dataDir = resolve(values['data-dir'] ?? dataDirDefault);
  const startProgressIntervalMs = startProgressIntervalOf(process.env[startProgressIntervalVariable]);
  const server = await startServer({
    dataDir,
    host: values.host ?? '127.0.0.1',
    port: integerOption('port', values.port, nativePortDefault, 0, 65535),
    nativeConnectionIdleMsMax: integerOption('native-connection-idle-ms-max', values['native-connection-idle-ms-max'], nativeConnectionIdleMsMaxDefault, 0, nativeConnectionIdleMsMaxLimit),
    nativeHelloMsMax: integerOption('native-hello-ms-max', values['native-hello-ms-max'], nativeHelloMsMaxDefault, 1, nativeHelloMsMaxLimit),
    frameArrivalMsMax: integerOption('frame-arrival-ms-max', values['frame-arrival-ms-max'], frameArrivalMsMaxDefault, 0, frameArrivalMsMaxLimit),
    kafkaPort: values['no-kafka'] ? null : integerOption('kafka-port', values['kafka-port'], kafkaPortDefault, 0, 65535),
    ...(values['kafka-advertised-host'] ? { kafkaAdvertisedHost: values['kafka-advertised-host'] } : {}),
    kafkaConnectionIdleMsMax: integerOption('kafka-connection-idle-ms-max', values['kafka-connection-idle-ms-max'], kafkaConnectionIdleMsMaxDefault, 0, kafkaConnectionIdleMsMaxLimit),
    httpPort: values['no-http'] ? null : integerOption('http-port', values['http-port'], httpPortDefault, 0, 65535),
    httpHost: values['http-host'] ?? '127.0.0.1',
    autoCreateTopics: !values['no-auto-create-topics'],
    defaultTopicConfig: defaults,
    ...(values.repair ? { repair: true } : {}),
    diskFreeMinBytes: integerOption('disk-free-min-bytes', values['disk-free-min-bytes'], diskFreeMinBytesDefault, 0),
    producerIdleMsMax: integerOption('producer-idle-ms-max', values['producer-idle-ms-max'], producerIdleMsMaxDefault, expiryMsMin, expiryMsMax),
    offsetsRetentionMs: integerOption('offsets-retention-ms', values['offsets-retention-ms'], offsetsRetentionMsDefault, expiryMsMin, expiryMsMax),
    fetchMemoryBytesMax: memoryBoundOption('fetch-memory-bytes', values['fetch-memory-bytes'], fetchMemoryDefaults.bytesMax),
    requestMemoryBytesMax: memoryBoundOption('request-memory-bytes', values['request-memory-bytes'], requestMemoryDefaults.bytesMax),
    queueWindowMemoryBytesMax: memoryBoundOption('queue-window-memory-bytes', values['queue-window-memory-bytes'], queueWindowMemoryDefaults.bytesMax),
    queueLeaseMemoryBytesMax: memoryBoundOption('queue-lease-memory-bytes', values['queue-lease-memory-bytes'], queueLeaseMemoryDefaults.bytesMax),
    connectionsMax: integerOption('connections-max', values['connections-max'], connectionsMaxDefault, 1, connectionsMaxLimit),
    ...(startProgressIntervalMs !== undefined ? { startProgressIntervalMs } : {}),
    logger,
  });
  const host = values.host ?? '127.0.0.1';
  const kafka = server.kafkaPort === null ? '' : `, Kafka protocol on ${host}:${server.kafkaPort}`;
  const http = server.httpPort === null ? '' : `, HTTP on ${values['http-host'] ?? '127.0.0.1'}:${server.httpPort}`;
  logger('info', `weir broker ready: native protocol on ${host}:${server.nativePort}${kafka}${http}, data in ${dataDir} (pid ${process.pid})`);
  return new Promise<number>((done) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) {
        logger('warn', `${signal} again: exiting without finishing the shutdown`);
        process.exit(1);
      }
      stopping = true;
      logger('info', `${signal}: shutting down (in-flight appends finish, segments close cleanly)`);
      const started = Date.now();
      server.close().then(
        () => {
          logger('info', `shut down in ${Date.now() - started} ms`);
          done(0);
        },
        (error) => {
          logger('error', `shutdown failed: ${String(error)}`);
          done(1);
        },
      );
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
