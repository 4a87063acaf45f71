/**
 * The production build the benches run against: `BEAMSCOPE_SERVER_JS` when set (a copy made by
 * scripts/build-copy.sh), else the checkout's `.next/standalone/server.js`, built first when it
 * is missing or older than the sources.
 */
import { spawn } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');

/** What goes into the build: a change to any of these makes the standalone server stale. */
const SOURCES = [
  'app',
  'components',
  'lib',
  'server',
  'public',
  'instrumentation.ts',
  'next.config.js',
  'postcss.config.mjs',
  'package.json',
  'package-lock.json',
  'tsconfig.json',
];

async function newest(path: string): Promise<number> {
  let info;
  try {
    info = await stat(path);
  } catch {
    return 0;
  }
  if (!info.isDirectory()) return info.mtimeMs;
  let latest = info.mtimeMs;
  for (const entry of await readdir(path))
    latest = Math.max(latest, await newest(join(path, entry)));
  return latest;
}

/** Why the checkout's standalone server needs building, or null when it is current. */
export async function staleBuildReason(
  serverJs = join(root, '.next/standalone/server.js'),
): Promise<string | null> {
  const built = await newest(serverJs);
  if (built === 0) return `${serverJs} is missing`;
  for (const source of SOURCES) {
    if ((await newest(join(root, source))) > built) return `${source} changed since the last build`;
  }
  return null;
}

function sh(command: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', command], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    const keep = (chunk: Buffer) => {
      tail = (tail + chunk.toString()).slice(-4000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`\`${command}\` failed (${code}):\n${tail}`)),
    );
    child.once('error', reject);
  });
}

/**
 * The server.js to run. Builds the checkout when needed (`next build` then the standalone copy
 * step), under the same lock as scripts/build-copy.sh so two builds never share `.next/`.
 */
export async function ensureBuild(log: (line: string) => void): Promise<string> {
  const configured = process.env.BEAMSCOPE_SERVER_JS;
  if (configured) {
    log(`build: using BEAMSCOPE_SERVER_JS=${configured}`);
    return configured;
  }
  const serverJs = join(root, '.next/standalone/server.js');
  const reason = await staleBuildReason(serverJs);
  if (reason) {
    log(`build: ${reason}; running next build (a minute or two)`);
    await sh(
      'exec 9>/tmp/beamscope-build.lock && flock 9 && npx next build && node scripts/standalone.mjs',
    );
  }
  return serverJs;
}
