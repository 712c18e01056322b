/**
 * Test support: runs the real broker (`weir start`) as a child process on a free port and stops
 * it with a signal. Used by end-to-end tests that cross the process boundary.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const cliPath = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'cli', 'main.js');
const startTimeoutMs = 20_000;
const stopMsMax = 10_000;

export interface BrokerProcess {
  child: ChildProcess;
  port: number;
  /** The Kafka-compatible listener's port; null when started with --no-kafka. */
  kafkaPort: number | null;
  /** The HTTP listener's port; null when started with --no-http. */
  httpPort: number | null;
  url: string;
  /** Everything the broker wrote to stderr so far. */
  log(): string;
  /**
   * Sends `signal` and resolves with the exit code once the process is gone and its stderr is read
   * to the end, so `log()` then holds every line it wrote (SIGKILL after 10 s).
   */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** A port that was free a moment ago (bind to 0, read, release). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

/**
 * The ports named by `weir start`'s ready line (src/cli/commands/start.ts), or null before it:
 * `weir broker ready: native protocol on HOST:PORT[, Kafka protocol on HOST:PORT][, HTTP on
 * HOST:PORT], data in DIR (pid N)`, a listener that is off left out. A host may be IPv6 (`::1`):
 * its port is what follows the last colon.
 */
export function readyPorts(log: string): { port: number; kafkaPort: number | null; httpPort: number | null } | null {
  const match = /weir broker ready: native protocol on [^\s,]+:(\d+)(?:, Kafka protocol on [^\s,]+:(\d+))?(?:, HTTP on [^\s,]+:(\d+))?, data in /.exec(log);
  if (match === null) return null;
  const portOrNull = (text: string | undefined): number | null => (text === undefined ? null : Number(text));
  return { port: Number(match[1]), kafkaPort: portOrNull(match[2]), httpPort: portOrNull(match[3]) };
}

export async function startBrokerProcess(dataDir: string, options: { port?: number; kafkaPort?: number; httpPort?: number; args?: string[]; env?: NodeJS.ProcessEnv } = {}): Promise<BrokerProcess> {
  const port = options.port ?? 0;
  const child = spawn(process.execPath, [cliPath, 'start', '--data-dir', dataDir, '--port', String(port), '--kafka-port', String(options.kafkaPort ?? 0), '--http-port', String(options.httpPort ?? 0), ...(options.args ?? [])], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...options.env },
  });
  let text = '';
  child.stderr!.on('data', (chunk: Buffer) => (text += chunk.toString()));
  // 'close', not 'exit': a process can exit before the last of its stderr has been read here, and
  // an error that quotes `text` would then lose the end of what the broker said.
  const closed = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const { port: boundPort, kafkaPort, httpPort } = await new Promise<NonNullable<ReturnType<typeof readyPorts>>>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL'); // no broker left running behind a failed start
      reject(new Error(`broker did not start within ${startTimeoutMs} ms:\n${text}`));
    }, startTimeoutMs);
    const check = (): void => {
      const ports = readyPorts(text);
      if (ports !== null) {
        clearTimeout(timer);
        child.stderr!.off('data', check);
        resolve(ports);
      }
    };
    child.stderr!.on('data', check);
    void closed.then((code) => {
      clearTimeout(timer);
      reject(new Error(`broker exited with ${code} before it was ready:\n${text}`));
    });
  });
  return {
    child,
    port: boundPort,
    kafkaPort,
    httpPort,
    url: `weir://127.0.0.1:${boundPort}`,
    log: () => text,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const forced = setTimeout(() => child.kill('SIGKILL'), stopMsMax);
      const code = await closed;
      clearTimeout(forced);
      return code;
    },
  };
}
