import 'server-only';

import { AuthenticationV1Api, AuthorizationV1Api, type KubeConfig } from '@kubernetes/client-node';

import type { KubernetesUser } from './principal';

/**
 * One cluster's API server as mode kubernetes asks it, with beamscope's own credentials: who
 * does this bearer token belong to (a TokenReview), and may this user do that (a
 * SubjectAccessReview). A seam: the server uses {@link kubernetesReviewApi}; unit tests of the
 * caches pass their own.
 */
export interface ReviewApi {
  /** The API server's address: clusters on the same API share one review of a token. */
  readonly server: string;
  /** The user the token authenticates as, or undefined when the API server does not accept it. */
  reviewToken(token: string): Promise<KubernetesUser | undefined>;
  /** Whether `user` may `verb` `resource` (core group) in `namespace`, as RBAC decides now. */
  mayAccess(
    user: KubernetesUser,
    verb: string,
    resource: string,
    namespace: string,
  ): Promise<boolean>;
}

/** An API server refused or failed a review: the operator's message, never the token. */
export class ReviewError extends Error {
  constructor(
    message: string,
    /** The HTTP status of the refusal (403: beamscope lacks `create` on the review resource). */
    readonly status?: number,
  ) {
    super(message);
  }
}

/** The message of a Kubernetes Status body, if the body is one. */
function statusMessage(body: unknown): string | undefined {
  const text = typeof body === 'string' ? body : undefined;
  if (!text) return undefined;
  try {
    const parsed = JSON.parse(text) as { kind?: unknown; message?: unknown };
    return parsed.kind === 'Status' && typeof parsed.message === 'string'
      ? parsed.message
      : undefined;
  } catch {
    return undefined;
  }
}

function reviewError(server: string, what: string, error: unknown): ReviewError {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'number') {
    const message = statusMessage((error as { body?: unknown }).body);
    const hint =
      code === 403
        ? ' (grant beamscope the access-review component: deploy/kubernetes/components/access-review)'
        : '';
    return new ReviewError(
      `the API server at ${server} answered ${code} to a ${what}${message ? `: ${message}` : ''}${hint}`,
      code,
    );
  }
  // A connection failure: the cause's own words (a fetch error never carries the request body).
  const cause = (error as { cause?: { code?: unknown } }).cause?.code;
  return new ReviewError(
    `the API server at ${server} did not answer a ${what}: ${typeof cause === 'string' ? cause : error instanceof Error ? error.message : String(error)}`,
  );
}

/** The {@link ReviewApi} of the API server `kubeConfig` points at, with its credentials. */
export function kubernetesReviewApi(kubeConfig: KubeConfig, server: string): ReviewApi {
  const authentication = kubeConfig.makeApiClient(AuthenticationV1Api);
  const authorization = kubeConfig.makeApiClient(AuthorizationV1Api);
  return {
    server,
    async reviewToken(token) {
      let review;
      try {
        review = await authentication.createTokenReview({
          body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } },
        });
      } catch (error) {
        throw reviewError(server, 'TokenReview', error);
      }
      const user = review.status?.user;
      if (!review.status?.authenticated || !user?.username) return undefined;
      return {
        username: user.username,
        ...(user.uid ? { uid: user.uid } : {}),
        groups: user.groups ?? [],
        ...(user.extra ? { extra: user.extra } : {}),
      };
    },
    async mayAccess(user, verb, resource, namespace) {
      let review;
      try {
        review = await authorization.createSubjectAccessReview({
          body: {
            apiVersion: 'authorization.k8s.io/v1',
            kind: 'SubjectAccessReview',
            spec: {
              user: user.username,
              ...(user.uid ? { uid: user.uid } : {}),
              groups: [...user.groups],
              ...(user.extra
                ? {
                    extra: Object.fromEntries(
                      Object.entries(user.extra).map(([key, values]) => [key, [...values]]),
                    ),
                  }
                : {}),
              resourceAttributes: { namespace, verb, group: '', resource },
            },
          },
        });
      } catch (error) {
        throw reviewError(server, 'SubjectAccessReview', error);
      }
      return review.status?.allowed === true && review.status.denied !== true;
    },
  };
}
