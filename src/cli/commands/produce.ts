/**
 * `weir produce TOPIC`: one message per stdin line. Lines go through the producer's batching
 * without waiting for each acknowledgement; reading pauses while the producer's buffer is full.
 * Exits 0 only once every line is acknowledged; otherwise 1 with the first error, naming its line
 * when known (a line the producer refuses at once stops the input there).
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
    throw tally.report();
  }
  await client.close();
  return 0;
}

/**
 * Offers the lines in order. The first line is sent alone and awaited: it makes the producer
 * learn the topic, after which a line the producer refuses at once (MESSAGE_TOO_LARGE) is refused
 * inside `sendNoWait`, so its number is known and no later line is offered.
 */
async function sendLines(producer: Producer, topic: string, toMessage: (line: Buffer) => ProducerMessage, tally: Tally): Promise<void> {
  const splitter = new LineSplitter();
  const blocked: Buffer[] = [];
  let topicKnown = false;
  /** True once the producer took the line (or refused it for good); false: its buffer is full. */
  const offer = (line: Buffer): boolean => {
    tally.offeringLine = tally.sent + 1;
    const taken = producer.sendNoWait(topic, toMessage(line), tally.onAck);
    tally.offeringLine = 0;
    if (taken) tally.onSent();
    return taken;
  };
  const onLine = (line: Buffer): void => {
    if (tally.failure !== null) return;
    // Once the buffer is full the rest of the chunk waits (the line views are copied by the builder).
    if (!topicKnown || blocked.length > 0 || !offer(line)) blocked.push(line);
  };
  const offerBlocked = async (): Promise<void> => {
    if (!topicKnown && blocked.length > 0) {
      tally.onSent();
      await producer.send(topic, toMessage(blocked.shift()!)).then(() => tally.onAck(null), (error: WeirError) => tally.settle(error, 1));
      topicKnown = true;
    }
    while (blocked.length > 0 && tally.failure === null) {
      await producer.ready();
      while (blocked.length > 0 && tally.failure === null && offer(blocked[0]!)) blocked.shift();
    }
  };
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    splitter.push(chunk, onLine);
    await offerBlocked();
    if (tally.failure !== null) return;
  }
  splitter.end(onLine);
  await offerBlocked();
}

/** Counts acknowledgements through one shared callback (no closure per line). */
class Tally {
  sent = 0;
  acknowledged = 0;
  /** Lines the producer refused: settled, never to be acknowledged. */
  refused = 0;
  failure: WeirError | null = null;
  /** The number (from 1) of the line being offered, while `sendNoWait` runs; else 0. */
  offeringLine = 0;
  /** The number of the line that failed, when it is known; null otherwise. */
  failedLine: number | null = null;
  /** When the last acknowledgement came, or the first line since everything was acknowledged went out. */
  #progressAtMs = performance.now();

  /** The producer's callback of every line: a refusal inside `sendNoWait` is of the line offered. */
  readonly onAck = (error: WeirError | null): void => this.settle(error, this.offeringLine);

  /** One line's outcome; `line` is its number, or 0 when not known. */
  settle(error: WeirError | null, line: number): void {
    if (error === null) {
      this.acknowledged++;
      this.#progressAtMs = performance.now();
      return;
    }
    this.refused++;
    if (this.failure !== null) return;
    this.failure = error;
    if (line > 0) this.failedLine = line;
  }

  onSent(): void {
    if (this.sent === this.acknowledged + this.refused) this.#progressAtMs = performance.now();
    this.sent++;
  }

  /**
   * The failure as the command reports it, once every line sent is settled: which line it was
   * (when known) and how many of the lines were acknowledged.
   */
  report(): WeirError {
    const failure = this.failure!;
    if (failure.code === 'TIMEOUT' && this.refused === 0) return failure; // the watchdog's, with its counts
    const line = this.failedLine;
    const what = line === null
      ? `${this.acknowledged} of the ${this.sent} lines sent were acknowledged; the line that failed is not known`
      : line === 1
        ? 'line 1 of the input; nothing after it was sent'
        : `line ${line} of the input; ${this.acknowledged} of the ${line - 1} lines before it were acknowledged and nothing after it was sent`;
    return new WeirError(failure.code, `${failure.message} (${what})`, { cause: failure, retriable: failure.retriable });
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
        if (this.sent > this.acknowledged + this.refused && performance.now() - this.#progressAtMs >= timeoutMs) {
          const refusal = producer.retryingAfter;
          const why = refusal === null ? '' : `; the broker kept refusing them with ${refusal.code}: ${refusal.message}`;
          reject(new WeirError('TIMEOUT', `${this.sent - this.acknowledged - this.refused} of ${this.sent} messages were not acknowledged by ${address} within ${timeoutMs} ms${why}`));
        }
      }, Math.max(10, Math.min(250, timeoutMs / 4)));
    });
    fired.catch(() => {}); // raced where it matters; never an unhandled rejection
    return { fired, stop: () => clearInterval(timer) };
  }
}
