import 'server-only';

// Who is asking and what they may do: bearer tokens, the access each route asks of its caller,
// and the namespace Role the sandbox's token holds, with the denials the control surface sets.

import type { IncomingMessage } from 'node:http';

import type { GuardedResource, GuardedVerb } from '../cluster/sandbox-control';
import type { ResourceDefinition } from '../resources';
import type { AccountUser, HandlerContext } from './context';
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
  groups: string[];
  /** The pods' own service account, which the denials set through the control surface spare. */
  exempt: boolean;
  /** One of the sandbox's own tokens, with the implicit namespace Role (not an account's). */
  builtIn: boolean;
}

/** The groups Kubernetes gives a service account's user, or any authenticated user. */
export function groupsOf(user: string): string[] {
  const account = /^system:serviceaccount:([^:]+):[^:]+$/.exec(user);
  return account
    ? ['system:serviceaccounts', `system:serviceaccounts:${account[1]}`, 'system:authenticated']
    : ['system:authenticated'];
}

/** The user a bearer token authenticates as, as a TokenReview reports it; undefined if none. */
export function userOfToken(
  context: HandlerContext,
  token: string,
): (AccountUser & { builtIn: boolean }) | undefined {
  // hasOwn: a token spelled like an Object.prototype member must not authenticate.
  if (Object.hasOwn(context.tokens, token)) {
    const username = context.tokens[token]!;
    return { username, uid: '', groups: groupsOf(username), builtIn: true };
  }
  const account = context.accounts.get(token);
  return account ? { ...account, builtIn: false } : undefined;
}

function authenticate(context: HandlerContext, req: IncomingMessage) {
  const header = req.headers.authorization ?? '';
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  const token = match?.[1];
  return token === undefined ? undefined : userOfToken(context, token);
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
  const authenticated = authenticate(context, req);
  if (!authenticated) throw new HttpError(unauthorized());
  const user = authenticated.username;
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
  return { user, groups: authenticated.groups, exempt, builtIn: authenticated.builtIn };
}

/**
 * The sandbox's own users hold a namespace Role: get/list/watch in the sandbox namespace only
 * (less what the control surface forbids). Accounts hold what the RBAC store grants them.
 */
export function mayAccess(
  context: HandlerContext,
  caller: Caller,
  definition: ResourceDefinition,
  verb: string,
  namespace: string | undefined,
  name?: string,
): boolean {
  // What the control surface denies beamscope's user, verb by verb (the pods' account is spared).
  const denied =
    !caller.exempt &&
    (context.cluster.forbidden.get(definition.name as GuardedResource)?.has(verb as GuardedVerb) ??
      false);
  if (caller.builtIn && denied) return false;
  if (
    caller.builtIn &&
    namespace === context.namespace &&
    ['get', 'list', 'watch'].includes(verb)
  ) {
    return true;
  }
  return context.rbac.authorize({
    user: caller.user,
    groups: caller.groups,
    verb,
    group: definition.group,
    resource: definition.name,
    namespace,
    name,
  }).allowed;
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
