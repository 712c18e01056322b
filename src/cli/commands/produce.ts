/**
 * `weir produce TOPIC`: one message per stdin line. Lines go through the producer's batching
 * without waiting for each acknowledgement; reading pauses while the producer's buffer is full.
 * Exits 0 only once every line is acknowledged; otherwise 1 with the first error.
 */
import type { Producer, ProducerMessage, RecordHeader } from '../../client/index.js';
import { WeirError } from '../../util/errors.js';
import { choiceOption, integerOption, keyValueOptions, optionalIntegerOption, parseCommandLine, positionalArguments, serverOptionSpec, UsageError } from '../args.js';
import { connectBroker, reportDisconnects } from '../broker-client.js';
import { LineSplitter } from '../line-splitter.js';
import { formatCount, Progress } from '../progress.js';

export const produceUsage = `weir produce TOPIC [options]     send each line of stdin as one message
  --key K                   the key of every message (same key: same partition, in order)
  --key-separator SEP       split each line at the first SEP into key and value
  --partition N             send to this partition (default: by key, else batches spread round-robin)
  --header K=V              add a header to every message (repeatable)
  --delay-ms MS             queue subscriptions deliver each message no earlier than MS from now
  --ttl-ms MS               queue subscriptions skip each message once it is older than MS
  --acks none|leader        leader (default): wait until stored by the topic's flush policy
  --linger-ms MS            wait this long to fill a batch (default 5)
  --timeout-ms MS           give up when sent lines wait this long with nothing acknowledged (default 30000)
  --progress                report progress on stderr (default: only when stderr is a terminal)
  --server HOST:PORT        broker address (default: $WEIR_SERVER, else 127.0.0.1:7400)`;

/** The longest --delay-ms and --ttl-ms: a year. */
const scheduleMsMax = 365 * 24 * 3_600_000;

export async function produce(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine({
    args: argv,
    options: {
      ...serverOptionSpec,
      key: { type: 'string' },
      'key-separator': { type: 'string' },
      partition: { type: 'string' },
      header: { type: 'string', multiple: true },
      acks: { type: 'string' },
      'delay-ms': { type: 'string' },
      'ttl-ms': { type: 'string' },
      'linger-ms': { type: 'string' },
      'timeout-ms': { type: 'string' },
      progress: { type: 'boolean' },
    },
    allowPositionals: true,
    strict: true,
  });
  const [topic] = positionalArguments(positionals, ['TOPIC']);
  const acks = choiceOption('acks', values.acks, ['none', 'leader'] as const, 'leader');
  const partition = optionalIntegerOption('partition', values.partition, 0, 2 ** 31 - 1);
  const headers: RecordHeader[] = keyValueOptions('header', values.header).map(({ key, value }) => {
    if (key.startsWith('weir-')) throw new UsageError(`--header ${key}: names starting with "weir-" are reserved (use --delay-ms and --ttl-ms)`);
    return { key, value: value === null ? null : Buffer.from(value) };
  });
  const delayMs = optionalIntegerOption('delay-ms', values['delay-ms'], 0, scheduleMsMax);
  const ttlMs = optionalIntegerOption('ttl-ms', values['ttl-ms'], 1, scheduleMsMax);
  const lingerMs = integerOption('linger-ms', values['linger-ms'], 5, 0, 60_000);
  const timeoutMs = integerOption('timeout-ms', values['timeout-ms'], 30_000, 1, 3_600_000);
  if (values.key !== undefined && values['key-separator'] !== undefined) throw new UsageError('--key and --key-separator exclude each other: give one key, or split each line');
  const separator = values['key-separator'] === undefined ? null : Buffer.from(values['key-separator']);
  if (separator !== null && separator.length === 0) throw new UsageError('--key-separator "": expected at least one character');
  const fixedKey = values.key === undefined ? null : Buffer.from(values.key);

  const client = await connectBroker(values.server, 'weir-produce');
  const stopReporting = reportDisconnects(client, 'produce');
  const producer = client.producer({ acks, lingerMs });
  const tally = new Tally();
  const progress = new Progress(values.progress ?? false);
  const startedMs = performance.now();
  progress.start(() => tally.describe(startedMs));
  const toMessage = (line: Buffer): ProducerMessage => {
    const message: ProducerMessage = { key: fixedKey, value: line, partition };
    if (headers.length > 0) message.headers = headers;
    if (delayMs !== undefined || ttlMs !== undefined) {
      // The producer's fast path for header-less Buffer messages skips the scheduling fields:
      // a headers array (even empty) sends the message through the path that adds them.
      message.headers = headers;
      message.delayMs = delayMs;
      message.ttlMs = ttlMs;
    }
    if (separator !== null) {
      const at = line.indexOf(separator);
      if (at >= 0) {
        message.key = line.subarray(0, at);
        message.value = line.subarray(at + separator.length);
      }
    }
    return message;
  };
  // The watchdog runs from the first line: a broker gone mid-run fails the command after
  // --timeout-ms, even while stdin is still open.
  const watchdog = tally.watch(timeoutMs, client.address, producer);
  try {
    await Promise.race([
      (async () => {
        await sendLines(producer, topic!, toMessage, tally);
        await producer.flush();
      })(),
      watchdog.fired,
    ]);
  } catch (error) {
    tally.failure ??= error as WeirError;
  } finally {
    watchdog.stop();
    progress.stop(progress.enabled ? tally.describe(startedMs) : undefined);
    stopReporting();
  }
  if (tally.failure !== null) {
    process.exitCode = 1;
    throw tally.failure;
  }
  await client.close();
  return 0;
}

async function sendLines(producer: Producer, topic: string, toMessage: (line: Buffer) => ProducerMessage, tally: Tally): Promise<void> {
  const splitter = new LineSplitter();
  const blocked: Buffer[] = [];
  const onLine = (line: Buffer): void => {
    // Once the buffer is full the rest of the chunk waits (the line views are copied by the builder).
    if (blocked.length > 0 || !producer.sendNoWait(topic, toMessage(line), tally.onAck)) blocked.push(line);
    else tally.onSent();
  };
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    splitter.push(chunk, onLine);
    while (blocked.length > 0 && tally.failure === null) {
      await producer.ready();
      while (blocked.length > 0 && producer.sendNoWait(topic, toMessage(blocked[0]!), tally.onAck)) {
        blocked.shift();
        tally.onSent();
      }
    }
    if (tally.failure !== null) return;
  }
  splitter.end(onLine);
  for (const line of blocked.splice(0)) {
    tally.onSent();
    await producer.send(topic, toMessage(line)).then(() => tally.onAck(null), (error: WeirError) => tally.onAck(error));
  }
}

/** Counts acknowledgements through one shared callback (no closure per line). */
class Tally {
  sent = 0;
  acknowledged = 0;
  failure: WeirError | null = null;
  /** When the last acknowledgement came, or the first line since everything was acknowledged went out. */
  #progressAtMs = performance.now();

  readonly onAck = (error: WeirError | null): void => {
    if (error === null) {
      this.acknowledged++;
      this.#progressAtMs = performance.now();
    } else {
      this.failure ??= error;
    }
  };

  onSent(): void {
    if (this.sent === this.acknowledged) this.#progressAtMs = performance.now();
    this.sent++;
  }

  describe(startedMs: number): string {
    const seconds = (performance.now() - startedMs) / 1000;
    return `produced ${formatCount(this.sent)} lines, ${formatCount(this.acknowledged)} acknowledged (${formatCount(this.acknowledged / Math.max(seconds, 0.001))} msg/s)`;
  }

  /** `fired` rejects with TIMEOUT once lines wait and nothing was acknowledged for `timeoutMs`. */
  watch(timeoutMs: number, address: string, producer: Producer): { fired: Promise<never>; stop: () => void } {
    let timer: NodeJS.Timeout | undefined;
    const fired = new Promise<never>((_, reject) => {
      timer = setInterval(() => {
        if (this.sent > this.acknowledged && performance.now() - this.#progressAtMs >= timeoutMs) {
          const refusal = producer.retryingAfter;
          const why = refusal === null ? '' : `; the broker kept refusing them with ${refusal.code}: ${refusal.message}`;
          reject(new WeirError('TIMEOUT', `${this.sent - this.acknowledged} of ${this.sent} messages were not acknowledged by ${address} within ${timeoutMs} ms${why}`));
        }
      }, Math.max(10, Math.min(250, timeoutMs / 4)));
    });
    fired.catch(() => {}); // raced where it matters; never an unhandled rejection
    return { fired, stop: () => clearInterval(timer) };
  }
}
