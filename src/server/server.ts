/**
 * The composition root: opens the broker core on a data directory and puts the protocol
 * listeners in front of it. Nothing imports this module but the entry points (cli, bench, tests).
 */
import { Broker } from '../broker/broker.js';
import type { TopicConfig } from '../broker/types.js';
import { NativeListener } from '../protocol/native/listener.js';
import type { Logger } from '../util/logger.js';

export { parseFlushPolicy } from '../broker/topic-config.js';
export type { TopicConfig };

export const nativePortDefault = 7400;
export const kafkaPortDefault = 9092;
export const dataDirDefault = './weir-data';

export interface ServerOptions {
  dataDir: string;
  host: string;
  /** Native protocol port; 0 picks a free one. */
  port: number;
  /** Kafka-compatible listener port; null turns it off. */
  kafkaPort: number | null;
  autoCreateTopics: boolean;
  defaultTopicConfig: Partial<TopicConfig>;
  logger: Logger;
}

export interface RunningServer {
  broker: Broker;
  nativePort: number;
  kafkaPort: number | null;
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
    logger: options.logger,
  });
  const listeners: Listener[] = [];
  try {
    const native = new NativeListener(broker, { host: options.host, port: options.port, logger: options.logger });
    const { port: nativePort } = await native.start();
    listeners.push(native);
    const kafkaPort: number | null = null; // the Kafka-compatible listener joins here
    let closing: Promise<void> | undefined;
    return {
      broker,
      nativePort,
      kafkaPort,
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
