import 'server-only';

import { getAccessGate, SESSION_COOKIE } from '../auth';
import { audit } from '../auth/audit';
import { verifiedPeerOf } from '../auth/request';
import { cookieValue } from '../auth/sign-in';
import type { Principal } from '../auth/principal';
import { BeamscopeError } from '../errors';
import type { BeamscopeRuntime, ClusterRuntime } from '../runtime';

/**
 * Who sent `headers`, as the access gate sees them. The proxy let the request in already; the
 * route asks again (cached in mode kubernetes) because Next hands a route handler nothing but the
 * request. A request the gate would refuse gets the gate's own refusal.
 */
export async function principalOf(headers: Headers): Promise<Principal> {
  const gate = getAccessGate();
  if (!gate)
    throw new BeamscopeError('auth', 'starting', 'the server is starting; retry in a moment');
  const verdict = await gate.authorize({
    headers,
    sessionCookie: cookieValue(headers.get('cookie'), SESSION_COOKIE),
  });
  if (!verdict.allowed)
    throw new BeamscopeError(
      'auth',
      verdict.code === 'bad_request' ? 'auth_required' : verdict.code,
      verdict.message,
    );
  return verdict.principal;
}

/** The answer to a cluster that does not exist — and to one the user may not see, so its name does not leak. */
function notFound(id: string): BeamscopeError {
  return new BeamscopeError(
    'http',
    'cluster_not_found',
    `no cluster is configured with the id '${id}'`,
  );
}

/**
 * Cluster `id` of `runtime` if the request's user may see it; else the same 404 as for a
 * cluster that does not exist, and an audit line.
 */
export async function viewableCluster(
  request: Request,
  runtime: BeamscopeRuntime,
  id: string,
): Promise<ClusterRuntime> {
  const principal = await principalOf(request.headers);
  const cluster = runtime.clusters.get(id);
  if (!cluster) throw notFound(id);
  if (!(await getAccessGate()!.mayViewCluster(principal, id))) {
    audit({
      who: principal.subject,
      action: 'view-cluster',
      outcome: 'refused',
      from: verifiedPeerOf(request.headers),
      target: id,
    });
    throw notFound(id);
  }
  return cluster;
}

/** The clusters of `runtime` the request's user may see, in configuration order. */
export async function viewableClusters(
  headers: Headers,
  runtime: BeamscopeRuntime,
): Promise<ClusterRuntime[]> {
  const principal = await principalOf(headers);
  const gate = getAccessGate()!;
  const clusters = [...runtime.clusters.values()];
  const allowed = await Promise.all(
    clusters.map((cluster) => gate.mayViewCluster(principal, cluster.config.id)),
  );
  return clusters.filter((_, index) => allowed[index]);
}

/**
 * A signal that aborts once the request's user may no longer see cluster `id` (checked every
 * `everyMs`, the review cache's time): an open event stream ends with the right it ran on.
 */
export function lossOfSight(request: Request, id: string, everyMs: number): AbortSignal {
  const controller = new AbortController();
  const timer = setInterval(() => {
    void (async () => {
      try {
        const principal = await principalOf(request.headers);
        if (await getAccessGate()!.mayViewCluster(principal, id)) return;
      } catch {
        // signed out, or the session ended: the stream ends too
      }
      controller.abort();
    })();
  }, everyMs);
  timer.unref();
  const stop = () => clearInterval(timer);
  request.signal.addEventListener('abort', stop, { once: true });
  controller.signal.addEventListener('abort', stop, { once: true });
  return AbortSignal.any([request.signal, controller.signal]);
}
