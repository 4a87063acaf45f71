/**
 * A real PostgreSQL for integration tests, from Debian's `postgresql` package: `initdb` into a
 * fresh temporary folder, `postgres` listening on a free port of 127.0.0.1 (and a unix socket in
 * the same folder), one database per call to {@link PostgresServer.createDatabase}; stopped and
 * deleted by {@link PostgresServer.stop}. initdb refuses to run as root, so when the tests run
 * as root the server runs as `nobody` (through `setpriv`) in a folder that user owns — as
 * Debian's pg_ctlcluster runs it as the `postgres` user.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chown, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import pg from 'pg';

import { freePort } from './ports';

const run = promisify(execFile);

const POSTGRESQL_ROOT = '/usr/lib/postgresql';
/** Debian's `nobody` and `nogroup`. */
const UNPRIVILEGED_ID = 65534;
const READY_TIMEOUT_MS = 30_000;
const SUPERUSER = 'beamscope';

/** The newest installed PostgreSQL's bin folder, or null when the package is not installed. */
export function postgresBinDir(): string | null {
  if (!existsSync(POSTGRESQL_ROOT)) return null;
  const versions = readdirSync(POSTGRESQL_ROOT)
    .filter((name) => /^\d+(\.\d+)?$/.test(name))
    .sort((a, b) => Number(b) - Number(a));
  for (const version of versions) {
    const bin = join(POSTGRESQL_ROOT, version, 'bin');
    if (existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'postgres'))) return bin;
  }
  return null;
}

export interface PostgresServer {
  port: number;
  /** The URL of the `postgres` database, as the superuser. */
  adminUrl: string;
  /** Creates a fresh database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  stop(): Promise<void>;
}

/** The command line that runs `argv` as the unprivileged user when we are root. */
function asServerUser(argv: string[]): [string, string[]] {
  if (process.getuid?.() !== 0) return [argv[0]!, argv.slice(1)];
  return [
    'setpriv',
    [
      `--reuid=${UNPRIVILEGED_ID}`,
      `--regid=${UNPRIVILEGED_ID}`,
      '--clear-groups',
      '--inh-caps=-all',
      ...argv,
    ],
  ];
}

/** Starts a server; `port` to listen on a given port (a test that starts it late), else a free one. */
export async function startPostgres(options: { port?: number } = {}): Promise<PostgresServer> {
  const bin = postgresBinDir();
  if (!bin) {
    throw new Error(
      `no PostgreSQL under ${POSTGRESQL_ROOT}: install Debian's postgresql package (npm test's setup does)`,
    );
  }
  const root = await mkdtemp(join(tmpdir(), 'beamscope-pg-'));
  const data = join(root, 'data');
  const sockets = join(root, 'sockets');
  await mkdir(sockets);
  if (process.getuid?.() === 0) {
    await chown(root, UNPRIVILEGED_ID, UNPRIVILEGED_ID);
    await chown(sockets, UNPRIVILEGED_ID, UNPRIVILEGED_ID);
  }
  const env = { ...process.env, LC_ALL: 'C', LANG: 'C' };
  const [initCommand, initArgs] = asServerUser([
    join(bin, 'initdb'),
    '-D',
    data,
    '-U',
    SUPERUSER,
    '--auth=trust',
    '--encoding=UTF8',
    '--no-sync',
  ]);
  try {
    await run(initCommand, initArgs, { env, cwd: root });
  } catch (error) {
    await rm(root, { recursive: true, force: true });
    throw new Error(`initdb failed: ${(error as { stderr?: string }).stderr ?? error}`);
  }

  const port = options.port ?? (await freePort());
  const [command, args] = asServerUser([
    join(bin, 'postgres'),
    '-D',
    data,
    '-p',
    String(port),
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    `unix_socket_directories=${sockets}`,
    // A throwaway database: no need to survive a power cut.
    '-c',
    'fsync=off',
    '-c',
    'synchronous_commit=off',
    '-c',
    'full_page_writes=off',
    '-c',
    'logging_collector=off',
  ]);
  const child: ChildProcess = spawn(command, args, {
    env,
    cwd: root,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let output = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-16_384);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const adminUrl = `postgres://${SUPERUSER}@127.0.0.1:${port}/postgres`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      // SIGINT: PostgreSQL's fast shutdown (ends sessions, no wait for clients to leave).
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(root, { recursive: true, force: true });
  };

  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 1_000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      await client.end();
      break;
    } catch (error) {
      await client.end().catch(() => {});
      if (child.exitCode !== null || Date.now() > deadline) {
        await stop();
        throw new Error(`PostgreSQL did not start: ${(error as Error).message}\n${output}`.trim());
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  return {
    port,
    adminUrl,
    async createDatabase(name: string) {
      if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`bad database name ${name}`);
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return `postgres://${SUPERUSER}@127.0.0.1:${port}/${name}`;
    },
    stop,
  };
}

/**
 * Ends `pool` and waits until each of its connections has closed. `Pool.end` resolves once it
 * has asked its clients to end, before their sockets close; a server stopped in that gap ends
 * the session with a FATAL (57P01) that the ended pool no longer handles, and the test run
 * fails on it as an uncaught exception.
 */
export async function endPool(pool: pg.Pool): Promise<void> {
  let open = pool.totalCount;
  const closed = new Promise<void>((resolve) => {
    if (open === 0) resolve();
    pool.on('remove', () => {
      open -= 1;
      if (open === 0) resolve();
    });
  });
  await pool.end();
  await closed;
}
