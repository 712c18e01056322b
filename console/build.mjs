/**
 * Builds the web console into dist/console/: index.html, app.css and one bundled, minified app.js
 * (preact + htm and the console's own modules). Everything is local; the broker serves these
 * files at /console/. Run after `tsc -p console` (type check); esbuild itself only strips types.
 *
 *   node console/build.mjs            build once
 *   node console/build.mjs --watch    rebuild on change (development)
 */
import { build, context } from 'esbuild';
import { copyFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const consoleDir = dirname(fileURLToPath(import.meta.url));
const outDir = join(consoleDir, '..', 'dist', 'console');
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
}
