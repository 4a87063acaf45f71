import 'server-only';

import { randomBytes } from 'node:crypto';
import { mkdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';

import { stringify } from 'yaml';

import { BeamscopeError } from '../../errors';
import { startEmulatedApi, type EmulatedApi } from '../../sandbox/kube-api';
import { integerOption, parseCommandArgs } from '../args';
import { UsageError, type Command } from '../command';

const SERVICE = 'myapp';
const CONTEXT = 'sandbox';
const READY_TIMEOUT_MS = 15_000;

/** An Erlang-style cookie: uppercase letters, as `erl` generates for ~/.erlang.cookie. */
function randomCookie(): string {
  return [...randomBytes(20)].map((byte) => String.fromCharCode(65 + (byte % 26))).join('');
}

function kubeconfigFor(api: EmulatedApi): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: CONTEXT,
        cluster: {
          server: api.url,
          ...(api.caPem
            ? { 'certificate-authority-data': Buffer.from(api.caPem).toString('base64') }
            : { 'insecure-skip-tls-verify': true }),
        },
      },
    ],
    users: [{ name: CONTEXT, user: { token: api.token } }],
    contexts: [
      { name: CONTEXT, context: { cluster: CONTEXT, user: CONTEXT, namespace: api.namespace } },
    ],
    'current-context': CONTEXT,
    preferences: {},
  });
}

function configFor(namespace: string): string {
  return stringify({
    clusters: [
      {
        id: 'sandbox',
        displayName: 'Sandbox',
        namespace,
        kubernetes: { kubeconfig: './kubeconfig', context: CONTEXT },
        discovery: { mode: 'endpointSlices', service: SERVICE },
        nodeNaming: { mode: 'ip', basename: SERVICE },
        distribution: { cookieFile: './cookie', port: 9100 },
      },
    ],
  });
}

/** The folders `mkdir -p dir` created, deepest first, so they can be removed in that order. */
function createdFolders(dir: string, firstCreated: string | undefined): string[] {
  if (firstCreated === undefined) return [];
  const folders: string[] = [];
  for (let current = dir; ; current = dirname(current)) {
    folders.push(current);
    if (current === firstCreated || dirname(current) === current) break;
  }
  return folders;
}

async function waitForReady(api: EmulatedApi, pods: number): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (api.control.pods().filter((pod) => pod.ready).length < pods) {
    if (Date.now() > deadline) {
      throw new BeamscopeError(
        'sandbox',
        'pods_not_ready',
        `the sandbox's ${pods} pods did not become ready`,
      );
    }
    await new Promise((done) => setTimeout(done, 20));
  }
}

/**
 * `beamscope sandbox`: an emulated Kubernetes API with a Service `myapp` and N pods, plus the
 * kubeconfig, beamscope config and cookie to point beamscope (or kubectl) at it. Runs until
 * SIGINT/SIGTERM, then removes everything it wrote.
 */
export const sandboxCommand: Command = {
  name: 'sandbox',
  summary: 'run an emulated Kubernetes API with a service of N pods, and write a config for it',
  usage: 'beamscope sandbox [--pods N] [--dir DIR] [--port PORT] [--tls | --http]',
  async run(argv, io) {
    const { values } = parseCommandArgs(argv, {
      pods: { type: 'string' },
      dir: { type: 'string' },
      port: { type: 'string' },
      tls: { type: 'boolean' },
      http: { type: 'boolean' },
    });
    const pods = integerOption('pods', values.pods, 3);
    const port = integerOption('port', values.port, 0);
    if (values.tls && values.http) throw new UsageError('--tls and --http exclude each other');
    // HTTPS unless asked otherwise: kubectl (client-go) never sends a bearer token over plain
    // http, so an http sandbox answers kubectl with 401 (kubernetes/kubectl#744).
    const tls = !values.http;
    const dir = resolve(values.dir ?? join('.beamscope', 'sandbox'));
    const kubeconfigFile = join(dir, 'kubeconfig');
    const configFile = join(dir, 'beamscope.yaml');
    const cookieFile = join(dir, 'cookie');

    const folders = createdFolders(dir, await mkdir(dir, { recursive: true, mode: 0o700 }));
    let api: EmulatedApi | undefined;
    try {
      api = await startEmulatedApi({ port, tls });
      await api.control.scale(pods);
      await waitForReady(api, pods);
      await writeFile(kubeconfigFile, kubeconfigFor(api), { mode: 0o600 });
      await writeFile(configFile, configFor(api.namespace), { mode: 0o644 });
      await writeFile(cookieFile, randomCookie(), { mode: 0o600 });
      io.stderr(
        `beamscope sandbox: Kubernetes API at ${api.url}, service ${SERVICE} with ${pods} pods in namespace ${api.namespace}; stop with Ctrl-C\n`,
      );
      io.stdout(
        JSON.stringify({
          ready: true,
          kubeconfig: kubeconfigFile,
          config: configFile,
          api: api.url,
        }) + '\n',
      );
      await io.stopped;
      return 0;
    } finally {
      await api?.stop();
      for (const file of [kubeconfigFile, configFile, cookieFile]) await rm(file, { force: true });
      for (const folder of folders) await rmdir(folder).catch(() => undefined); // only if empty
    }
  },
};
