/**
 * Real BEAM nodes for integration tests: `erl` from the machine (OTP 25), optionally with
 * Elixir's code path, in EPMD, epmd-less or TLS distribution mode.
 *
 * Every node runs `beam_harness_control` (test/support/fixtures/erlang), a loopback TCP control
 * channel through which {@link BeamNode.eval} evaluates Erlang expressions on the node. It does
 * not go through beamscope's distribution client, which is what the tests exercise. The harness
 * also holds a "lifeline" connection to each node: if the test process dies without stopping a
 * node, the node sees the connection close and halts, so no node outlives its test run.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { createServer, connect, isIPv4, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { mapAddress, type AddressMapping } from '../../server/erlang/address-map';
import { compileDemoApp, DEMO_APP_SOURCE_DIR } from '../../server/sandbox/beam/demo-app';

const run = promisify(execFile);

const FIXTURES_DIR = fileURLToPath(new URL('./fixtures/erlang/', import.meta.url));
const ELIXIR_LIB_DIR = process.env.BEAMSCOPE_ELIXIR_LIB ?? '/usr/lib/elixir/lib';
const READY_TIMEOUT_MS = 30_000;
const EVAL_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 5_000;
const OUTPUT_TAIL_BYTES = 16_384;

/** TLS distribution files: the node uses the same certificate as server and as client. */
export interface BeamTlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
}

/** How to start a test node; see {@link startBeamNode}. */
export interface BeamNodeOptions {
  /** Long node name, e.g. `a@127.0.0.1`. */
  name: string;
  cookie: string;
  /** `epmd` (default) registers with EPMD; `epmdless` listens on a fixed port without EPMD. */
  mode?: 'epmd' | 'epmdless';
  /** The distribution port: required-ish for epmdless (a free one is picked when absent). */
  port?: number;
  /**
   * `inet_tls` distribution with `verify_peer` and `fail_if_no_peer_cert` both ways. For nodes to
   * connect to each other the certificate must also list the host as a DNS name (e.g.
   * `DNS:127.0.0.1`): OTP 25's `inet_tls_dist` checks the peer's host as a DNS name, whatever
   * the client options say, and an IP SAN alone fails with `hostname_check_failed`.
   */
  tls?: BeamTlsFiles;
  /** Load Elixir's code path and start the `elixir` application. */
  elixir?: boolean;
  /**
   * Nodes to `net_kernel:connect_node/1` to once up; start fails if one cannot be reached.
   * `:global` and `pg` merge the nodes' registrations asynchronously after connecting: poll
   * before asserting on cluster-wide counts.
   */
  connectTo?: string[];
  /** An Erlang expression evaluated once the node is up (fixtures); start fails if it raises. */
  evalOnStart?: string;
  /** More compiled code on the node's path, e.g. the sandbox demo app's ebin for its stand-ins. */
  codePaths?: string[];
  /**
   * Name the node with an address it does not own, as the sandbox's loopback mode does: it
   * listens on the name's host mapped through this (`10.244.x.y` → `127.0.x.y`) and dials its
   * peers the same way (the demo app's `myapp_epmd`). Epmdless mode only.
   */
  addressMap?: AddressMapping[];
}

/** A running test node. */
export interface BeamNode {
  name: string;
  /** The OS pid of the emulator process. */
  pid: number;
  /** The distribution port when it was fixed (epmdless, or `port` given). */
  port?: number;
  /**
   * Evaluates an Erlang expression ON the node (one long-lived evaluator process, so processes a
   * fixture links to survive) and resolves to `io_lib:format("~p", [Result])` — note that `~p`
   * wraps long terms over several lines. Rejects with the exception if the expression raises.
   */
  eval(erlangExpression: string, options?: { timeoutMs?: number }): Promise<string>;
  /** `init:stop()`, then SIGKILL if the node is still running after a few seconds. */
  stop(): Promise<void>;
  /** Sends a signal at once (default SIGKILL), e.g. to simulate a crashed node. */
  kill(signal?: NodeJS.Signals): void;
}

/** Every emulator this process started and has not seen exit, killed if the process exits. */
const liveEmulators = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of liveEmulators) child.kill('SIGKILL');
});

/** Writes `cookie` to a fresh file (mode 0600) in `dir` and returns its path. */
export async function makeCookieFile(dir: string, cookie: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, `cookie-${randomBytes(4).toString('hex')}`);
  await writeFile(file, cookie, { mode: 0o600 });
  await chmod(file, 0o600);
  return file;
}

let compiledFixtures: Promise<string> | undefined;

/**
 * Compiles the Erlang fixtures once per content hash into a shared cache directory. Compiling
 * into a private directory and renaming it into place keeps concurrent test workers safe.
 */
function compileFixtures(): Promise<string> {
  compiledFixtures ??= (async () => {
    const sources = readdirSync(FIXTURES_DIR)
      .filter((file) => file.endsWith('.erl'))
      .sort();
    const hash = createHash('sha256');
    for (const source of sources)
      hash.update(source).update(readFileSync(join(FIXTURES_DIR, source)));
    const cacheDir = join(tmpdir(), `beamscope-beam-fixtures-${hash.digest('hex').slice(0, 16)}`);
    if (existsSync(join(cacheDir, '.complete'))) return cacheDir;
    const building = await mkdtemp(join(tmpdir(), 'beamscope-beam-build-'));
    await run('erlc', ['-o', building, ...sources.map((source) => join(FIXTURES_DIR, source))], {
      timeout: 60_000,
    });
    await writeFile(join(building, '.complete'), '');
    try {
      await rename(building, cacheDir);
    } catch {
      // Another worker won the race; its directory has the same content.
      await rm(building, { recursive: true, force: true });
    }
    return cacheDir;
  })();
  compiledFixtures.catch(() => {
    compiledFixtures = undefined;
  });
  return compiledFixtures;
}

let epmdStarted: Promise<void> | undefined;

/** `epmd -daemon` is idempotent: a second one sees the port taken and exits quietly. */
function ensureEpmd(): Promise<void> {
  epmdStarted ??= run('epmd', ['-daemon'], { timeout: 10_000 }).then(() => undefined);
  return epmdStarted;
}

async function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

async function elixirCodePath(): Promise<string[]> {
  const apps = await readdir(ELIXIR_LIB_DIR);
  return apps.map((app) => join(ELIXIR_LIB_DIR, app, 'ebin')).filter((dir) => existsSync(dir));
}

/** An Erlang string literal: the harness builds a few expressions around paths and names. */
function erlangString(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** Evaluates one expression over a fresh control connection ({packet, 4} framing). */
function evalOverControl(
  nodeName: string,
  controlPort: number,
  expression: string,
  timeoutMs: number,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(controlPort, '127.0.0.1');
    const chunks: Buffer[] = [];
    let received = 0;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`eval on ${nodeName} timed out after ${timeoutMs} ms: ${expression}`));
    }, timeoutMs);
    const finish = (error: Error | undefined, text?: string) => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(text ?? '');
    };
    socket.once('connect', () => {
      const body = Buffer.from(expression, 'utf8');
      const header = Buffer.alloc(4);
      header.writeUInt32BE(body.length);
      socket.write(Buffer.concat([header, body]));
    });
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (received < 4) return;
      const all = Buffer.concat(chunks);
      const length = all.readUInt32BE(0);
      if (all.length < 4 + length) return;
      const reply = all.subarray(4, 4 + length).toString('utf8');
      if (reply.startsWith('ok ')) finish(undefined, reply.slice(3));
      else finish(new Error(`eval on ${nodeName} raised: ${reply.replace(/^error /, '')}`));
    });
    socket.once('error', (error) => finish(new Error(`eval on ${nodeName}: ${error.message}`)));
    socket.once('close', () => finish(new Error(`eval on ${nodeName}: control connection closed`)));
  });
}

function writeTlsOptions(file: string, tls: BeamTlsFiles): Promise<void> {
  const common = [
    `{certfile, ${erlangString(tls.certFile)}}`,
    `{keyfile, ${erlangString(tls.keyFile)}}`,
    `{cacertfile, ${erlangString(tls.caFile)}}`,
    '{verify, verify_peer}',
    '{secure_renegotiate, true}',
  ];
  const text =
    `[{server, [${[...common, '{fail_if_no_peer_cert, true}'].join(', ')}]},\n` +
    ` {client, [${common.join(', ')}]}].\n`;
  return writeFile(file, text);
}

/**
 * Starts a real BEAM node and resolves once its distribution is up and its control channel
 * answers (and `connectTo` / `evalOnStart` have succeeded). On any failure the emulator is
 * killed and its temporary files removed before the promise rejects.
 */
export async function startBeamNode(options: BeamNodeOptions): Promise<BeamNode> {
  const mode = options.mode ?? 'epmd';
  const [, nameHost = ''] = options.name.split('@');
  const host = mapAddress(nameHost, options.addressMap ?? []);
  const ebin = await compileFixtures();
  const workDir = await mkdtemp(join(tmpdir(), 'beamscope-beam-node-'));

  const args = ['-name', options.name, '-setcookie', options.cookie, '-noinput'];
  // A small footprint: tests run several nodes on a 2-core machine beside other test runs.
  args.push('+S', '1:1', '+A', '1', '+sbwt', 'none', '+sbwtdcpu', 'none', '+sbwtdio', 'none');
  args.push('-pa', ebin);
  for (const dir of options.codePaths ?? []) args.push('-pa', dir);
  if (options.addressMap) {
    const demoEbin = await compileDemoApp(DEMO_APP_SOURCE_DIR, join('.beamscope', 'cache'));
    const term = options.addressMap
      .map(({ from, to }) => {
        const [fromBase, prefix] = from.split('/');
        return `{{{${fromBase!.replaceAll('.', ',')}},${prefix}},{${to.split('/')[0]!.replaceAll('.', ',')}}}`;
      })
      .join(',');
    args.push('-pa', demoEbin, '-epmd_module', 'myapp_epmd', '-myapp', 'address_map', `[${term}]`);
  }

  let port = options.port;
  if (mode === 'epmdless') {
    port ??= await freePort(isIPv4(host) ? host : '127.0.0.1');
    // OTP 25: -erl_epmd_port makes the node skip EPMD both for its own registration and when it
    // connects to others (it assumes every peer listens on that same port).
    args.push('-start_epmd', 'false', '-erl_epmd_port', String(port));
    if (isIPv4(host))
      args.push('-kernel', 'inet_dist_use_interface', `{${host.split('.').join(',')}}`);
  } else {
    await ensureEpmd();
  }
  if (port !== undefined) {
    args.push(
      '-kernel',
      'inet_dist_listen_min',
      String(port),
      'inet_dist_listen_max',
      String(port),
    );
  }
  if (options.tls) {
    const optFile = join(workDir, 'ssl_dist.conf');
    await writeTlsOptions(optFile, options.tls);
    args.push('-proto_dist', 'inet_tls', '-ssl_dist_optfile', optFile);
  }
  if (options.elixir) {
    for (const dir of await elixirCodePath()) args.push('-pa', dir);
    args.push('-eval', '{ok, _} = application:ensure_all_started(elixir)');
  }
  args.push('-eval', 'beam_harness_control:start()');

  const child = spawn('erl', args, { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
  liveEmulators.add(child);
  let output = '';
  const remember = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_TAIL_BYTES);
  };
  let exitCode: number | null | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exitCode = code ?? (signal ? -1 : null);
      liveEmulators.delete(child);
      resolve();
    });
  });
  child.stderr.on('data', remember);
  let lifeline: Socket | undefined;

  const cleanup = async () => {
    lifeline?.destroy();
    if (exitCode === undefined) {
      child.kill('SIGKILL');
      await exited;
    }
    await rm(workDir, { recursive: true, force: true });
  };

  try {
    const controlPort = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${options.name} did not start within ${READY_TIMEOUT_MS} ms`)),
        READY_TIMEOUT_MS,
      );
      child.stdout.on('data', (chunk: Buffer) => {
        remember(chunk);
        const match = /BEAM_HARNESS_READY (\d+) /.exec(output);
        if (match) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      });
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`${options.name} exited with code ${exitCode} before it was up`));
      });
    });

    lifeline = await new Promise<Socket>((resolve, reject) => {
      const socket = connect(controlPort, '127.0.0.1', () => {
        const body = Buffer.from('lifeline');
        const header = Buffer.alloc(4);
        header.writeUInt32BE(body.length);
        socket.write(Buffer.concat([header, body]));
        resolve(socket);
      });
      socket.once('error', reject);
    });
    // The node halts when the lifeline closes; the socket must not keep the test process alive.
    lifeline.on('error', () => undefined);
    lifeline.unref();

    const evaluate = (expression: string, evalOptions: { timeoutMs?: number } = {}) =>
      evalOverControl(
        options.name,
        controlPort,
        expression,
        evalOptions.timeoutMs ?? EVAL_TIMEOUT_MS,
      );

    for (const peer of options.connectTo ?? []) {
      // A peer that has just started may need a moment before it accepts connections.
      const deadline = Date.now() + 10_000;
      let connected = 'false';
      while (connected !== 'true' && Date.now() < deadline) {
        connected = await evaluate(`net_kernel:connect_node('${peer.replace(/'/g, "\\'")}')`);
        if (connected !== 'true') await new Promise((resolve) => setTimeout(resolve, 200));
      }
      if (connected !== 'true') throw new Error(`${options.name} could not connect to ${peer}`);
    }
    if (options.evalOnStart) await evaluate(options.evalOnStart, { timeoutMs: 30_000 });

    let stopping: Promise<void> | undefined;
    return {
      name: options.name,
      pid: child.pid!,
      port,
      eval: evaluate,
      kill: (signal: NodeJS.Signals = 'SIGKILL') => {
        child.kill(signal);
      },
      stop: () => {
        stopping ??= (async () => {
          if (exitCode === undefined) {
            await evaluate('init:stop()', { timeoutMs: 2_000 }).catch(() => undefined);
            let timer: NodeJS.Timeout | undefined;
            const late = new Promise<'late'>((resolve) => {
              timer = setTimeout(() => resolve('late'), STOP_GRACE_MS);
            });
            if ((await Promise.race([exited, late])) === 'late') child.kill('SIGKILL');
            clearTimeout(timer);
          }
          await cleanup();
        })();
        return stopping;
      },
    };
  } catch (error) {
    await cleanup();
    const tail = output.trim().split('\n').slice(-15).join('\n');
    throw new Error(
      `${error instanceof Error ? error.message : String(error)}${tail ? `\n--- ${options.name} output ---\n${tail}` : ''}`,
      { cause: error },
    );
  }
}
