import 'server-only';

import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { delimiter, join } from 'node:path';

import { KubeConfig } from '@kubernetes/client-node';

import type { KubernetesCode } from '@/lib/codes';

import type { ClusterConfig, Environment } from '../config';
import { BeamscopeError } from '../errors';

/** Where a pod's service account credentials are mounted (below the prefix). */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** Seams for loading credentials: the environment and the root of the service account files. */
export interface KubeAccessOptions {
  /** Read for `KUBECONFIG`, `HOME` and `KUBERNETES_SERVICE_HOST/PORT`; default `process.env`. */
  env?: Environment;
  /** Prepended to the service account paths, as `loadFromCluster(pathPrefix)` does; default ''. */
  inClusterPathPrefix?: string;
}

/** A KubeConfig ready to use, with what beamscope resolved around it. */
export interface LoadedKubeConfig {
  kubeConfig: KubeConfig;
  /** The namespace to watch: configured, else the service account's in-cluster, else `default`. */
  namespace: string;
  /** The API server URL (for messages). */
  server: string;
  /** How the credentials were found, for messages and the dashboard. */
  origin: 'kubeconfig' | 'in-cluster';
}

function accessError(code: KubernetesCode, message: string, cause?: unknown): BeamscopeError {
  return new BeamscopeError('kubernetes', code, message, { cause, exitCode: 78 });
}

/** Whether a URL host (as `URL.hostname` gives it) is this machine: a hop that never leaves it. */
function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/** Where a KubeConfig came from, for the one-line refusal. */
export interface KubeTlsSource {
  /** The beamscope cluster id the client is for. */
  clusterId: string;
  /** E.g. `the kubeconfig /home/me/.kube/config` or `the in-cluster service account`. */
  source: string;
}

/**
 * Refuses a Kubernetes client that would talk to its API server without verifying it. The
 * credentials it sends (a bearer token, a client certificate) are worth a Role's reads on the
 * cluster, and a man in the middle could also feed beamscope a made-up topology; so an
 * `insecure-skip-tls-verify: true` cluster, `NODE_TLS_REJECT_UNAUTHORIZED=0` and plain `http://`
 * to another machine are errors, never a warning. Plain `http://` to loopback stays allowed:
 * `kubectl proxy` and the sandbox's `--http` mode, a hop that never leaves the machine
 * (client-node insists on `skipTLSVerify` for any `http://` server, so the flag is tolerated there,
 * where there is no TLS to skip). Checked on the loaded KubeConfig, so whatever set the flag — the
 * file, a merge of several, code — it is caught.
 */
export function assertVerifiedTls(
  kubeConfig: KubeConfig,
  where: KubeTlsSource,
  env: Environment = process.env,
): void {
  const prefix = `cluster ${where.clusterId}`;
  if (env.NODE_TLS_REJECT_UNAUTHORIZED === '0') {
    throw accessError(
      'kubernetes_tls_unverified',
      `${prefix}: NODE_TLS_REJECT_UNAUTHORIZED=0 turns off certificate verification for the Kubernetes API (and every other TLS connection): unset it; beamscope always verifies the API server`,
    );
  }
  const context = kubeConfig.getCurrentContext();
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) return; // no server to talk to: the caller reports that
  const names = `${where.source} (context "${context}", cluster "${cluster.name}")`;
  let url: URL;
  try {
    url = new URL(cluster.server);
  } catch (error) {
    throw accessError(
      'kubeconfig_invalid',
      `${prefix}: ${names} has a server that is not a URL: ${cluster.server}`,
      error,
    );
  }
  if (url.protocol === 'http:') {
    if (isLoopbackHost(url.hostname)) return;
    throw accessError(
      'kubernetes_tls_unverified',
      `${prefix}: ${names} reaches the API server over plain http at ${cluster.server}, which sends the credentials unencrypted and unverified: use its https address and give the cluster's certificate-authority or certificate-authority-data`,
    );
  }
  if (cluster.skipTLSVerify) {
    throw accessError(
      'kubernetes_tls_unverified',
      `${prefix}: ${names} sets insecure-skip-tls-verify: true, and beamscope always verifies the Kubernetes API server: remove it and give the cluster's certificate-authority or certificate-authority-data`,
    );
  }
}

/**
 * The pod's service account, through client-node's `loadFromCluster(prefix)`. That method reads
 * `KUBERNETES_SERVICE_HOST/PORT` from `process.env` itself; the server URL is rebuilt here from
 * the `env` seam so tests (and embedders) need not mutate the process environment.
 */
function loadInCluster(cluster: ClusterConfig, env: Environment, prefix: string): LoadedKubeConfig {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  const tokenFile = `${prefix}${SERVICE_ACCOUNT_DIR}/token`;
  if (!host || !port) {
    throw accessError(
      'in_cluster_unavailable',
      `cluster ${cluster.id}: kubernetes.inCluster is set but KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not: is beamscope running in a pod?`,
    );
  }
  if (!existsSync(tokenFile)) {
    throw accessError(
      'in_cluster_unavailable',
      `cluster ${cluster.id}: no service account token at ${tokenFile}: is automountServiceAccountToken disabled?`,
    );
  }
  const caFile = `${prefix}${SERVICE_ACCOUNT_DIR}/ca.crt`;
  if (!existsSync(caFile)) {
    // Without it Node would fall back to the public CAs, which do not sign a cluster's own API
    // server certificate: refuse here, with the path, rather than fail every request later.
    throw accessError(
      'in_cluster_unavailable',
      `cluster ${cluster.id}: no service account CA at ${caFile}: beamscope verifies the API server with it; is the projected service account volume mounted?`,
    );
  }
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromCluster(prefix);
  const scheme = port === '80' || port === '8080' || port === '8001' ? 'http' : 'https';
  const serverHost = host.includes(':') ? `[${host}]` : host;
  const server = `${scheme}://${serverHost}:${port}`;
  kubeConfig.loadFromOptions({
    clusters: kubeConfig.clusters.map((entry) => ({ ...entry, server })),
    users: kubeConfig.users,
    contexts: kubeConfig.contexts,
    currentContext: kubeConfig.currentContext,
  });
  assertVerifiedTls(
    kubeConfig,
    { clusterId: cluster.id, source: 'the in-cluster service account' },
    env,
  );
  const namespaceFile = `${prefix}${SERVICE_ACCOUNT_DIR}/namespace`;
  const serviceAccountNamespace = existsSync(namespaceFile)
    ? readFileSync(namespaceFile, 'utf8').trim()
    : '';
  return {
    kubeConfig,
    namespace: cluster.namespace ?? (serviceAccountNamespace || 'default'),
    server,
    origin: 'in-cluster',
  };
}

function loadFiles(
  cluster: ClusterConfig,
  files: string[],
  context: string | undefined,
  env: Environment,
): LoadedKubeConfig {
  const kubeConfig = new KubeConfig();
  // Which file each cluster entry came from (client-node refuses duplicates across files), so a
  // refusal names the file to edit.
  const fileOfCluster = new Map<string, string>();
  files.forEach((file, index) => {
    if (!existsSync(file)) {
      throw accessError(
        'kubeconfig_unreadable',
        `cluster ${cluster.id}: no kubeconfig file at ${file}`,
      );
    }
    try {
      if (index === 0) {
        kubeConfig.loadFromFile(file);
      } else {
        // Later KUBECONFIG files add entries but do not change the current context, as kubectl.
        const more = new KubeConfig();
        more.loadFromFile(file);
        kubeConfig.mergeConfig(more, true);
      }
      for (const entry of kubeConfig.clusters) {
        if (!fileOfCluster.has(entry.name)) fileOfCluster.set(entry.name, file);
      }
    } catch (error) {
      const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
      throw accessError(
        'kubeconfig_invalid',
        `cluster ${cluster.id}: cannot load the kubeconfig ${file}: ${reason}`,
        error,
      );
    }
  });
  if (context !== undefined) {
    if (!kubeConfig.getContextObject(context)) {
      const known = kubeConfig.getContexts().map((entry) => entry.name);
      throw accessError(
        'kubeconfig_context',
        `cluster ${cluster.id}: the kubeconfig ${files.join(delimiter)} has no context "${context}" (it has: ${known.join(', ') || 'none'})`,
      );
    }
    kubeConfig.setCurrentContext(context);
  }
  const server = kubeConfig.getCurrentCluster()?.server;
  if (!server) {
    throw accessError(
      'kubeconfig_invalid',
      `cluster ${cluster.id}: the kubeconfig ${files.join(delimiter)} names no cluster for context "${kubeConfig.getCurrentContext()}"`,
    );
  }
  const clusterName = kubeConfig.getCurrentCluster()?.name ?? '';
  assertVerifiedTls(
    kubeConfig,
    {
      clusterId: cluster.id,
      source: `the kubeconfig ${fileOfCluster.get(clusterName) ?? files.join(delimiter)}`,
    },
    env,
  );
  return { kubeConfig, namespace: cluster.namespace ?? 'default', server, origin: 'kubeconfig' };
}

/**
 * Loads the credentials for one cluster: its kubeconfig (and context), or the pod's service
 * account (`inCluster: true`), or — when `kubernetes` is absent — what `loadFromDefault()` would
 * pick: `KUBECONFIG`, then `~/.kube/config`, then the service account. Unlike `loadFromDefault()`
 * it never falls back to an unauthenticated `http://localhost:8080`, and whatever the path it
 * refuses a client that would not verify the API server ({@link assertVerifiedTls}).
 */
export function loadKubeConfig(
  cluster: ClusterConfig,
  options: KubeAccessOptions = {},
): LoadedKubeConfig {
  const env = options.env ?? process.env;
  const prefix = options.inClusterPathPrefix ?? '';
  const access = cluster.kubernetes;
  if (access?.inCluster) return loadInCluster(cluster, env, prefix);
  if (access?.kubeconfig !== undefined)
    return loadFiles(cluster, [access.kubeconfig], access.context, env);
  const fromEnv = (env.KUBECONFIG ?? '').split(delimiter).filter(Boolean);
  if (fromEnv.length > 0) return loadFiles(cluster, fromEnv, access?.context, env);
  const home = env.HOME ?? env.USERPROFILE;
  const homeConfig = home ? join(home, '.kube', 'config') : undefined;
  if (homeConfig && existsSync(homeConfig))
    return loadFiles(cluster, [homeConfig], access?.context, env);
  if (env.KUBERNETES_SERVICE_HOST && existsSync(`${prefix}${SERVICE_ACCOUNT_DIR}/token`)) {
    return loadInCluster(cluster, env, prefix);
  }
  throw accessError(
    'kubernetes_unconfigured',
    `cluster ${cluster.id}: no Kubernetes credentials: set kubernetes.kubeconfig or kubernetes.inCluster, or KUBECONFIG, or create ~/.kube/config`,
  );
}
