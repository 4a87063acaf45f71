import 'server-only';

// TokenReview (authentication.k8s.io/v1) and SubjectAccessReview (authorization.k8s.io/v1), as a
// real API server answers them: the caller needs `create` on the review resource (else 403 naming
// it), the body is checked (400 / 422), and the answer is 201 Created with the request echoed and
// its `status` filled in — `authenticated`, `user`, `audiences` or `error`; `allowed`, `reason`,
// `evaluationError`. Reviews are not stored, so nothing else is served for them.

import type { IncomingMessage, ServerResponse } from 'node:http';

import { userOfToken, type Caller } from './auth';
import type { HandlerContext } from './context';
import { HttpError, send, statusObject } from './respond';

/** The audience the API server's own tokens carry (its default `--api-audiences`). */
export const API_AUDIENCE = 'https://kubernetes.default.svc.cluster.local';

interface Review {
  group: 'authentication.k8s.io' | 'authorization.k8s.io';
  resource: 'tokenreviews' | 'subjectaccessreviews';
  kind: 'TokenReview' | 'SubjectAccessReview';
}

export const TOKEN_REVIEW: Review = {
  group: 'authentication.k8s.io',
  resource: 'tokenreviews',
  kind: 'TokenReview',
};
export const ACCESS_REVIEW: Review = {
  group: 'authorization.k8s.io',
  resource: 'subjectaccessreviews',
  kind: 'SubjectAccessReview',
};

/** A review's JSON body, refused as a real server refuses it (413 too large, 400 not JSON). */
export async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 3 * 1024 * 1024) {
      throw new HttpError(statusObject(413, 'RequestEntityTooLarge', 'Request entity too large'));
    }
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new HttpError(
      statusObject(
        400,
        'BadRequest',
        'the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf',
      ),
    );
  }
}

/** The review object of the request: 403 without `create`, 400 for a body of another kind. */
async function admitReview(
  review: Review,
  req: IncomingMessage,
  caller: Caller,
  context: HandlerContext,
): Promise<Record<string, unknown>> {
  const decision = context.rbac.authorize({
    user: caller.user,
    groups: caller.groups,
    verb: 'create',
    group: review.group,
    resource: review.resource,
  });
  if (!decision.allowed) {
    throw new HttpError(
      statusObject(
        403,
        'Forbidden',
        `${review.resource}.${review.group} is forbidden: User "${caller.user}" cannot create resource "${review.resource}" in API group "${review.group}" at the cluster scope`,
        { group: review.group, kind: review.resource },
      ),
    );
  }
  const body = await readBody(req);
  const object = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  const apiVersion = `${review.group}/v1`;
  if (object.kind !== review.kind || object.apiVersion !== apiVersion) {
    throw new HttpError(
      statusObject(
        400,
        'BadRequest',
        `the API version in the data (${String(object.apiVersion ?? '')}) does not match the expected API version (${apiVersion})`,
      ),
    );
  }
  return object;
}

function invalid(review: Review, field: string, value: string, detail: string): HttpError {
  return new HttpError(
    statusObject(
      422,
      'Invalid',
      `${review.kind}.${review.group} "" is invalid: ${field}: Invalid value: ${value}: ${detail}`,
      {
        group: review.group,
        kind: review.kind,
        causes: [
          { reason: 'FieldValueInvalid', message: `Invalid value: ${value}: ${detail}`, field },
        ],
      } as never,
    ),
  );
}

/** `POST /apis/authentication.k8s.io/v1/tokenreviews`. */
export async function serveTokenReview(
  req: IncomingMessage,
  res: ServerResponse,
  caller: Caller,
  context: HandlerContext,
): Promise<void> {
  const object = await admitReview(TOKEN_REVIEW, req, caller, context);
  const spec = (object.spec ?? {}) as { token?: unknown; audiences?: unknown };
  const token = typeof spec.token === 'string' ? spec.token : '';
  if (!token) {
    throw new HttpError(
      statusObject(400, 'BadRequest', 'token is required for TokenReview in authentication'),
    );
  }
  const audiences = Array.isArray(spec.audiences) ? (spec.audiences as string[]) : [];
  const user = context.cluster.tokenRejected ? undefined : userOfToken(context, token);
  // Tokens here carry the API server's audience only: a review for any other finds none.
  const audienceOk = audiences.length === 0 || audiences.includes(API_AUDIENCE);
  const status =
    user && audienceOk
      ? {
          authenticated: true,
          user: {
            username: user.username,
            ...(user.uid ? { uid: user.uid } : {}),
            groups: user.groups,
          },
          audiences: [API_AUDIENCE],
        }
      : {
          user: {},
          error: user
            ? '[invalid bearer token, token audiences is invalid]'
            : 'invalid bearer token',
        };
  send(res, 201, {
    kind: 'TokenReview',
    apiVersion: 'authentication.k8s.io/v1',
    metadata: { creationTimestamp: null },
    spec: object.spec,
    status,
  });
}

/** `POST /apis/authorization.k8s.io/v1/subjectaccessreviews`. */
export async function serveAccessReview(
  req: IncomingMessage,
  res: ServerResponse,
  caller: Caller,
  context: HandlerContext,
): Promise<void> {
  const object = await admitReview(ACCESS_REVIEW, req, caller, context);
  const spec = (object.spec ?? {}) as {
    user?: unknown;
    groups?: unknown;
    resourceAttributes?: Record<string, unknown>;
    nonResourceAttributes?: Record<string, unknown>;
  };
  const user = typeof spec.user === 'string' ? spec.user : '';
  const groups = Array.isArray(spec.groups)
    ? spec.groups.filter((group): group is string => typeof group === 'string')
    : [];
  if (!spec.resourceAttributes === !spec.nonResourceAttributes) {
    throw invalid(
      ACCESS_REVIEW,
      'spec.resourceAttributes',
      'null',
      'exactly one of nonResourceAttributes or resourceAttributes must be specified',
    );
  }
  if (!user && groups.length === 0) {
    throw invalid(
      ACCESS_REVIEW,
      'spec.user',
      '""',
      'at least one of user or group must be specified',
    );
  }
  // Non-resource URLs (/healthz and the like): RBAC here holds no rule for them.
  const attributes = spec.resourceAttributes ?? {};
  const text = (value: unknown) => (typeof value === 'string' ? value : '');
  const namespace = text(attributes.namespace);
  const decision = spec.resourceAttributes
    ? context.rbac.authorize({
        user,
        groups,
        verb: text(attributes.verb),
        group: text(attributes.group),
        resource: text(attributes.resource),
        ...(namespace ? { namespace } : {}),
        ...(text(attributes.name) ? { name: text(attributes.name) } : {}),
      })
    : { allowed: false };
  // The sandbox's own users also hold the implicit namespace Role their requests are served by.
  const builtIn =
    !decision.allowed &&
    Object.values(context.tokens).includes(user) &&
    namespace === context.namespace &&
    ['get', 'list', 'watch'].includes(text(attributes.verb)) &&
    ['', 'discovery.k8s.io'].includes(text(attributes.group));
  send(res, 201, {
    kind: 'SubjectAccessReview',
    apiVersion: 'authorization.k8s.io/v1',
    metadata: { creationTimestamp: null },
    spec: object.spec,
    status: builtIn
      ? {
          allowed: true,
          reason: 'the sandbox grants its own service accounts read access to the namespace',
        }
      : decision,
  });
}
