import 'server-only';

// The control surface, `/_sandbox/*`: what a test or the `beamscope sandbox` command does to the
// emulated cluster over HTTP (pods, readiness, scaling, RBAC and token faults, compaction), with
// JSON bodies in and `{ error: { code, message } }` out, unlike the Kubernetes API's Status.

import type { IncomingMessage, ServerResponse } from 'node:http';

import { BeamscopeError } from '../../../errors';
import {
  GUARDED_VERBS,
  type GuardedResource,
  type GuardedVerb,
  type NetworkFault,
  type SandboxControl,
} from '../cluster/sandbox-control';
import type { HandlerContext } from './context';
import { accessControlRoutes } from './control-access';
import { send } from './respond';
import { findRoute, type Route } from './router';

/** What a control route answers. */
export interface ControlReply {
  body: unknown;
  /** Default 200. */
  code?: number;
  /** Runs once the answer is out, for routes whose effect closes this very connection. */
  afterReply?: () => void;
}

/** A control route's input: the JSON body (`{}` for GET and DELETE) and its pattern's match. */
export interface ControlCall {
  body: Record<string, unknown>;
  match: RegExpExecArray;
}

export type ControlRoute = Route<(call: ControlCall) => ControlReply | Promise<ControlReply>>;

const POD = '^/_sandbox/pods/([^/]+)';
const podName = (match: RegExpExecArray) => decodeURIComponent(match[1]!);
const ok = (extra: Record<string, unknown> = {}, code?: number): ControlReply => ({
  body: { ok: true, ...extra },
  code,
});

/** The control routes; `stop` exists only when whoever runs the sandbox can be asked to stop. */
export function controlRoutes(context: HandlerContext): ControlRoute[] {
  const { cluster } = context;
  const stop = context.onStopRequested;
  return [
    { method: 'GET', pattern: /^\/_sandbox\/pods$/, handle: () => ({ body: cluster.pods() }) },
    {
      method: 'POST',
      pattern: /^\/_sandbox\/pods$/,
      handle: async ({ body }) => ({
        body: await cluster.createPod(body as Parameters<SandboxControl['createPod']>[0]),
        code: 201,
      }),
    },
    {
      method: 'POST',
      pattern: new RegExp(`${POD}/ready$`),
      handle: ({ body, match }) => {
        cluster.setPodReady(podName(match), body.ready !== false);
        // `at`: when the change was committed, so a benchmark times from it, not from the request.
        return ok({ at: Date.now() });
      },
    },
    {
      method: 'POST',
      pattern: new RegExp(`${POD}/kill$`),
      handle: async ({ match }) => {
        // The SIGKILL goes out before killPod's first await: that is the moment of the change.
        const at = Date.now();
        return ok({ pod: await cluster.killPod(podName(match)), at });
      },
    },
    {
      method: 'POST',
      pattern: new RegExp(`${POD}/oom-kill$`),
      handle: async ({ match }) => {
        const at = Date.now();
        return ok({ pod: await cluster.oomKillPod(podName(match)), at });
      },
    },
    {
      method: 'POST',
      pattern: new RegExp(`${POD}/miscookie$`),
      handle: async ({ body, match }) =>
        ok({ pod: await cluster.miscookie(podName(match), body.restore === true) }),
    },
    {
      method: 'POST',
      pattern: new RegExp(`${POD}/flood$`),
      handle: async ({ body, match }) =>
        ok(await cluster.flood(podName(match), String(body.to ?? ''), Number(body.seconds ?? 30))),
    },
    {
      method: 'POST',
      pattern: new RegExp(`${POD}/ticktime$`),
      handle: async ({ body, match }) =>
        ok({ pod: await cluster.setTicktime(podName(match), Number(body.seconds)) }),
    },
    {
      method: 'POST',
      pattern: new RegExp(`${POD}/app-version$`),
      handle: async ({ body, match }) =>
        ok({ pod: await cluster.setAppVersion(podName(match), String(body.version)) }),
    },
    {
      method: 'POST',
      pattern: /^\/_sandbox\/upgrade$/,
      handle: async ({ body }) => {
        const at = Date.now();
        await cluster.upgrade(String(body.version));
        return ok({ pods: cluster.pods(), at });
      },
    },
    {
      method: 'POST',
      pattern: /^\/_sandbox\/partition$/,
      handle: async ({ body }) => ok({ sides: await cluster.partition(body.sides as string[][]) }),
    },
    {
      method: 'POST',
      pattern: /^\/_sandbox\/network-fault$/,
      handle: async ({ body }) => ok({ fault: await cluster.networkFault(body as NetworkFault) }),
    },
    {
      method: 'POST',
      pattern: /^\/_sandbox\/heal$/,
      handle: async () => {
        await cluster.heal();
        return ok();
      },
    },
    {
      method: 'GET',
      pattern: /^\/_sandbox\/status$/,
      handle: async () => ({ body: await cluster.status() }),
    },
    ...(stop
      ? [
          {
            method: 'POST',
            pattern: /^\/_sandbox\/stop$/,
            // Answer first: stopping closes this server.
            handle: () => ({ ...ok({ stopping: true }, 202), afterReply: stop }),
          },
        ]
      : []),
    {
      method: 'DELETE',
      pattern: new RegExp(`${POD}$`),
      handle: ({ match }) => {
        cluster.deletePod(podName(match));
        return ok({ at: Date.now() }, 202);
      },
    },
    {
      method: 'POST',
      pattern: /^\/_sandbox\/scale$/,
      handle: async ({ body }) => {
        // Scaling writes (or marks terminating) the pods before its first await.
        const at = Date.now();
        await cluster.scale(Number(body.replicas));
        return ok({ pods: cluster.pods(), at });
      },
    },
    {
      method: 'POST',
      pattern: /^\/_sandbox\/rollout-restart$/,
      handle: async () => {
        const at = Date.now();
        await cluster.rolloutRestart();
        return ok({ pods: cluster.pods(), at });
      },
    },
    {
      method: 'POST',
      pattern: /^\/_sandbox\/nodes\/([^/]+)\/(lose|restore)$/,
      handle: async ({ match }) => {
        const node = decodeURIComponent(match[1]!);
        const at = Date.now();
        if (match[2] === 'restore') {
          cluster.restoreNode(node);
          return ok({ at });
        }
        return ok({ lost: await cluster.loseNode(node), at });
      },
    },
    {
      method: 'POST',
      pattern: /^\/_sandbox\/compact$/,
      handle: () => {
        cluster.compact();
        return ok({ resourceVersion: String(context.store.currentRevision) });
      },
    },
    {
      method: 'POST',
      pattern: /^\/_sandbox\/forbidden$/,
      handle: ({ body }) => {
        const resource = String(body.resource);
        if (!['endpointslices', 'endpoints', 'pods', 'events'].includes(resource)) {
          throw new BeamscopeError('sandbox', 'bad_request', `cannot forbid "${resource}"`);
        }
        const verbs = body.verbs === undefined ? [...GUARDED_VERBS] : body.verbs;
        if (
          !Array.isArray(verbs) ||
          verbs.some((verb) => !(GUARDED_VERBS as readonly unknown[]).includes(verb))
        ) {
          throw new BeamscopeError(
            'sandbox',
            'bad_request',
            `verbs must be a list of ${GUARDED_VERBS.join(', ')}`,
          );
        }
        cluster.setForbidden(
          resource as GuardedResource,
          body.forbidden !== false,
          verbs as GuardedVerb[],
        );
        return ok();
      },
    },
    {
      method: 'POST',
      pattern: /^\/_sandbox\/token-rejected$/,
      handle: ({ body }) => {
        cluster.setTokenRejected(body.rejected !== false);
        return ok();
      },
    },
    ...accessControlRoutes(context),
    {
      method: 'POST',
      pattern: /^\/_sandbox\/drop-watches$/,
      handle: () => {
        cluster.dropWatches();
        return ok();
      },
    },
  ];
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 65536) throw new BeamscopeError('sandbox', 'bad_request', 'request body too large');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (!text) return {};
  try {
    const value: unknown = JSON.parse(text);
    if (value && typeof value === 'object' && !Array.isArray(value))
      return value as Record<string, unknown>;
  } catch {
    // fall through to the error below
  }
  throw new BeamscopeError('sandbox', 'bad_request', 'the request body must be a JSON object');
}

/** The HTTP status of a failed control request, from its error's code. */
function statusOf(code: string): number {
  if (code === 'pod_not_found' || code === 'rbac_object_not_found') return 404;
  if (['pod_exists', 'ip_in_use', 'pod_not_running', 'not_supported'].includes(code)) return 409;
  if (code.startsWith('pod_command') || code.startsWith('pod_start')) return 500;
  return 400;
}

/**
 * Serves a control request by `routes`. A BeamscopeError becomes its code and message; any other
 * error is thrown on, to become the API's 500 Status.
 */
export async function serveControl(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  routes: readonly ControlRoute[],
): Promise<void> {
  const method = req.method ?? 'GET';
  let reply: ControlReply;
  try {
    const body = method === 'GET' || method === 'DELETE' ? {} : await readJson(req);
    const found = findRoute(routes, method, path);
    const surface = path.startsWith('/_sandbox/faults/') ? 'fault' : 'control';
    reply = found
      ? await found.route.handle({ body, match: found.match })
      : {
          body: { error: { code: 'not_found', message: `no ${surface} route ${method} ${path}` } },
          code: 404,
        };
  } catch (error) {
    if (!(error instanceof BeamscopeError)) throw error;
    reply = {
      body: { error: { code: error.code, message: error.message } },
      code: statusOf(error.code),
    };
  }
  const after = reply.afterReply;
  if (after) res.once('finish', () => setImmediate(after));
  send(res, reply.code ?? 200, reply.body);
}
