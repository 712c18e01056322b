// Weir's adapter for the side-by-side peer harness (../shared/bench/peers, README "Adapter surface").
//
//   EXTRA_PEERS="weir=bench/peer-adapter.mjs" ../shared/bench/peers/run-all.sh
//
// The 'main' role starts a fresh broker with default settings (flush policy `always`: a producer's
// acknowledgement means fdatasync'ed) on a free port with data in a temporary directory, and
// writes its address to a small file that the W3/W4 producer and consumer children read. The
// broker is stopped (SIGTERM, then SIGKILL after 10 s) by close(). Build first: `npm run build`.
//
// Before the harness measures anything, bench/warm-up.mjs runs about four seconds of traffic on
// scratch topics through the broker from a child process (deleted afterwards), so that the broker
// is measured with its hot paths compiled, as the peers' long-running servers are; the harness's
// own process, where the Weir client runs, stays as cold as it is for every peer's client.
// WEIR_ADAPTER_WARM_UP=0 measures the broker cold instead.
//
// How it publishes: the Weir client's producer, `sendNoWait` per message, batches per partition
// (linger 1 ms, or at once on flush()), idempotent, acks after fdatasync.
// How it consumes: W3/W4 a stream subscription (consumer group) of one member, push delivery with
// the harness's prefetch as credits; consumed offsets are committed (the acknowledgement of a log
// subscription is its offset) every second and at stop. W5 ('work'): a queue subscription on a
// one-partition topic (see topicPartitions below); the 4 consumers compete for every message
// (push with the harness's prefetch as credits) and acknowledge each message individually (acks
// share one request per event-loop turn, sent without asking for an answer, as RabbitMQ's
// basic.ack; the broker fdatasyncs them all the same, and close() waits until they are on disk).
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { connect } = await import(join(repo, 'dist/client/index.js'));
const addressFile = join(tmpdir(), 'weir-peer-adapter.json');
// Both modes use one partition. W5's queue is one partition as each peer's queue is one queue:
// a queue subscription's consumers compete for the messages of every partition, so partitions add
// no parallelism there, while four split each delivery and acknowledgement range four ways (more
// broker CPU per message: W5 drained about 8 % faster on one partition than on four, same machine).
const topicPartitions = 1;
const workSubscription = 'work';

function startBroker() {
  const dataDir = mkdtempSync(join(tmpdir(), 'weir-peer-'));
  // WEIR_BROKER_NODE_ARGS: extra Node flags for the broker process (e.g. "--cpu-prof" to profile).
  // WEIR_BROKER_ARGS: extra `weir start` flags (e.g. "--default-flush none" to see what the sync costs).
  // WEIR_BROKER_STDOUT: a file for the broker's standard output (where --trace-gc and the like print).
  const nodeArgs = (process.env.WEIR_BROKER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const brokerArgs = (process.env.WEIR_BROKER_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, join(repo, 'dist/cli/main.js'), 'start', '--port', '0', '--kafka-port', '0', '--http-port', '0', '--data-dir', dataDir, ...brokerArgs], {
    stdio: ['ignore', process.env.WEIR_BROKER_STDOUT ? openSync(process.env.WEIR_BROKER_STDOUT, 'w') : 'ignore', 'pipe'],
  });
  return new Promise((resolveStart, rejectStart) => {
    let text = '';
    const timer = setTimeout(() => rejectStart(new Error(`weir broker did not start in 15 s: ${text}`)), 15_000);
    child.stderr.on('data', (chunk) => {
      text += chunk;
      const match = /native protocol on [^:]+:(\d+)/.exec(text);
      if (match) {
        clearTimeout(timer);
        child.stderr.removeAllListeners('data');
        child.stderr.on('data', (more) => {
          if (/ (warn|error) /.test(String(more))) process.stderr.write(more);
        });
        resolveStart({ child, port: Number(match[1]), dataDir });
      }
    });
    child.on('exit', (code) => rejectStart(new Error(`weir broker exited with ${code}: ${text}`)));
  });
}

// Runs bench/warm-up.mjs against the broker in a child process and waits for it (see that file).
function warmUp(broker) {
  const child = spawn(process.execPath, [join(repo, 'bench/warm-up.mjs')], { stdio: ['ignore', 'ignore', 'inherit'] });
  return new Promise((resolveWarm, rejectWarm) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolveWarm();
      else {
        void stopBroker(broker);
        rejectWarm(new Error(`the broker warm-up failed (${signal ?? `exit ${code}`})`));
      }
    });
  });
}

async function stopBroker(broker) {
  if (broker.child.exitCode !== null) return;
  const exited = new Promise((r) => broker.child.once('exit', r));
  broker.child.kill('SIGTERM');
  const timer = setTimeout(() => broker.child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
  rmSync(broker.dataDir, { recursive: true, force: true });
}

export async function createAdapter(options = {}) {
  const { role = 'main' } = options;
  const warm = role === 'main' && (options.warmUp ?? process.env.WEIR_ADAPTER_WARM_UP !== '0');
  let broker = null;
  let port;
  if (role === 'main') {
    broker = await startBroker();
    port = broker.port;
    writeFileSync(addressFile, JSON.stringify({ port, pid: broker.child.pid }));
    if (warm) await warmUp(broker);
  } else {
    port = JSON.parse(readFileSync(addressFile, 'utf8')).port;
  }
  const url = `weir://127.0.0.1:${port}`;
  const clients = new Set();
  const open = async () => {
    const client = await connect(url, { clientId: `peer-bench-${role}` });
    clients.add(client);
    return client;
  };
  const admin = (await open()).admin();
  const modes = new Map();

  return {
    desc: `Weir (flush always: ack after fdatasync, group commit${role !== 'main' ? '' : warm ? '; broker warmed by scratch traffic before measuring' : '; broker measured cold'}), Weir TS client: sendNoWait batching per partition, push consumers with offset commits (log), queue subscription with per-message acks (work)`,

    async setup(mode, name) {
      await admin.deleteTopic(name).catch(() => {});
      await admin.createTopic(name, { partitions: topicPartitions });
      if (mode === 'work') await admin.createSubscription(name, workSubscription);
      modes.set(name, mode);
    },

    async producer(name) {
      const client = await open();
      const producer = client.producer({ lingerMs: 1 });
      const backlog = [];
      const pump = () => {
        while (backlog.length > 0) {
          const [buf, cb] = backlog[0];
          if (!producer.sendNoWait(name, { value: buf }, cb)) {
            producer.ready().then(pump);
            return;
          }
          backlog.shift();
        }
      };
      return {
        // The harness's callback goes to the producer as it is: one function for every message
        // lets the producer keep a batch's callbacks as one run (a closure per message cost a
        // quarter of the publishing process's CPU).
        send(buf, cb) {
          if (backlog.length > 0 || !producer.sendNoWait(name, { value: buf }, cb)) {
            backlog.push([buf, cb]);
            if (backlog.length === 1) producer.ready().then(pump);
          }
        },
        flush() {
          void producer.flush().catch(() => {});
        },
        async close() {
          await producer.close();
          clients.delete(client);
          await client.close();
        },
      };
    },

    async consumer(name, { prefetch = 100 } = {}) {
      const client = await open();
      if (modes.get(name) === 'work' || /^wq_/.test(name)) {
        const consumer = client.queueConsumer({ topic: name, subscription: workSubscription, prefetch });
        let running = null;
        return {
          async start(onMsg) {
            running = consumer.run({ eachMessage: (message) => onMsg(message.value) });
          },
          async stop() {
            await consumer.close();
            await running?.catch(() => {});
            clients.delete(client);
            await client.close();
          },
        };
      }
      const consumer = client.consumer({
        groupId: name,
        topics: [name],
        from: 'earliest',
        prefetchMessages: prefetch,
        autoCommitIntervalMs: 1_000,
      });
      let running = null;
      return {
        async start(onMsg) {
          running = consumer.run({ eachMessage: (message) => onMsg(message.value) });
          await consumer.start?.();
        },
        async stop() {
          await consumer.close();
          await running?.catch(() => {});
          clients.delete(client);
          await client.close();
        },
      };
    },

    async remaining(name) {
      if (modes.get(name) === 'work') {
        const subscription = await admin.describeSubscription(name, workSubscription);
        return { ready: subscription.backlogMessages - subscription.inFlight, unacked: subscription.inFlight, consumers: subscription.consumers };
      }
      const topic = await admin.describeTopic(name);
      const group = await admin.describeGroup(name).catch(() => ({ offsets: [], members: [] }));
      const committed = new Map(group.offsets.map((o) => [o.partition, o.offset]));
      let ready = 0n;
      for (const p of topic.partitions) ready += p.highWatermark - (committed.get(p.partition) ?? 0n);
      const messages = topic.partitions.reduce((sum, p) => sum + (p.highWatermark - p.offsetStart), 0n);
      return modes.get(name) === 'work'
        ? { ready: Number(ready), unacked: 0, consumers: group.members.length }
        : { messages: Number(messages), consumers: group.members.length, unread: Number(ready) };
    },

    async teardown(name) {
      await admin.deleteTopic(name).catch(() => {});
    },

    async close() {
      for (const client of clients) await client.close().catch(() => {});
      clients.clear();
      if (broker) await stopBroker(broker);
    },

    pid() {
      return broker ? broker.child.pid : JSON.parse(readFileSync(addressFile, 'utf8')).pid;
    },
  };
}
