/** Test support: a process's resident memory, from /proc (Linux). */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';

/** VmRSS of process `pid`, in bytes. */
export async function residentBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  assert.ok(match, 'VmRSS in /proc/PID/status');
  return Number(match[1]) * 1024;
}

/** Samples `pid`'s resident memory every `intervalMs` until `stop` is called, which returns the largest sample. */
export function sampleResidentPeak(pid: number, intervalMs = 50): { stop(): Promise<number> } {
  let peak = 0;
  let sampling = residentBytes(pid).then((bytes) => void (peak = Math.max(peak, bytes)));
  const timer = setInterval(() => {
    sampling = sampling.then(() => residentBytes(pid)).then((bytes) => void (peak = Math.max(peak, bytes)));
  }, intervalMs);
  return {
    async stop() {
      clearInterval(timer);
      await sampling;
      return Math.max(peak, await residentBytes(pid));
    },
  };
}
