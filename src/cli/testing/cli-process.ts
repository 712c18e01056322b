/**
 * Test support: the real broker (`weir start`) and the real CLI as child processes. The broker
 * listens on a free port, read back from its "ready" log line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBrokerProcess } from '../../server/testing/broker-process.js';

/** dist/cli/main.js, next to this file's compiled folder. */
export const cliPath = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'main.js');

const cliRunMsMax = 30_000;

export interface BrokerProcess {
  address: string;
  process: ChildProcess;
  dataDir: string;
  /** SIGTERM, wait for the exit; the data directory is removed unless `keepData`. */
  stop(options?: { keepData?: boolean }): Promise<void>;
}

/** The real broker in a fresh data directory (server/testing/broker-process.ts does the spawning). */
export async function startBroker(extraArgs: string[] = []): Promise<BrokerProcess> {
  const dataDir = mkdtempSync(join(tmpdir(), 'weir-cli-test-'));
  const broker = await startBrokerProcess(dataDir, { args: extraArgs });
  return {
    address: `127.0.0.1:${broker.port}`,
    process: broker.child,
    dataDir,
    async stop(options = {}) {
      await broker.stop('SIGTERM');
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

/**
 * Runs `weir ...args` as `weir ... | head -1` would: the reader of its stdout goes away after the
 * first chunk. Resolves with the exit code and stderr once it exits (killed after 30 s).
 */
export function runCliIntoClosingReader(args: string[], server: string): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [cliPath, ...args, '--server', server], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  child.stdout.once('data', () => child.stdout.destroy());
  return new Promise((resolveResult) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), cliRunMsMax);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolveResult({ code, stderr });
    });
  });
}

/**
 * Runs `weir ...args` as `weir ... | head -n LINES` would: this process reads its stdout, and
 * once `lines` lines came, closes the pipe as a reader that exits does. `readerGone` resolves
 * with those lines once the pipe is closed; `exited` once the command exits (killed after 30 s).
 */
export function runCliIntoLineReader(args: string[], server: string, lines: number): { readerGone: Promise<string[]>; exited: Promise<{ code: number | null; stderr: string }> } {
  const child = spawn(process.execPath, [cliPath, ...args, '--server', server], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  let stdout = '';
  const readerGone = new Promise<string[]>((resolveLines) => {
    const read = (text: string): void => {
      stdout += text;
      const complete = stdout.split('\n').slice(0, -1);
      if (complete.length < lines) return;
      child.stdout.removeListener('data', read);
      child.stdout.once('close', () => resolveLines(complete.slice(0, lines)));
      child.stdout.destroy();
    };
    child.stdout.setEncoding('utf8').on('data', read);
  });
  const exited = new Promise<{ code: number | null; stderr: string }>((resolveResult) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), cliRunMsMax);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolveResult({ code, stderr });
    });
  });
  return { readerGone, exited };
}
