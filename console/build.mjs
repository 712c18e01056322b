/**
 * Builds the web console into dist/console/: index.html, app.css and one bundled, minified app.js
 * (preact + htm and the console's own modules). Everything is local; the broker serves these
 * files at /console/. Run after `tsc -p console` (type check); esbuild itself only strips types.
 *
 * The console's unit tests (console/src/*.test.ts) are bundled for Node into dist/console-tests/,
 * where `node --test dist/` finds them with the rest of the suite.
 *
 *   node console/build.mjs            build once
 *   node console/build.mjs --watch    rebuild on change (development)
 */
import { build, context } from 'esbuild';
import { copyFile, mkdir, readdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const consoleDir = dirname(fileURLToPath(import.meta.url));
const outDir = join(consoleDir, '..', 'dist', 'console');
const testOutDir = join(consoleDir, '..', 'dist', 'console-tests');
const staticFiles = ['index.html', 'app.css'];

/** @type {import('esbuild').BuildOptions} */
const options = {
  entryPoints: [join(consoleDir, 'src', 'main.ts')],
  outfile: join(outDir, 'app.js'),
  bundle: true,
  format: 'esm',
  target: ['es2022'],
  minify: true,
  sourcemap: true,
  legalComments: 'linked',
  logLevel: 'warning',
};

async function buildTests() {
  const sourceDir = join(consoleDir, 'src');
  const entryPoints = (await readdir(sourceDir)).filter((name) => name.endsWith('.test.ts')).map((name) => join(sourceDir, name));
  await rm(testOutDir, { recursive: true, force: true });
  await build({ entryPoints, outdir: testOutDir, bundle: true, platform: 'node', format: 'esm', target: ['node20'], external: ['node:*'], logLevel: 'warning' });
}

async function copyStatic() {
  await mkdir(outDir, { recursive: true });
  for (const name of staticFiles) await copyFile(join(consoleDir, name), join(outDir, name));
}

if (process.argv.includes('--watch')) {
  await copyStatic();
  const watcher = await context(options);
  await watcher.watch();
  console.log(`watching console/ → ${outDir}`);
} else {
  await copyStatic();
  await build(options);
  await buildTests();
}
