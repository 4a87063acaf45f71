import 'server-only';

import { existsSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

import { KubeConfig } from '@kubernetes/client-node';

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

function accessError(code: string, message: string, cause?: unknown): BeamscopeError {
  return new BeamscopeError('kubernetes', code, message, { cause, exitCode: 78 });
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
): LoadedKubeConfig {
  const kubeConfig = new KubeConfig();
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
  return { kubeConfig, namespace: cluster.namespace ?? 'default', server, origin: 'kubeconfig' };
}

/**
 * Loads the credentials for one cluster: its kubeconfig (and context), or the pod's service
 * account (`inCluster: true`), or — when `kubernetes` is absent — what `loadFromDefault()` would
 * pick: `KUBECONFIG`, then `~/.kube/config`, then the service account. Unlike `loadFromDefault()`
 * it never falls back to an unauthenticated `http://localhost:8080`.
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
    return loadFiles(cluster, [access.kubeconfig], access.context);
  const fromEnv = (env.KUBECONFIG ?? '').split(delimiter).filter(Boolean);
  if (fromEnv.length > 0) return loadFiles(cluster, fromEnv, access?.context);
  const home = env.HOME ?? env.USERPROFILE;
  const homeConfig = home ? join(home, '.kube', 'config') : undefined;
  if (homeConfig && existsSync(homeConfig))
    return loadFiles(cluster, [homeConfig], access?.context);
  if (env.KUBERNETES_SERVICE_HOST && existsSync(`${prefix}${SERVICE_ACCOUNT_DIR}/token`)) {
    return loadInCluster(cluster, env, prefix);
  }
  throw accessError(
    'kubernetes_unconfigured',
    `cluster ${cluster.id}: no Kubernetes credentials: set kubernetes.kubeconfig or kubernetes.inCluster, or KUBECONFIG, or create ~/.kube/config`,
  );
}
