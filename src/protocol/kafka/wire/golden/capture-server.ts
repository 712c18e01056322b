/**
 * Test support: a tiny in-memory Kafka stand-in that records every request frame a real client
 * sends and answers just enough to walk the client through produce, fetch, consumer groups and
 * admin calls. It exists to capture golden request bytes from kcat and kafkajs and to check that
 * they accept the responses Weir's codec encodes. Not a broker: one node, one member per group,
 * no durability, loopback only.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { decodeRequest, encodeResponse, encodeUnsupportedVersion, requestBody, type DecodedRequest } from '../codec.js';
import { kafkaErrors } from '../error-codes.js';
import { FrameReader } from '../frame-reader.js';
import { kafkaMessages as m } from '../messages.js';
import type { ResponseInput } from '../schema.js';
import { advertisedVersions, servesVersion } from '../versions.js';

export interface CapturedFrame {
  apiKey: number;
  apiVersion: number;
  clientId: string | null;
  /** The request frame without its size prefix. */
  frame: Buffer;
}

export interface CaptureServerOptions {
  /** Partitions of a topic the server has not seen yet. */
  partitionCount?: number;
  /** Longest a fetch with nothing to return waits (kept short so tests stay fast). */
  fetchWaitMsMax?: number;
  /** Answer ApiVersions above this version with UNSUPPORTED_VERSION (to capture fallbacks). */
  apiVersionsMax?: number;
}

interface PartitionLog {
  batches: Buffer[];
  offsetEnd: bigint;
}

const nodeId = 1;
const groupGeneration = 1;

export class CaptureServer {
  readonly frames: CapturedFrame[] = [];
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #topics = new Map<string, PartitionLog[]>();
  readonly #committed = new Map<string, bigint>();
  readonly #assignments = new Map<string, Buffer>();
  /** Topic configs set by AlterConfigs (DescribeConfigs answers only these). */
  readonly #configs = new Map<string, { name: string; value: string | null }[]>();
  readonly #partitionCount: number;
  readonly #fetchWaitMsMax: number;
  readonly #apiVersionsMax: number;
  #port = 0;
  #memberCounter = 0;

  constructor(options: CaptureServerOptions = {}) {
    this.#partitionCount = options.partitionCount ?? 1;
    this.#fetchWaitMsMax = options.fetchWaitMsMax ?? 50;
    this.#apiVersionsMax = options.apiVersionsMax ?? 3;
    this.#server = createServer((socket) => this.#accept(socket));
  }

  get port(): number {
    return this.#port;
  }

  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.#port = (this.#server.address() as { port: number }).port;
    return this.#port;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(socket: Socket): void {
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const frames = new FrameReader();
    let chain = Promise.resolve();
    socket.on('data', (chunk) => {
      const complete: Buffer[] = [];
      try {
        frames.push(chunk, (frame) => {
          complete.push(frame);
        });
      } catch {
        socket.destroy();
        return;
      }
      for (const frame of complete) {
        // Answer strictly in request order.
        chain = chain.then(() => this.#answer(socket, frame)).catch(() => {
          socket.destroy();
        });
      }
    });
  }

  async #answer(socket: Socket, frame: Buffer): Promise<void> {
    const decoded = decodeRequest(frame);
    const { header } = decoded;
    this.frames.push({ apiKey: header.apiKey, apiVersion: header.apiVersion, clientId: header.clientId, frame: Buffer.from(frame) });
    const refused = header.apiKey === m.apiVersions.apiKey && header.apiVersion > this.#apiVersionsMax;
    if (decoded.kind === 'unsupported' || refused || !servesVersion(header.apiKey, header.apiVersion)) {
      socket.write(Buffer.concat(encodeUnsupportedVersion(header)));
      return;
    }
    const chunks = await this.#respond(decoded);
    if (chunks !== null && !socket.destroyed) socket.write(Buffer.concat(chunks));
  }

  #log(topic: string): PartitionLog[] {
    let log = this.#topics.get(topic);
    if (log === undefined) {
      log = Array.from({ length: this.#partitionCount }, () => ({ batches: [], offsetEnd: 0n }));
      this.#topics.set(topic, log);
    }
    return log;
  }

  async #respond(decoded: DecodedRequest & { kind: 'request' }): Promise<Buffer[] | null> {
    const { header, message } = decoded;
    switch (message) {
      case m.apiVersions:
        return encodeResponse(m.apiVersions, header, { apiKeys: advertisedVersions.map((entry) => ({ ...entry })) });
      case m.metadata:
        return encodeResponse(m.metadata, header, this.#metadata(requestBody(decoded, m.metadata).topics));
      case m.produce:
        return this.#produce(decoded);
      case m.fetch:
        return encodeResponse(m.fetch, header, await this.#fetch(decoded));
      case m.listOffsets:
        return encodeResponse(m.listOffsets, header, this.#listOffsets(decoded));
      case m.findCoordinator:
        return encodeResponse(m.findCoordinator, header, { nodeId, host: '127.0.0.1', port: this.#port });
      case m.joinGroup:
        return encodeResponse(m.joinGroup, header, this.#joinGroup(decoded));
      case m.syncGroup: {
        const body = requestBody(decoded, m.syncGroup);
        for (const entry of body.assignments) this.#assignments.set(`${body.groupId}/${entry.memberId}`, Buffer.from(entry.assignment));
        const assignment = this.#assignments.get(`${body.groupId}/${body.memberId}`) ?? Buffer.alloc(0);
        return encodeResponse(m.syncGroup, header, { assignment });
      }
      case m.heartbeat:
        return encodeResponse(m.heartbeat, header, {});
      case m.leaveGroup: {
        const body = requestBody(decoded, m.leaveGroup);
        return encodeResponse(m.leaveGroup, header, { members: body.members.map((member) => ({ ...member })) });
      }
      case m.offsetCommit:
        return encodeResponse(m.offsetCommit, header, this.#offsetCommit(decoded));
      case m.offsetFetch:
        return encodeResponse(m.offsetFetch, header, this.#offsetFetch(decoded));
      case m.createTopics: {
        const body = requestBody(decoded, m.createTopics);
        for (const topic of body.topics) this.#log(topic.name);
        return encodeResponse(m.createTopics, header, { topics: body.topics.map((topic) => ({ name: topic.name })) });
      }
      case m.deleteTopics: {
        const body = requestBody(decoded, m.deleteTopics);
        for (const name of body.topicNames) this.#topics.delete(name);
        return encodeResponse(m.deleteTopics, header, { responses: body.topicNames.map((name) => ({ name })) });
      }
      case m.initProducerId:
        return encodeResponse(m.initProducerId, header, { producerId: 4242n, producerEpoch: 0 });
      case m.createPartitions: {
        const body = requestBody(decoded, m.createPartitions);
        for (const topic of body.topics) {
          const log = this.#log(topic.name);
          while (log.length < topic.count) log.push({ batches: [], offsetEnd: 0n });
        }
        return encodeResponse(m.createPartitions, header, { results: body.topics.map((topic) => ({ name: topic.name })) });
      }
      case m.alterConfigs: {
        const body = requestBody(decoded, m.alterConfigs);
        for (const resource of body.resources) this.#configs.set(resource.resourceName, resource.configs);
        return encodeResponse(m.alterConfigs, header, { responses: body.resources.map(({ resourceType, resourceName }) => ({ resourceType, resourceName })) });
      }
      case m.describeConfigs: {
        const body = requestBody(decoded, m.describeConfigs);
        return encodeResponse(m.describeConfigs, header, {
          results: body.resources.map(({ resourceType, resourceName }) => ({
            resourceType,
            resourceName,
            configs: (this.#configs.get(resourceName) ?? []).map(({ name, value }) => ({ name, value, configSource: 1 })),
          })),
        });
      }
      case m.describeGroups: {
        const body = requestBody(decoded, m.describeGroups);
        return encodeResponse(m.describeGroups, header, {
          groups: body.groups.map((groupId) => ({ groupId, groupState: 'Stable', protocolType: 'consumer', protocolData: 'RoundRobinAssigner' })),
        });
      }
      case m.listGroups:
        return encodeResponse(m.listGroups, header, { groups: [{ groupId: 'golden-group', protocolType: 'consumer' }] });
      default:
        return encodeUnsupportedVersion(header);
    }
  }

  #metadata(topics: { name: string }[] | null): ResponseInput<typeof m.metadata> {
    const names = topics === null || topics.length === 0 ? [...this.#topics.keys()] : topics.map((topic) => topic.name);
    return {
      brokers: [{ nodeId, host: '127.0.0.1', port: this.#port }],
      clusterId: 'weir-golden',
      controllerId: nodeId,
      topics: names.map((name) => ({
        name,
        partitions: this.#log(name).map((_, partitionIndex) => ({
          partitionIndex,
          leaderId: nodeId,
          replicaNodes: [nodeId],
          isrNodes: [nodeId],
        })),
      })),
    };
  }

  #produce(decoded: DecodedRequest & { kind: 'request' }): Buffer[] | null {
    const body = requestBody(decoded, m.produce);
    const responses = body.topics.map((topic) => ({
      name: topic.name,
      partitions: topic.partitions.map((partition) => {
        const log = this.#log(topic.name)[partition.index];
        if (log === undefined || partition.records === null || partition.records.length < 61) {
          return { index: partition.index, errorCode: kafkaErrors.UNKNOWN_TOPIC_OR_PARTITION };
        }
        const batch = Buffer.from(partition.records);
        const baseOffset = log.offsetEnd;
        batch.writeBigInt64BE(baseOffset, 0);
        log.batches.push(batch);
        log.offsetEnd += BigInt(batch.readInt32BE(57));
        return { index: partition.index, baseOffset, logStartOffset: 0n };
      }),
    }));
    if (body.acks === 0) return null;
    return encodeResponse(m.produce, decoded.header, { responses });
  }

  async #fetch(decoded: DecodedRequest & { kind: 'request' }): Promise<ResponseInput<typeof m.fetch>> {
    const body = requestBody(decoded, m.fetch);
    const answer = (): ResponseInput<typeof m.fetch> & { bytes: number } => {
      let bytes = 0;
      const responses = body.topics.map((topic) => ({
        topic: topic.topic,
        partitions: topic.partitions.map((partition) => {
          const log = this.#log(topic.topic)[partition.partition];
          if (log === undefined) return { partitionIndex: partition.partition, errorCode: kafkaErrors.UNKNOWN_TOPIC_OR_PARTITION };
          const batches = log.batches.filter((batch) => {
            const last = batch.readBigInt64BE(0) + BigInt(batch.readInt32BE(23));
            return last >= partition.fetchOffset;
          });
          const records = Buffer.concat(batches);
          bytes += records.length;
          return {
            partitionIndex: partition.partition,
            highWatermark: log.offsetEnd,
            lastStableOffset: log.offsetEnd,
            logStartOffset: 0n,
            abortedTransactions: [],
            records,
          };
        }),
      }));
      return { responses, bytes };
    };
    let result = answer();
    if (result.bytes === 0) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(body.maxWaitMs, this.#fetchWaitMsMax)));
      result = answer();
    }
    return { responses: result.responses };
  }

  #listOffsets(decoded: DecodedRequest & { kind: 'request' }): ResponseInput<typeof m.listOffsets> {
    const body = requestBody(decoded, m.listOffsets);
    return {
      topics: body.topics.map((topic) => ({
        name: topic.name,
        partitions: topic.partitions.map((partition) => {
          const log = this.#log(topic.name)[partition.partitionIndex];
          const offset = partition.timestamp === -1n ? log?.offsetEnd ?? 0n : 0n;
          return { partitionIndex: partition.partitionIndex, timestamp: -1n, offset };
        }),
      })),
    };
  }

  #joinGroup(decoded: DecodedRequest & { kind: 'request' }): ResponseInput<typeof m.joinGroup> {
    const body = requestBody(decoded, m.joinGroup);
    const memberId = body.memberId !== '' ? body.memberId : `${decoded.header.clientId ?? 'member'}-${++this.#memberCounter}`;
    const protocol = body.protocols[0];
    return {
      generationId: groupGeneration,
      protocolName: protocol?.name ?? '',
      leader: memberId,
      memberId,
      members: [{ memberId, metadata: protocol?.metadata ?? Buffer.alloc(0) }],
    };
  }

  #offsetCommit(decoded: DecodedRequest & { kind: 'request' }): ResponseInput<typeof m.offsetCommit> {
    const body = requestBody(decoded, m.offsetCommit);
    return {
      topics: body.topics.map((topic) => ({
        name: topic.name,
        partitions: topic.partitions.map((partition) => {
          this.#committed.set(`${body.groupId}/${topic.name}/${partition.partitionIndex}`, partition.committedOffset);
          return { partitionIndex: partition.partitionIndex };
        }),
      })),
    };
  }

  #offsetFetch(decoded: DecodedRequest & { kind: 'request' }): ResponseInput<typeof m.offsetFetch> {
    const body = requestBody(decoded, m.offsetFetch);
    return {
      topics: (body.topics ?? []).map((topic) => ({
        name: topic.name,
        partitions: topic.partitionIndexes.map((partitionIndex) => ({
          partitionIndex,
          committedOffset: this.#committed.get(`${body.groupId}/${topic.name}/${partitionIndex}`) ?? -1n,
          metadata: '',
        })),
      })),
    };
  }
}
