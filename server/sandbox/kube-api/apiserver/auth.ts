import 'server-only';

// Who is asking and what they may do: bearer tokens, the access each route asks of its caller,
// and the namespace Role the sandbox's token holds, with the denials the control surface sets.

import type { IncomingMessage } from 'node:http';

import type { GuardedResource, GuardedVerb } from '../cluster/sandbox-control';
import type { ResourceDefinition } from '../resources';
import type { HandlerContext } from './context';
import {
  HttpError,
  qualifiedName,
  resourceDetails,
  statusObject,
  unauthorized,
  type Status,
} from './respond';

/**
 * What a route asks of its caller: nothing (health checks); nothing unless a token is shown
 * (`/version`, like system:public-info-viewer: the gcloud kubectl dispatcher asks it tokenless to
 * pick a kubectl version, though a bad token still gets 401); a driver of the sandbox (the control
 * surface, which ignores token rejection, or a test could never undo it over HTTP); an API user.
 */
export type Access = 'open' | 'public-info' | 'driver' | 'api';

/** An authenticated caller. */
export interface Caller {
  user: string;
  /** The pods' own service account, which the denials set through the control surface spare. */
  exempt: boolean;
}

function authenticate(context: HandlerContext, req: IncomingMessage): string | undefined {
  const header = req.headers.authorization ?? '';
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  const token = match?.[1];
  // hasOwn: a token spelled like an Object.prototype member must not authenticate.
  return token !== undefined && Object.hasOwn(context.tokens, token)
    ? context.tokens[token]
    : undefined;
}

/**
 * Lets the request through to a route of `access`: returns its caller (none where no token is
 * needed), or throws the Status a real server answers with (401, or 403 for the pods' account on
 * the control surface).
 */
export function admit(
  access: Access,
  req: IncomingMessage,
  context: HandlerContext,
): Caller | undefined {
  if (access === 'open') return undefined;
  if (access === 'public-info' && req.headers.authorization === undefined) return undefined;
  const user = authenticate(context, req);
  if (!user) throw new HttpError(unauthorized());
  const exempt = user === context.podUser;
  if (access === 'driver') {
    if (exempt) {
      throw new HttpError(
        statusObject(403, 'Forbidden', `User "${user}" may not drive the sandbox`),
      );
    }
  } else if (context.cluster.tokenRejected && !exempt) {
    throw new HttpError(unauthorized());
  }
  return { user, exempt };
}

/** The sandbox's user holds a namespace Role: get/list/watch in the sandbox namespace only. */
export function mayAccess(
  context: HandlerContext,
  caller: Caller,
  definition: ResourceDefinition,
  verb: string,
  namespace: string | undefined,
): boolean {
  return (
    namespace === context.namespace &&
    ['get', 'list', 'watch'].includes(verb) &&
    (caller.exempt ||
      !context.cluster.forbidden.get(definition.name as GuardedResource)?.has(verb as GuardedVerb))
  );
}

/** The RBAC denial the real authorizer writes, naming the user, verb, resource, group and scope. */
export function forbiddenStatus(
  definition: ResourceDefinition,
  user: string,
  verb: string,
  namespace: string | undefined,
  name?: string,
): Status {
  const subject = name ? `${qualifiedName(definition)} "${name}"` : qualifiedName(definition);
  const scope =
    namespace === undefined ? 'at the cluster scope' : `in the namespace "${namespace}"`;
  return statusObject(
    403,
    'Forbidden',
    `${subject} is forbidden: User "${user}" cannot ${verb} resource "${definition.name}" in API group "${definition.group}" ${scope}`,
    resourceDetails(definition, name),
  );
}
