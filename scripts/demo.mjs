// `npm run demo`: the whole product on this machine. Starts the sandbox (an emulated Kubernetes
// API with pods of the service `myapp`), builds the dashboard when its build is missing or older
// than the sources, serves it, and keeps the sandbox moving (scale up, a pod turning unready, scale
// down) so there is something live to watch. Ctrl-C stops everything it started.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

import { parse } from 'yaml';

const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST ?? '127.0.0.1';
const pods = Number(process.env.BEAMSCOPE_DEMO_PODS ?? 5);
const sandboxDir = join('.beamscope', 'demo');
const children = [];

function log(message) {
  process.stdout.write(`demo: ${message}\n`);
}

function stopAll(code) {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  setTimeout(() => process.exit(code), 1500).unref();
}
process.on('SIGINT', () => stopAll(0));
process.on('SIGTERM', () => stopAll(0));

/** The newest modification time under the folders the production build is made from. */
function newestSource(paths) {
  let newest = 0;
  const visit = (path) => {
    if (!existsSync(path)) return;
    const stat = statSync(path);
    if (stat.isDirectory()) for (const entry of readdirSync(path)) visit(join(path, entry));
    else newest = Math.max(newest, stat.mtimeMs);
  };
  paths.forEach(visit);
  return newest;
}

function runToEnd(command, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: 'inherit' });
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} exited ${code}`)),
    );
  });
}

/** Starts `beamscope sandbox` and resolves with the JSON line it prints once ready. */
function startSandbox() {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['bin/beamscope.mjs', 'sandbox', '--pods', String(pods), '--dir', sandboxDir],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    children.push(child);
    child.on('exit', (code) =>
      reject(new Error(`the sandbox exited (${code}) before it was ready`)),
    );
    createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        const message = JSON.parse(line);
        if (message.ready) resolve(message);
      } catch {
        process.stdout.write(`${line}\n`);
      }
    });
  });
}

async function waitForHealth(url, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`the dashboard did not answer ${url} within ${timeoutMs / 1000} s`);
}

/** A client of the sandbox's control API, which shares the emulated API's TLS and token. */
function sandboxControl(sandbox) {
  const kubeconfig = parse(readFileSync(sandbox.kubeconfig, 'utf8'));
  const token = kubeconfig.users[0].user.token;
  const caData = kubeconfig.clusters[0].cluster['certificate-authority-data'];
  const ca = caData ? Buffer.from(caData, 'base64') : undefined;
  return (method, path, body) =>
    new Promise((resolve) => {
      const outgoing = request(
        new URL(`${sandbox.api}/_sandbox${path}`),
        {
          method,
          ca,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        },
        (response) => {
          response.resume();
          response.on('end', () => resolve(response.statusCode));
        },
      );
      outgoing.on('error', (error) => {
        log(`sandbox control ${method} ${path} failed: ${error.message}`);
        resolve(0);
      });
      outgoing.end(body === undefined ? undefined : JSON.stringify(body));
    });
}

/** A little life in the sandbox: every few seconds, one Kubernetes-like change through its control API. */
function driveScenario(sandbox) {
  const call = sandboxControl(sandbox);
  const steps = [
    ['scale up', () => call('POST', '/scale', { replicas: pods + 2 })],
    ['scale down', () => call('POST', '/scale', { replicas: pods })],
  ];
  let index = 0;
  const timer = setInterval(() => {
    const [name, step] = steps[index % steps.length];
    log(`scenario: ${name}`);
    void step();
    index += 1;
  }, 10_000);
  timer.unref();
}

try {
  const sandbox = await startSandbox();
  log(`sandbox ready: Kubernetes API at ${sandbox.api}, config ${sandbox.config}`);

  const buildId = join('.next', 'standalone', '.next', 'BUILD_ID');
  const sources = [
    'app',
    'components',
    'lib',
    'server',
    'public',
    'next.config.js',
    'package-lock.json',
  ];
  if (!existsSync(buildId) || newestSource(sources) > statSync(buildId).mtimeMs) {
    log('building the dashboard (next build)…');
    await runToEnd('npx', ['next', 'build']);
    await runToEnd(process.execPath, ['scripts/standalone.mjs']);
  }

  // The standalone server, as the container image runs it.
  const server = spawn(process.execPath, ['.next/standalone/server.js'], {
    stdio: 'inherit',
    env: { ...process.env, BEAMSCOPE_CONFIG: sandbox.config, PORT: String(port), HOSTNAME: host },
  });
  children.push(server);
  server.on('exit', (code) => {
    log(`the dashboard server exited (${code})`);
    stopAll(code ?? 1);
  });
  await waitForHealth(`http://${host}:${port}/api/healthz`, 60_000);
  driveScenario(sandbox);
  log(`open http://${host}:${port}  (Ctrl-C stops the demo)`);
} catch (error) {
  log(error instanceof Error ? error.message : String(error));
  stopAll(1);
}
