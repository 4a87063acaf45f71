import 'server-only';

// The demo app's releases: 0.1.0 is the app as it is (./erlang/), 0.2.0 the same app with the
// modules of ./erlang-0.2.0/ in their place and its .app saying 0.2.0. A pod runs one of them,
// so the sandbox can show the code skew of a rolling deploy: another md5 for myapp_device and
// another version of the `myapp` application on the pods that run 0.2.0.

import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { SANDBOX_APP_VERSIONS, type SandboxAppVersion } from '@/lib/api-sandbox';

import { BeamscopeError } from '../../errors';
import { appResource, builtModules, compileDemoApp, DEMO_APP_SOURCE_DIR } from './demo-app';

/** The demo app's releases; the first is what a pod runs unless told otherwise. */
export const DEMO_APP_VERSIONS = SANDBOX_APP_VERSIONS;
export type DemoAppVersion = SandboxAppVersion;
export const BASE_DEMO_APP_VERSION: DemoAppVersion = DEMO_APP_VERSIONS[0];

/** The modules that differ in a release, beside the base sources (`erlang-<version>/`). */
const overlaySourceDir = (version: DemoAppVersion) =>
  fileURLToPath(new URL(`./erlang-${version}/`, import.meta.url));

/** `version` if it is one of the demo app's releases; else a clear error naming them. */
export function demoAppVersion(version: unknown): DemoAppVersion {
  const known = DEMO_APP_VERSIONS.find((candidate) => candidate === version);
  if (known) return known;
  throw new BeamscopeError(
    'sandbox',
    'bad_request',
    `version must be one of ${DEMO_APP_VERSIONS.join(', ')} (the demo app's releases), not ${JSON.stringify(version)}`,
  );
}

/**
 * The folder to put ahead of the base build on a node's code path for `version`, or null for the
 * base release: the release's own modules, compiled once per content like the base, and its
 * `myapp.app` (the base one with the release's version).
 */
export async function demoOverlayEbin(
  version: DemoAppVersion,
  cacheDir: string,
  baseSourceDir = DEMO_APP_SOURCE_DIR,
): Promise<string | null> {
  if (version === BASE_DEMO_APP_VERSION) return null;
  // A folder of its own: each build prunes old builds beside it, and must not take the base's.
  const ebin = await compileDemoApp(overlaySourceDir(version), join(resolve(cacheDir), 'releases'));
  const baseSource = readFileSync(join(baseSourceDir, 'myapp.app.src'), 'utf8');
  // The release's modules are the base's (those it replaces among them) and its own new ones.
  const baseModules = readdirSync(baseSourceDir)
    .filter((file) => file.endsWith('.erl'))
    .map((file) => file.slice(0, -'.erl'.length));
  const modules = [...new Set([...baseModules, ...(await builtModules(ebin))])].sort();
  const app = appResource(baseSource, modules, version);
  // Written aside and renamed: a node starting meanwhile reads the old file or the new, whole.
  // A name of its own per call: pods of one release start together in one process (a rolling
  // upgrade), and a name per process let one rename take another's file (ENOENT).
  const partial = join(ebin, `.myapp.app.${process.pid}.${randomUUID()}`);
  await writeFile(partial, app);
  await rename(partial, join(ebin, 'myapp.app'));
  return ebin;
}
