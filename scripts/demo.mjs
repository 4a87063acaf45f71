// `npm run demo`: the whole product on this machine. Starts the sandbox (an emulated Kubernetes
// API whose pods of the service `myapp` are real BEAM nodes clustering through it), builds the
// dashboard when its build is missing or older than the sources, serves it, and - unless run with
// `--quiet` - plays a short scenario on a loop through the sandbox's control API (scale up, one pod
// on the demo app's other release, a rolling upgrade to it, kill a node, partition, heal, scale
// down) so there is something live to watch. Ctrl-C (or SIGTERM to
// this process) stops everything it started and waits until it has.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST ?? '127.0.0.1';
const pods = Number(process.env.BEAMSCOPE_DEMO_PODS ?? 5);
const distPort = process.env.BEAMSCOPE_DEMO_DIST_PORT;
const stepMs = Number(process.env.BEAMSCOPE_DEMO_STEP_MS ?? 10_000);
/** `netns` (root) puts each pod in its own network namespace; loopback (the default) needs no root. */
const network = process.env.BEAMSCOPE_DEMO_NETWORK ?? 'loopback';
const quiet = process.argv.slice(2).includes('--quiet');
const sandboxDir = join('.beamscope', 'demo');
/** Everything started here: each is asked to stop, then waited for. */
const children = new Set();
let scenarioTimer;
let stopping = false;

function log(message) {
  process.stdout.write(`demo: ${message}\n`);
}

function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/**
 * Stops every child and exits once they are all gone. A Ctrl-C reaches the whole process group
 * already; SIGTERM to this process alone reaches only us, hence the explicit SIGTERM. The sandbox
 * stops its BEAM nodes before it exits (and they halt by themselves if it dies).
 */
async function stopAll(code) {
  if (stopping) return;
  stopping = true;
  clearInterval(scenarioTimer);
  for (const child of children) child.kill('SIGTERM');
  const deadline = Date.now() + 25_000;
  while (children.size > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  for (const child of children) child.kill('SIGKILL');
  process.exit(code);
}
process.on('SIGINT', () => void stopAll(0));
process.on('SIGTERM', () => void stopAll(0));

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
    const child = track(spawn(command, args, { stdio: 'inherit' }));
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} exited ${code}`)),
    );
  });
}

/** Starts `beamscope sandbox` and resolves with the JSON line it prints once every node is up. */
function startSandbox() {
  return new Promise((resolve, reject) => {
    const args = ['bin/beamscope.mjs', 'sandbox', '--pods', String(pods), '--dir', sandboxDir];
    if (distPort) args.push('--dist-port', distPort);
    if (network === 'netns' && process.getuid?.() !== 0) {
      log('BEAMSCOPE_DEMO_NETWORK=netns needs root; running the pods in the loopback mode');
    } else if (network !== 'loopback') {
      args.push('--network', network);
    }
    const child = track(spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] }));
    child.on('exit', (code) => {
      if (!stopping) {
        log(`the sandbox exited (${code})`);
        void stopAll(code || 1);
      }
      reject(new Error(`the sandbox exited (${code}) before it was ready`));
    });
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

/** A client of the sandbox's control API (`/_sandbox/*`), with the state file's token and CA. */
function sandboxControl(sandbox) {
  const state = JSON.parse(readFileSync(sandbox.state, 'utf8'));
  const ca = state.caFile ? readFileSync(state.caFile) : undefined;
  const send = state.api.startsWith('https:') ? httpsRequest : httpRequest;
  return (method, path, body) =>
    new Promise((resolve) => {
      const outgoing = send(
        new URL(`/_sandbox${path}`, state.api),
        {
          method,
          ...(ca ? { ca } : {}),
          headers: { authorization: `Bearer ${state.token}`, 'content-type': 'application/json' },
        },
        (response) => {
          let text = '';
          response.on('data', (chunk) => (text += chunk));
          response.on('end', () => {
            let reply;
            try {
              reply = JSON.parse(text);
            } catch {
              reply = undefined;
            }
            if (response.statusCode >= 300) {
              log(`  ${method} ${path}: ${reply?.error?.message ?? `HTTP ${response.statusCode}`}`);
            }
            resolve(reply);
          });
        },
      );
      outgoing.on('error', (error) => {
        if (!stopping) log(`sandbox control ${method} ${path} failed: ${error.message}`);
        resolve(undefined);
      });
      outgoing.end(body === undefined ? undefined : JSON.stringify(body));
    });
}

/** The live pods by IP order (the sandbox's status call). */
async function livePods(call) {
  const status = await call('GET', '/status');
  return (status?.pods ?? [])
    .filter((pod) => !pod.terminating && pod.phase === 'Running')
    .sort((a, b) => a.ip.localeCompare(b.ip, 'en', { numeric: true }));
}

/** The demo app's two releases: each loop upgrades to the other one. */
const RELEASES = ['0.1.0', '0.2.0'];

/**
 * Scale up, one pod on the other release (code skew), a rolling upgrade to it (the skew shows,
 * then goes), kill a node, partition, heal, scale down: one step every `stepMs`, on a loop.
 */
function driveScenario(sandbox) {
  const call = sandboxControl(sandbox);
  let release = 0;
  const steps = [
    async () => {
      log(`scenario: scale up to ${pods + 2} pods`);
      await call('POST', '/scale', { replicas: pods + 2 });
    },
    async () => {
      const next = RELEASES[(release + 1) % RELEASES.length];
      const pod = (await livePods(call)).at(0);
      if (!pod || stopping) return;
      log(`scenario: ${pod.name} (${pod.ip}) restarts on myapp ${next}: code skew`);
      await call('POST', `/pods/${encodeURIComponent(pod.name)}/app-version`, { version: next });
    },
    async () => {
      release = (release + 1) % RELEASES.length;
      log(`scenario: rolling upgrade to myapp ${RELEASES[release]}, pod by pod`);
      await call('POST', '/upgrade', { version: RELEASES[release] });
      log('scenario: rolling upgrade done: one release everywhere, no skew');
    },
    async () => {
      const victim = (await livePods(call)).at(1);
      if (!victim || stopping) return;
      log(`scenario: kill the node of ${victim.name} (${victim.ip}); it restarts after a back-off`);
      await call('POST', `/pods/${encodeURIComponent(victim.name)}/kill`);
    },
    async () => {
      const ips = (await livePods(call)).map((pod) => pod.ip);
      const half = Math.ceil(ips.length / 2);
      const sides = [ips.slice(0, half), ips.slice(half)];
      if (sides[1].length === 0 || stopping) return;
      log(`scenario: partition ${sides.map((side) => side.join(',')).join(' / ')}`);
      await call('POST', '/partition', { sides });
    },
    async () => {
      log('scenario: heal the partition');
      await call('POST', '/heal');
    },
    async () => {
      log(`scenario: scale down to ${pods} pods`);
      await call('POST', '/scale', { replicas: pods });
    },
  ];
  let index = 0;
  let busy = false;
  scenarioTimer = setInterval(() => {
    if (busy || stopping) return;
    busy = true;
    const step = steps[index % steps.length];
    index += 1;
    step().finally(() => (busy = false));
  }, stepMs);
}

try {
  const sandbox = await startSandbox();
  log(
    `sandbox ready: ${sandbox.pods} BEAM pods (${sandbox.nodes.join(', ')}) up in ${(sandbox.startMs / 1000).toFixed(1)} s; Kubernetes API at ${sandbox.api}, config ${sandbox.config}`,
  );

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
  const server = track(
    spawn(process.execPath, ['.next/standalone/server.js'], {
      stdio: 'inherit',
      env: {
        ...process.env,
        BEAMSCOPE_CONFIG: sandbox.config,
        PORT: String(port),
        HOSTNAME: host,
      },
    }),
  );
  server.on('exit', (code) => {
    if (stopping) return;
    log(`the dashboard server exited (${code})`);
    void stopAll(code ?? 1);
  });
  await waitForHealth(`http://${host}:${port}/api/healthz`, 60_000);
  if (!quiet) driveScenario(sandbox);
  log(
    `open http://${host}:${port}  (${quiet ? 'the cluster stays still (--quiet)' : `a scenario step every ${stepMs / 1000} s; --quiet for none`}; Ctrl-C stops the demo)`,
  );
} catch (error) {
  if (!stopping) {
    log(error instanceof Error ? error.message : String(error));
    void stopAll(1);
  }
}
