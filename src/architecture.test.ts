/**
 * The layer rule of ARCHITECTURE.md, enforced: every import in src/ points down. A file's layer is
 * the longest folder prefix below that names one. Test files and test support (`testing/` folders)
 * may import anything.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const allowed: Record<string, readonly string[]> = {
  util: [],
  format: ['util'],
  storage: ['util', 'format'],
  cluster: ['util', 'format', 'storage'],
  broker: ['util', 'format', 'storage', 'cluster'],
  'protocol/native/wire': ['util', 'format'],
  'protocol/native': ['util', 'format', 'broker', 'protocol/native/wire'],
  'protocol/kafka/wire': ['util', 'format'],
  'protocol/kafka': ['util', 'format', 'broker', 'protocol/kafka/wire'],
  'protocol/http': ['util', 'format', 'broker'],
  client: ['util', 'format', 'protocol/native/wire'],
  server: ['util', 'format', 'storage', 'cluster', 'broker', 'protocol/native', 'protocol/native/wire', 'protocol/kafka', 'protocol/kafka/wire', 'protocol/http'],
  cli: ['util', 'format', 'client', 'server', 'protocol/native/wire'],
  bench: ['util', 'format', 'storage', 'client', 'server', 'protocol/native/wire'],
};

const layers = Object.keys(allowed).sort((a, b) => b.length - a.length);

function layerOf(path: string): string | undefined {
  return layers.find((layer) => path === layer || path.startsWith(`${layer}/`));
}

// Compiled into dist/; read the TypeScript sources next door.
const srcRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'src');

function* sourceFiles(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* sourceFiles(path);
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') && !entry.name.endsWith('.d.ts')) yield path;
  }
}

test('imports point down the layers only', () => {
  const violations: string[] = [];
  let checked = 0;
  for (const file of sourceFiles(srcRoot)) {
    const from = relative(srcRoot, file);
    if (from.split('/').includes('testing')) continue; // test support, like test files
    const fromLayer = layerOf(dirname(from));
    if (fromLayer === undefined) {
      if (dirname(from) !== '.') violations.push(`${from}: not inside a known layer`);
      continue;
    }
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(/\bfrom\s+'(\.{1,2}\/[^']+)'|\bimport\(\s*'(\.{1,2}\/[^']+)'\s*\)/g)) {
      const target = relative(srcRoot, resolve(dirname(file), match[1] ?? match[2]!));
      const toLayer = layerOf(dirname(target));
      checked++;
      if (toLayer === fromLayer) continue;
      if (toLayer === undefined || !allowed[fromLayer]!.includes(toLayer)) {
        violations.push(`${from} (${fromLayer}) imports ${target} (${toLayer ?? 'no layer'})`);
      }
    }
  }
  assert.ok(checked > 0, 'found no imports to check: is the source tree where the test expects it?');
  assert.deepEqual(violations, []);
});
