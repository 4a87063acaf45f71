import 'server-only';

/**
 * server/auth owns who may use the dashboard: the access modes (token, trusted proxy, OpenID
 * Connect, Kubernetes tokens, loopback-only none), the gate `proxy.ts` consults on every request,
 * the Principal of a request and who sees which cluster, sessions, sign-in with its rate limit
 * and sign-out, the audit log, the peer-address hook and the security headers. This file builds
 * the gate from the configuration.
 */
import type { ConfigCode } from '@/lib/codes';

import type { BeamscopeConfig } from '../config';
import { BeamscopeError, describeError } from '../errors';
import { loadKubeConfig } from '../kubernetes';
import { AccessGate, setAccessGate, type GateOptions } from './gate';
import { KubernetesAccess, KubernetesSessions, type ReviewedCluster } from './kubernetes-access';
import { kubernetesReviewApi, type ReviewApi } from './kubernetes-review';
import { listensOnLoopbackOnly } from './listen';
import { SESSION_TTL_MS } from './session';
import { installPeerHook } from './peer';

export { AccessGate, getAccessGate, isOpenPath, type Verdict } from './gate';
export { SESSION_COOKIE, SESSION_TTL_MS } from './session';
export { audit, type AuditEvent } from './audit';
export type { Principal } from './principal';
export { mayViewCluster, visibleClusterIds } from './clusters';

/**
 * Mode kubernetes: each observed cluster's API server, reached with beamscope's own credentials
 * (the same the cluster is watched with), reviews the tokens and rights of that cluster's users.
 * Clusters on one API server share its ReviewApi, so a token is reviewed once per API server.
 */
function reviewedClusters(
  config: BeamscopeConfig,
  env: Readonly<Record<string, string | undefined>>,
): Map<string, ReviewedCluster> {
  const apis = new Map<string, ReviewApi>();
  const clusters = new Map<string, ReviewedCluster>();
  for (const cluster of config.clusters) {
    const loaded = loadKubeConfig(cluster, { env });
    const key = JSON.stringify([loaded.server, loaded.kubeConfig.getCurrentUser()?.name ?? '']);
    let api = apis.get(key);
    if (!api) {
      api = kubernetesReviewApi(loaded.kubeConfig, loaded.server);
      apis.set(key, api);
    }
    clusters.set(cluster.id, { api, namespace: loaded.namespace });
  }
  return clusters;
}

/** sysexits' EX_CONFIG, as for any other configuration error. */
const EX_CONFIG = 78;

function accessError(code: ConfigCode, message: string, cause?: unknown): BeamscopeError {
  return new BeamscopeError('config', code, message, { cause, exitCode: EX_CONFIG });
}

/** The address the standalone server listens on: `HOSTNAME`, as Next's `server.js` reads it. */
export function listenHost(env: Readonly<Record<string, string | undefined>>): string {
  return env.HOSTNAME || '0.0.0.0';
}

/**
 * Builds the access gate for `config` and publishes it, or throws a one-line configuration
 * error naming the file, the field and what to do: `none` on an address other than loopback, an
 * unreadable or weak token, an unreadable OIDC client secret, a bad trusted-proxy entry. Called at startup before anything is
 * watched, so a refused server never connects to a cluster.
 */
export async function startAccess(
  config: BeamscopeConfig,
  env: Readonly<Record<string, string | undefined>> = process.env,
  options: GateOptions = {},
): Promise<AccessGate> {
  const access = config.access ?? { mode: 'none' };
  const file = config.sourcePath;
  if (access.mode === 'none') {
    const host = listenHost(env);
    if (!(await listensOnLoopbackOnly(host))) {
      throw accessError(
        'access_unprotected',
        `${file}: access.mode: none (the default) is accepted only on a loopback address, but the server listens on ${host} (HOSTNAME); set access.mode to token or proxy, or HOSTNAME=127.0.0.1`,
      );
    }
  }
  let gate: AccessGate;
  if (access.mode === 'kubernetes' && !options.kubernetes) {
    const cacheMs = access.kubernetes.cacheSeconds * 1000;
    options = {
      ...options,
      kubernetes: {
        access: new KubernetesAccess(
          reviewedClusters(config, env),
          cacheMs,
          options.now,
          options.log,
        ),
        sessions: new KubernetesSessions(SESSION_TTL_MS, options.now),
      },
    };
  }
  try {
    gate = new AccessGate(access, { env, ...options });
  } catch (error) {
    // Only AddressSet throws here: a trustedProxies entry that is not an address or a block.
    throw accessError(
      'config_invalid',
      `${file}: access.proxy.trustedProxies: ${describeError(error)}`,
      error,
    );
  }
  try {
    await gate.check();
  } catch (error) {
    throw accessError(
      'access_token_unreadable',
      `${file}: access.mode ${access.mode}: ${describeError(error)}`,
      error,
    );
  }
  installPeerHook(gate.peerSecret);
  setAccessGate(gate);
  return gate;
}
