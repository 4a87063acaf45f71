import 'server-only';

// The pods' Eviction subresource (`POST …/pods/NAME/eviction`), as kube-apiserver's EvictionREST
// answers it: the caller needs `create` on `pods/eviction`; the body must be a policy/v1 (or
// v1beta1) Eviction naming the pod of the URL; an unknown pod is 404; `dryRun=All` checks and
// changes nothing. The emulator has no PodDisruptionBudgets, so no eviction is refused with 429:
// the pod gets the DisruptionTarget condition and is deleted gracefully, as a DELETE would.

import type { IncomingMessage, ServerResponse } from 'node:http';

import { resources } from '../resources';
import type { Caller } from './auth';
import type { HandlerContext } from './context';
import { HttpError, qualifiedName, resourceDetails, send, statusObject } from './respond';
import { readBody } from './reviews';

/** `…/namespaces/NS/pods/NAME/eviction`. */
export const EVICTION_PATH = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/eviction\/?$/;

/** The versions of Eviction the subresource accepts (EvictionREST.AcceptsGroupVersion). */
const EVICTION_VERSIONS = ['policy/v1', 'policy/v1beta1'];

const pods = resources.pods;

const badRequest = (message: string) => new HttpError(statusObject(400, 'BadRequest', message));

/** The dry-run values of a request: only `All` exists (anything else is refused). */
function dryRunOf(values: unknown[]): boolean {
  for (const value of values) {
    if (value !== 'All') {
      throw badRequest(`dryRun: Unsupported value: "${String(value)}": supported values: "All"`);
    }
  }
  return values.length > 0;
}

/** The Eviction of the body, checked as the decoder and EvictionREST.Create check it. */
function evictionOf(body: unknown, namespace: string, name: string) {
  const object = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  if (typeof object.kind !== 'string' || object.kind === '') {
    throw badRequest(`Object 'Kind' is missing in '${JSON.stringify(body)}'`);
  }
  if (object.kind !== 'Eviction' || !EVICTION_VERSIONS.includes(String(object.apiVersion))) {
    throw badRequest(
      `the API version in the data (${String(object.apiVersion ?? '')}) does not match the expected API version (policy/v1)`,
    );
  }
  const metadata = (object.metadata ?? {}) as { name?: unknown; namespace?: unknown };
  if (metadata.namespace !== undefined && metadata.namespace !== namespace) {
    throw badRequest(
      'the namespace of the provided object does not match the namespace sent on the request',
    );
  }
  if (metadata.name !== name) {
    throw badRequest('name in URL does not match name in Eviction object');
  }
  const options = (object.deleteOptions ?? {}) as { dryRun?: unknown };
  return { dryRun: Array.isArray(options.dryRun) ? (options.dryRun as unknown[]) : [] };
}

/** `POST /api/v1/namespaces/NS/pods/NAME/eviction`: 201 with a Success Status once evicted. */
export async function serveEviction(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  match: RegExpExecArray,
  caller: Caller,
  context: HandlerContext,
): Promise<void> {
  const namespace = decodeURIComponent(match[1]!);
  const name = decodeURIComponent(match[2]!);
  const decision = context.rbac.authorize({
    user: caller.user,
    groups: caller.groups,
    verb: 'create',
    group: '',
    resource: 'pods/eviction',
    namespace,
    name,
  });
  if (!decision.allowed) {
    throw new HttpError(
      statusObject(
        403,
        'Forbidden',
        `${qualifiedName(pods)} "${name}" is forbidden: User "${caller.user}" cannot create resource "pods/eviction" in API group "" in the namespace "${namespace}"`,
        resourceDetails(pods, name),
      ),
    );
  }
  const eviction = evictionOf(await readBody(req), namespace, name);
  const dryRun = dryRunOf([...url.searchParams.getAll('dryRun'), ...eviction.dryRun]);
  // The sandbox's pods all live in its one namespace: elsewhere, no pod has that name.
  const pod =
    namespace === context.namespace ? context.store.get('pods', namespace, name) : undefined;
  if (!pod) {
    throw new HttpError(
      statusObject(
        404,
        'NotFound',
        `${qualifiedName(pods)} "${name}" not found`,
        resourceDetails(pods, name),
      ),
    );
  }
  if (!dryRun) context.cluster.evictPod(name);
  send(res, 201, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 });
}
