/**
 * For tests: a real Broker in a temporary directory behind a NativeListener on 127.0.0.1 and a
 * free port. `restartListener` closes and reopens the listener on the same port (a broker
 * restart as far as clients can tell); `stop` closes everything and removes the directory.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Broker, type BrokerOptions } from '../../broker/broker.js';
import type { TopicConfig } from '../../broker/types.js';
import { NativeListener, type NativeListenerOptions } from './listener.js';

export interface TestBroker {
  broker: Broker;
  listener: NativeListener;
  port: number;
  url: string;
  logs: string[];
  restartListener(): Promise<void>;
  stop(): Promise<void>;
}

export async function startTestBroker(
  options: { defaultTopicConfig?: Partial<TopicConfig>; listener?: Partial<NativeListenerOptions>; broker?: Pick<BrokerOptions, 'diskFreeMinBytes'> } = {},
): Promise<TestBroker> {
  const dataDir = await mkdtemp(join(tmpdir(), 'weir-native-'));
  const logs: string[] = [];
  const logger = (level: string, message: string): void => void logs.push(`${level}: ${message}`);
  const broker = await Broker.open({
    dataDir,
    defaultTopicConfig: { flush: { kind: 'none' }, ...options.defaultTopicConfig },
    logger,
    ...options.broker,
  });
  const listenerOptions = { host: '127.0.0.1', port: 0, logger, ...options.listener };
  let listener = new NativeListener(broker, listenerOptions);
  const { port } = await listener.start();
  const harness: TestBroker = {
    broker,
    listener,
    port,
    url: `weir://127.0.0.1:${port}`,
    logs,
    async restartListener() {
      await harness.listener.close();
      listener = new NativeListener(broker, { ...listenerOptions, port });
      harness.listener = listener;
      await listener.start();
    },
    async stop() {
      await harness.listener.close();
      await broker.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return harness;
}
