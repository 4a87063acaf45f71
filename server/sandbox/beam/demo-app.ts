import 'server-only';

// The demo app's build: its Erlang sources compiled once per content into a shared cache, safe
// when several processes (a sandbox, the tests) start pods at the same time.

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { BeamscopeError } from '../../errors';

const run = promisify(execFile);

/** The demo app's sources (`myapp*.erl`, `myapp.app.src`), beside this file. */
export const DEMO_APP_SOURCE_DIR = fileURLToPath(new URL('./erlang/', import.meta.url));

let compiling: { key: string; ebin: Promise<string> } | undefined;

/**
 * Part of every build's cache key: bump it when the build's output changes for the same sources
 * (2: the `.app` lists its modules).
 */
const BUILD_FORMAT = 'demo-app-build-2';

/**
 * An `.app` from its `.app.src` as rebar3 and mix write it: with the `modules` it ships (what
 * `application:get_key(App, modules)` answers, and what beamscope's code scans read) and,
 * when given, another `vsn`.
 */
export function appResource(appSrc: string, modules: readonly string[], version?: string): string {
  return appSrc.replace(
    /\{vsn,\s*"([^"]*)"\}/,
    (_, current: string) => `{vsn, "${version ?? current}"},\n  {modules, [${modules.join(', ')}]}`,
  );
}

/** The modules a build holds: its `.beam` files' names. */
export async function builtModules(ebin: string): Promise<string[]> {
  return (await readdir(ebin))
    .filter((file) => file.endsWith('.beam'))
    .map((file) => file.slice(0, -'.beam'.length))
    .sort();
}

const PRUNE_AFTER_MS = 24 * 3600 * 1000;

/** Drops builds of older sources (a day old: nodes load every module within seconds of boot). */
async function pruneOldBuilds(cacheDir: string, current: string): Promise<void> {
  for (const entry of readdirSync(cacheDir)) {
    const path = join(cacheDir, entry);
    if (path === current || !/^(ebin|build)-/.test(entry)) continue;
    try {
      if (Date.now() - statSync(path).mtimeMs > PRUNE_AFTER_MS) {
        await rm(path, { recursive: true, force: true });
      }
    } catch {
      // removed meanwhile by another process
    }
  }
}

/**
 * Compiles the demo app into `<cacheDir>/ebin-<hash of the sources>` unless that folder exists.
 * Building in a private folder and renaming it into place keeps concurrent processes safe.
 */
export function compileDemoApp(sourceDir: string, cacheDir: string): Promise<string> {
  const sources = readdirSync(sourceDir)
    .filter((file) => file.endsWith('.erl') || file.endsWith('.app.src'))
    .sort();
  const hash = createHash('sha256').update(BUILD_FORMAT);
  for (const source of sources) hash.update(source).update(readFileSync(join(sourceDir, source)));
  const ebin = join(cacheDir, `ebin-${hash.digest('hex').slice(0, 16)}`);
  if (compiling?.key === ebin) return compiling.ebin;
  const build = (async () => {
    if (existsSync(join(ebin, '.complete'))) return ebin;
    await mkdir(cacheDir, { recursive: true });
    const building = await mkdtemp(join(cacheDir, 'build-'));
    try {
      const erl = sources.filter((file) => file.endsWith('.erl'));
      await run('erlc', ['-o', building, ...erl.map((file) => join(sourceDir, file))], {
        timeout: 120_000,
      });
      const modules = await builtModules(building);
      for (const appSrc of sources.filter((file) => file.endsWith('.app.src'))) {
        await writeFile(
          join(building, appSrc.replace(/\.src$/, '')),
          appResource(readFileSync(join(sourceDir, appSrc), 'utf8'), modules),
        );
      }
      await writeFile(join(building, '.complete'), '');
      await rename(building, ebin);
      await pruneOldBuilds(cacheDir, ebin);
    } catch (error) {
      await rm(building, { recursive: true, force: true });
      // Another process may have won the race with the same content.
      if (existsSync(join(ebin, '.complete'))) return ebin;
      throw new BeamscopeError(
        'sandbox',
        'demo_app_compile_failed',
        `compiling the sandbox demo app (${sourceDir}) failed: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
    return ebin;
  })();
  compiling = { key: ebin, ebin: build };
  build.catch(() => {
    if (compiling?.ebin === build) compiling = undefined;
  });
  return build;
}
