/**
 * Test support: an in-process broker in a temporary directory with a Kafka listener on
 * 127.0.0.1 (port 0), and kafkajs codecs for snappy, lz4 and zstd built on Weir's own
 * compression module (kafkajs ships only gzip).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import kafkajs from 'kafkajs';
import { Broker, type BrokerOptions } from '../../broker/broker.js';
import type { TopicConfig } from '../../broker/types.js';
import { compress, decompress, type CompressionCodec } from '../../format/compression.js';
import { KafkaListener } from './kafka-listener.js';

export interface KafkaStack {
  broker: Broker;
  listener: KafkaListener;
  port: number;
  bootstrap: string;
  logs: string[];
  close(): Promise<void>;
}

export interface KafkaStackOptions {
  requestBytesMax?: number;
  /** The broker's defaults for new topics. */
  defaultTopicConfig?: Partial<TopicConfig>;
  /** Where the broker keeps its files (default: the machine's file system). */
  fileSystem?: BrokerOptions['fileSystem'];
}

export async function startKafkaStack(options: KafkaStackOptions = {}): Promise<KafkaStack> {
  const dataDir = await mkdtemp(join(tmpdir(), 'weir-kafka-'));
  const logs: string[] = [];
  const logger = (level: string, message: string): void => {
    logs.push(`${level}: ${message}`);
  };
  const broker = await Broker.open({
    dataDir,
    autoCreateTopics: true,
    logger,
    defaultTopicConfig: options.defaultTopicConfig ?? {},
    ...(options.fileSystem === undefined ? {} : { fileSystem: options.fileSystem }),
  });
  const listener = new KafkaListener(broker, { host: '127.0.0.1', port: 0, logger, ...(options.requestBytesMax === undefined ? {} : { requestBytesMax: options.requestBytesMax }) });
  const { port } = await listener.start();
  return {
    broker,
    listener,
    port,
    bootstrap: `127.0.0.1:${port}`,
    logs,
    async close() {
      await listener.close();
      await broker.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

const { CompressionCodecs, CompressionTypes } = kafkajs;
const decompressedBytesMax = 64 * 1024 * 1024;

function kafkajsCodec(codec: CompressionCodec) {
  return () => ({
    async compress(encoder: { buffer: Buffer }): Promise<Buffer> {
      return Buffer.from(compress(codec, encoder.buffer));
    },
    async decompress(buffer: Buffer): Promise<Buffer> {
      return decompress(codec, buffer, decompressedBytesMax);
    },
  });
}

/** Registers snappy, lz4 and zstd with kafkajs (process-wide). */
export function registerKafkajsCodecs(): void {
  const codecs = CompressionCodecs as unknown as Record<number, unknown>;
  codecs[CompressionTypes.Snappy] = kafkajsCodec(2);
  codecs[CompressionTypes.LZ4] = kafkajsCodec(3);
  codecs[CompressionTypes.ZSTD] = kafkajsCodec(4);
}
