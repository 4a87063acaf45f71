import 'server-only';

// The self reviews every authenticated user may create (the `system:basic-user` ClusterRole):
// who am I (authentication.k8s.io/v1 SelfSubjectReview, Kubernetes 1.28+) and may I do this
// (authorization.k8s.io/v1 SelfSubjectAccessReview), answered as a real API server answers them.

import type { IncomingMessage } from 'node:http';

import { mayAccess, type Caller } from './auth';
import type { HandlerContext } from './context';
import { HttpError, statusObject } from './respond';
import { resources } from '../resources';

const MAX_BODY = 65536;

async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY)
      throw new HttpError(statusObject(413, 'RequestEntityTooLarge', 'request entity too large'));
    chunks.push(chunk);
  }
  try {
    const value: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    if (value && typeof value === 'object' && !Array.isArray(value))
      return value as Record<string, unknown>;
  } catch {
    // answered below, as the server's decoder does
  }
  throw new HttpError(
    statusObject(400, 'BadRequest', "the object provided is unrecognized (body isn't JSON)"),
  );
}

/** The groups a real authenticator gives a user: service accounts get theirs. */
function groupsOf(user: string): string[] {
  const account = /^system:serviceaccount:([^:]+):[^:]+$/.exec(user);
  return account
    ? ['system:serviceaccounts', `system:serviceaccounts:${account[1]}`, 'system:authenticated']
    : ['system:authenticated'];
}

/** `POST /apis/authentication.k8s.io/v1/selfsubjectreviews`: the caller as the server sees it. */
export async function selfSubjectReview(req: IncomingMessage, caller: Caller) {
  await readBody(req);
  return {
    kind: 'SelfSubjectReview',
    apiVersion: 'authentication.k8s.io/v1',
    metadata: { creationTimestamp: null },
    status: { userInfo: { username: caller.user, groups: groupsOf(caller.user) } },
  };
}

/**
 * `POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews`: whether the caller may do what
 * `spec.resourceAttributes` says, by the same Role the resource routes enforce.
 */
export async function selfSubjectAccessReview(
  req: IncomingMessage,
  caller: Caller,
  context: HandlerContext,
) {
  const body = await readBody(req);
  const spec = (body.spec ?? {}) as Record<string, unknown>;
  const attributes = spec.resourceAttributes as Record<string, unknown> | undefined;
  if (!attributes || typeof attributes !== 'object') {
    throw new HttpError(
      statusObject(
        422,
        'Invalid',
        'SelfSubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes: Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must be specified',
      ),
    );
  }
  const text = (key: string) =>
    typeof attributes[key] === 'string' ? (attributes[key] as string) : '';
  const definition = Object.values(resources).find(
    (candidate) => candidate.name === text('resource') && candidate.group === text('group'),
  );
  const namespace = text('namespace') || undefined;
  const allowed =
    definition !== undefined && mayAccess(context, caller, definition, text('verb'), namespace);
  return {
    kind: 'SelfSubjectAccessReview',
    apiVersion: 'authorization.k8s.io/v1',
    metadata: { creationTimestamp: null },
    spec,
    status: allowed
      ? {
          allowed: true,
          reason: `RBAC: allowed by RoleBinding "beamscope/${context.namespace}" of Role "beamscope" to ServiceAccount "beamscope/${context.namespace}"`,
        }
      : { allowed: false },
  };
}
