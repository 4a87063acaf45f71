import 'server-only';

// The self reviews every authenticated user may create (the `system:basic-user` ClusterRole):
// who am I (authentication.k8s.io/v1 SelfSubjectReview, Kubernetes 1.28+) and may I do this
// (authorization.k8s.io/v1 SelfSubjectAccessReview), answered as a real API server answers them.

import type { IncomingMessage } from 'node:http';

import { mayAccess, type Caller } from './auth';
import type { HandlerContext } from './context';
import { HttpError, statusObject } from './respond';
import { readBody } from './reviews';
import { resources } from '../resources';

/** `POST /apis/authentication.k8s.io/v1/selfsubjectreviews`: the caller as the server sees it. */
export async function selfSubjectReview(req: IncomingMessage, caller: Caller) {
  await readBody(req);
  return {
    kind: 'SelfSubjectReview',
    apiVersion: 'authentication.k8s.io/v1',
    metadata: { creationTimestamp: null },
    status: { userInfo: { username: caller.user, groups: caller.groups } },
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
  const parsed = await readBody(req);
  const body = (parsed && typeof parsed === 'object' ? parsed : {}) as Record<string, unknown>;
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
