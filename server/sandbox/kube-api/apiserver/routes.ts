import 'server-only';

// The emulated API's route table: every method and path pattern it answers, the access each asks
// of its caller (auth.ts) and the handler that serves it. The first matching route serves.

import type { IncomingMessage, ServerResponse } from 'node:http';

import { forbiddenStatus, mayAccess, type Access, type Caller } from './auth';
import type { HandlerContext } from './context';
import { serveControl, type ControlRoute } from './control';
import { coreVersions, group, groupList, resourceList, SERVER_VERSION } from './discovery';
import { EVICTION_PATH, serveEviction } from './eviction';
import { serveGet, serveList } from './list';
import {
  answerHeaders,
  isTrue,
  RESOURCE_PATH,
  resourceTarget,
  verbOf,
  type ResourceRequest,
} from './request';
import { notFound, send, sendStatus, statusObject } from './respond';
import { serveAccessReview, serveTokenReview } from './reviews';
import { selfSubjectAccessReview, selfSubjectReview } from './self-reviews';
import type { Route } from './router';
import { tableMode } from './table';
import { serveWatch, type OpenWatch } from './watch';

/** A resource that exists but takes no such verb (reviews and evictions are only created): 405. */
const methodNotAllowed: ApiRoute['handle'] = ({ res }) =>
  sendStatus(
    res,
    statusObject(
      405,
      'MethodNotAllowed',
      'the server does not allow this method on the requested resource',
      {},
    ),
  );

/** A request as a route's handler gets it; `caller` is set once the route's access admits it. */
export interface ApiCall {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  match: RegExpExecArray;
  caller: Caller | undefined;
}

export interface ApiRoute extends Route<(call: ApiCall) => void | Promise<void>> {
  access: Access;
}

/** The route table: health, version and discovery, the control surface, then the resources. */
export function apiRoutes(
  context: HandlerContext,
  watches: Set<OpenWatch>,
  controls: readonly ControlRoute[],
): ApiRoute[] {
  const health: ApiRoute['handle'] = ({ res }) => {
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('ok');
  };
  return [
    { pattern: /^\/(?:healthz|livez|readyz)$/, access: 'open', handle: health },
    {
      method: 'GET',
      pattern: /^\/version\/?$/,
      access: 'public-info',
      handle: ({ res }) => send(res, 200, SERVER_VERSION),
    },
    {
      pattern: /^\/_sandbox\//,
      access: 'driver',
      handle: ({ req, res, url }) => serveControl(req, res, url.pathname, controls),
    },
    {
      method: 'GET',
      pattern: /^\/api\/?$/,
      access: 'api',
      handle: ({ res }) => send(res, 200, coreVersions(context.serverAddress())),
    },
    {
      method: 'GET',
      pattern: /^\/apis\/?$/,
      access: 'api',
      handle: ({ res }) => send(res, 200, groupList()),
    },
    {
      method: 'GET',
      pattern: /^\/apis\/([a-z0-9.-]+)\/?$/,
      access: 'api',
      handle: ({ res, match }) => {
        const served = group(match[1]!);
        if (served) send(res, 200, served);
        else sendStatus(res, notFound());
      },
    },
    {
      method: 'GET',
      pattern: /^\/(?:api\/(v1)|apis\/([a-z0-9.-]+\/v1))\/?$/,
      access: 'api',
      handle: ({ res, match }) => {
        const list = resourceList(match[1] ?? match[2]!);
        if (list) send(res, 200, list);
        else sendStatus(res, notFound());
      },
    },
    {
      method: 'POST',
      pattern: /^\/apis\/authentication\.k8s\.io\/v1\/tokenreviews\/?$/,
      access: 'api',
      handle: ({ req, res, caller }) => serveTokenReview(req, res, caller!, context),
    },
    {
      method: 'POST',
      pattern: /^\/apis\/authorization\.k8s\.io\/v1\/subjectaccessreviews\/?$/,
      access: 'api',
      handle: ({ req, res, caller }) => serveAccessReview(req, res, caller!, context),
    },
    {
      // Reviews are created, never stored: no other verb exists for them.
      pattern:
        /^\/apis\/(?:authentication\.k8s\.io\/v1\/tokenreviews|authorization\.k8s\.io\/v1\/subjectaccessreviews)\/?$/,
      access: 'api',
      handle: methodNotAllowed,
    },
    {
      method: 'POST',
      pattern: /^\/apis\/authentication\.k8s\.io\/v1\/selfsubjectreviews$/,
      access: 'api',
      handle: async ({ req, res, caller }) => send(res, 201, await selfSubjectReview(req, caller!)),
    },
    {
      method: 'POST',
      pattern: /^\/apis\/authorization\.k8s\.io\/v1\/selfsubjectaccessreviews$/,
      access: 'api',
      handle: async ({ req, res, caller }) =>
        send(res, 201, await selfSubjectAccessReview(req, caller!, context)),
    },
    {
      method: 'POST',
      pattern: EVICTION_PATH,
      access: 'api',
      handle: ({ req, res, url, match, caller }) =>
        serveEviction(req, res, url, match, caller!, context),
    },
    {
      // An eviction is created, never read: no other verb exists for it.
      pattern: EVICTION_PATH,
      access: 'api',
      handle: methodNotAllowed,
    },
    {
      pattern: RESOURCE_PATH,
      access: 'api',
      handle: (call) => serveResource(call, context, watches),
    },
    // Whatever else: 404, once the caller has shown a valid token.
    { pattern: /^/, access: 'api', handle: ({ res }) => sendStatus(res, notFound()) },
  ];
}

/** A get, list or watch of a served resource, within the Role the caller holds. */
function serveResource(call: ApiCall, context: HandlerContext, watches: Set<OpenWatch>) {
  const { req, res, url, match } = call;
  // Resource routes ask for 'api' access, which admits only a caller with a valid token.
  const caller = call.caller!;
  const target = resourceTarget(match);
  if (!target) return sendStatus(res, notFound());
  const { definition, namespace, name } = target;
  const query = url.searchParams;
  const watch = req.method === 'GET' && isTrue(query.get('watch'));
  const verb = verbOf(req.method, watch, name);
  const headers = answerHeaders(definition);
  if (!mayAccess(context, caller, definition, verb, namespace, watch ? undefined : name)) {
    return sendStatus(
      res,
      forbiddenStatus(definition, caller.user, verb, namespace, watch ? undefined : name),
      headers,
    );
  }
  const table = tableMode(req, query);
  const request: ResourceRequest = { req, res, definition, namespace, name, query, table, headers };
  if (watch) return serveWatch(request, context, watches);
  if (name) return serveGet(request, context, name);
  return serveList(request, context);
}
