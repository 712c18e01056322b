/**
 * For browser tests: the headless Chromium to drive (Debian's `chromium`, or `WEIR_CHROMIUM`).
 * Missing on a developer's machine, the tests skip with the returned reason; under CI (`CI` set)
 * a missing browser fails instead, since `.ci/run` installs it.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';

export const chromiumPath = process.env['WEIR_CHROMIUM'] ?? '/usr/bin/chromium';

/** Null when Chromium is there; otherwise why the test skips. Throws under CI. */
export function chromiumMissing(): string | null {
  if (existsSync(chromiumPath)) return null;
  assert.ok(process.env['CI'] === undefined, `chromium is missing at ${chromiumPath} on CI (.ci/run installs it)`);
  return `chromium not found at ${chromiumPath} (apt-get install chromium, or set WEIR_CHROMIUM)`;
}
