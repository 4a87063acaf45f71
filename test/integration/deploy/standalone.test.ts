import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, parse, relative } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { freePort, startSandbox, type RunningSandbox } from '../../e2e/support/app';

// What the image does, without Docker: the standalone folder the runtime stage copies, on its own
// outside the checkout, started as the image's CMD starts it, with the image's environment
// (listening on 0.0.0.0) and the manifests' access mode (a token read from a mounted file). Node's
// permission model confines it: it may read only its own folder, the configuration and the token
// (no node_modules of the checkout, no Erlang installation), write only where the Deployment
// mounts emptyDirs, and start no child process (so no `erl`); it may start worker threads (each
// cluster's distribution side runs on one). It must still answer its health check, serve its
// pages and assets, watch the Kubernetes API over verified TLS, join the BEAM mesh, and keep the
// API behind the token.
//
// Needs a production build: BEAMSCOPE_SERVER_JS (a copy made by scripts/build-copy.sh, e.g.
// /tmp/bs-base/standalone/server.js), else the checkout's .next/standalone.

const root = join(import.meta.dirname, '..', '..', '..');
const serverJs = process.env.BEAMSCOPE_SERVER_JS ?? join(root, '.next', 'standalone', 'server.js');
const source = dirname(serverJs);
const entry = basename(serverJs);

/** The folders the Deployment mounts writable (emptyDir) below the app; see deploy/kubernetes. */
const WRITABLE = ['.next/cache', '.next/server/route-cache'];

let scratch: string;
let app: string;
let sandbox: RunningSandbox;
let server: ChildProcess;
let output = '';
let url: string;
const token = randomBytes(24).toString('base64url');
const bearer = { authorization: `Bearer ${token}` };

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  ms = 60_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (server.exitCode !== null)
      throw new Error(`the server exited (${server.exitCode}):\n${output}`);
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} within ${ms} ms:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

beforeAll(async () => {
  if (!(await exists(serverJs))) {
    throw new Error(
      `no standalone build at ${serverJs}: run scripts/build-copy.sh DIR and set BEAMSCOPE_SERVER_JS=DIR/${entry}`,
    );
  }
  scratch = await mkdtemp(join(tmpdir(), 'beamscope-image-'));
  app = join(scratch, 'app');
  // verbatimSymlinks: the build links .next/node_modules/@scope/<hashed name> to a relative
  // ../../../node_modules/…; fs.cp would otherwise resolve them into the source folder (COPY keeps them).
  await cp(source, app, { recursive: true, verbatimSymlinks: true });
  for (const dir of WRITABLE) await mkdir(join(app, dir), { recursive: true });
  // The image's /tmp (and HOME), an emptyDir in the Deployment.
  const tmp = join(scratch, 'tmp');
  await mkdir(tmp);
  sandbox = await startSandbox(1);
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  // The sandbox's config with the manifests' access section; the token in a file of its own, as
  // the mounted Secret is (the config's relative paths resolve against the sandbox folder).
  const configDir = dirname(sandbox.config);
  const secrets = join(scratch, 'secrets');
  await mkdir(secrets);
  await writeFile(join(secrets, 'token'), `${token}\n`, { mode: 0o600 });
  const config = join(configDir, 'image.yaml');
  await writeFile(
    config,
    `${await readFile(sandbox.config, 'utf8')}\naccess:\n  mode: token\n  tokenFile: ${join(secrets, 'token')}\n`,
  );
  server = spawn(
    process.execPath,
    [
      '--permission',
      `--allow-fs-read=${app}`,
      `--allow-fs-read=${configDir}`,
      `--allow-fs-read=${secrets}`,
      ...WRITABLE.map((dir) => `--allow-fs-write=${join(app, dir)}`),
      `--allow-fs-write=${tmp}`,
      // Each cluster's connections run on a worker thread (server/collector/thread).
      '--allow-worker',
      entry,
    ],
    {
      cwd: app,
      stdio: ['ignore', 'pipe', 'pipe'],
      // The image's environment, not the test runner's (no NODE_PATH, no NODE_OPTIONS).
      env: {
        PATH: '/usr/bin:/bin',
        NODE_ENV: 'production',
        HOME: tmp,
        TMPDIR: tmp,
        HOSTNAME: '0.0.0.0',
        PORT: String(port),
        BEAMSCOPE_CONFIG: config,
        NEXT_TELEMETRY_DISABLED: '1',
      },
    },
  );
  server.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  server.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
}, 180_000);

afterAll(async () => {
  await stop(server);
  await sandbox?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe('the standalone output, alone, as the image runs it', () => {
  it('lives outside the checkout, with no node_modules above it', () => {
    expect(relative(root, app).startsWith('..')).toBe(true);
    const { root: fsRoot } = parse(app);
    for (let dir = dirname(app); dir !== fsRoot; dir = dirname(dir)) {
      expect(dir.startsWith(root)).toBe(false);
    }
  });

  it('answers /api/healthz, without the token', async () => {
    const health = await until('no healthy answer', async () => {
      const response = await fetch(`${url}/api/healthz`);
      return response.ok
        ? ((await response.json()) as { ok: boolean; clusters: number })
        : undefined;
    });
    expect(health).toEqual({ ok: true, clusters: 1 });
  }, 90_000);

  it('watches the Kubernetes API and joins the BEAM mesh, with no Erlang installation', async () => {
    const cluster = await until('the cluster did not come up', async () => {
      const response = await fetch(`${url}/api/clusters/sandbox`, { headers: bearer });
      if (!response.ok) return undefined;
      const body = (await response.json()) as {
        cluster: { kubernetes: { state: string }; mesh: { connected: number } };
      };
      return body.cluster.kubernetes.state === 'ok' && body.cluster.mesh.connected === 1
        ? body.cluster
        : undefined;
    });
    expect(cluster.kubernetes.state).toBe('ok');
  }, 90_000);

  it('keeps the API behind the token', async () => {
    expect((await fetch(`${url}/api/clusters`)).status).toBe(401);
    expect((await fetch(`${url}/api/clusters`, { headers: bearer })).status).toBe(200);
  });

  it('serves the sign-in page with its own static assets and public files', async () => {
    const page = await fetch(`${url}/sign-in`);
    expect(page.status).toBe(200);
    const html = await page.text();
    const scripts = [...html.matchAll(/\/_next\/static\/[^"'\s>]+\.js/g)].map((m) => m[0]);
    expect(scripts.length).toBeGreaterThan(0);
    for (const script of new Set(scripts)) {
      const asset = await fetch(`${url}${script}`);
      expect(asset.status, script).toBe(200);
    }
    expect((await fetch(`${url}/robots.txt`)).status).toBe(200);
  });

  it('read and wrote nothing the permission model refused', async () => {
    expect(output).not.toMatch(/ERR_ACCESS_DENIED|EACCES|EROFS/);
    // Any write outside the mounted cache folders would have been refused, and logged above.
    expect(await readFile(join(app, entry), 'utf8')).toBe(await readFile(serverJs, 'utf8'));
  });
});
