/**
 * beamscope's server code compiled as a production build runs it, for benches that call it
 * in-process. tsx compiles with esbuild's `keepNames`, which wraps every closure a function
 * creates in a `__name(fn, "name")` call (an `Object.defineProperty` each): in a loop over
 * 200,000 registry keys (`compareCopies` formatting each with `formatTerm`, three closures a
 * call) that was a quarter of the CPU, and the production build (Next.js) has no such calls.
 *
 * `importBundled` bundles an entry with esbuild (tsx's own compiler) without `keepNames`, into
 * node_modules/.cache, and imports it. Packages stay external, resolved as usual (`server-only`
 * under the `react-server` condition the bench runs with). Everything that must share classes
 * (a connection's decoded terms and the code that checks them with `instanceof`) has to come
 * from one bundle: export it all from the one entry.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { build } from 'esbuild';

const root = join(import.meta.dirname, '..', '..');

/**
 * Bundles `source` (TypeScript, resolved from the repository's root, `@/` paths included) as
 * `name`.mjs and imports it.
 */
export async function importBundled<T>(name: string, source: string): Promise<T> {
  const dir = join(root, 'node_modules/.cache/beamscope-bench');
  await mkdir(dir, { recursive: true });
  const outfile = join(dir, `${name}.mjs`);
  await build({
    stdin: { contents: source, resolveDir: root, loader: 'ts', sourcefile: `${name}.ts` },
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    target: 'node22',
    tsconfig: join(root, 'tsconfig.json'),
    outfile,
    logLevel: 'error',
  });
  // A fresh URL each time: an edited source is rebuilt, and must not be served from the cache.
  return (await import(`${pathToFileURL(outfile).href}?at=${Date.now()}`)) as T;
}

/**
 * Bundles the program `entry` (a TypeScript file) into node_modules/.cache/beamscope-bench/`name`/
 * (where the external packages resolve from the repository's node_modules) and resolves to the
 * path of its compiled entry: a program plain Node.js runs (`--conditions=react-server` for
 * `server-only`). Its dynamic imports become chunks of their own, loaded when imported, as
 * Next.js splits a server build: what a program loads late is not in its memory from the start.
 */
export async function bundleProgram(name: string, entry: string): Promise<string> {
  const outdir = join(root, 'node_modules/.cache/beamscope-bench', name);
  await rm(outdir, { recursive: true, force: true });
  await build({
    entryPoints: { main: entry },
    bundle: true,
    splitting: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    target: 'node22',
    tsconfig: join(root, 'tsconfig.json'),
    outdir,
    outExtension: { '.js': '.mjs' },
    logLevel: 'error',
  });
  return join(outdir, 'main.mjs');
}
