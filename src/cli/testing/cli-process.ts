/**
 * Test support: the real broker (`weir start`) and the real CLI as child processes. The broker
 * listens on a free port, read back from its "ready" log line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** dist/cli/main.js, next to this file's compiled folder. */
export const cliPath = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'main.js');

const brokerStartMsMax = 15_000;
const cliRunMsMax = 30_000;

export interface BrokerProcess {
  address: string;
  process: ChildProcess;
  dataDir: string;
  /** SIGTERM, wait for the exit; the data directory is removed unless `keepData`. */
  stop(options?: { keepData?: boolean }): Promise<void>;
}

export async function startBroker(extraArgs: string[] = []): Promise<BrokerProcess> {
  const dataDir = mkdtempSync(join(tmpdir(), 'weir-cli-test-'));
  const child = spawn(process.execPath, [cliPath, 'start', '--port', '0', '--kafka-port', '0', '--data-dir', dataDir, '--log-level', 'info', ...extraArgs], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const address = await new Promise<string>((resolveAddress, reject) => {
    let log = '';
    const timer = setTimeout(() => reject(new Error(`the broker did not become ready in ${brokerStartMsMax} ms:\n${log}`)), brokerStartMsMax);
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (text: string) => {
      log += text;
      const match = /weir broker ready: native protocol on ([\d.]+:\d+)/.exec(log);
      if (match) {
        clearTimeout(timer);
        resolveAddress(match[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the broker exited with ${code} before it was ready:\n${log}`));
    });
  });
  child.stderr!.resume();
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  return {
    address,
    process: child,
    dataDir,
    async stop(options = {}) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const forced = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(forced);
      }
      if (!options.keepData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `weir ...args` with `input` on stdin; resolves when it exits (killed after 30 s). */
export function runCli(args: string[], options: { input?: string | Buffer; server?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  const fullArgs = options.server === undefined ? args : [...args, '--server', options.server];
  const child = spawn(process.execPath, [cliPath, ...fullArgs], { stdio: ['pipe', 'pipe', 'pipe'], env: options.env ?? process.env });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  child.stdin.on('error', () => {});
  child.stdin.end(options.input ?? '');
  return new Promise((resolveResult) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), cliRunMsMax);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolveResult({ code, stdout, stderr });
    });
  });
}
