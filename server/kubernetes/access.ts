import 'server-only';

import { AuthenticationV1Api, AuthorizationV1Api, type KubeConfig } from '@kubernetes/client-node';

import type { ResourceKind } from './watcher';

/**
 * The two questions every authenticated user may ask the API server about itself (the
 * `system:basic-user` ClusterRole grants both): who am I, and may I do this. The first names the
 * user where a 403 comes without a body (client-node's Watch drops it); the second notices a
 * revoked Role while a watch is open, which the API server itself never re-checks.
 */
export class SelfReviews {
  private readonly authentication: AuthenticationV1Api;
  private readonly authorization: AuthorizationV1Api;
  private user: string | undefined;
  private asking: Promise<string | undefined> | undefined;

  constructor(kubeConfig: KubeConfig) {
    this.authentication = kubeConfig.makeApiClient(AuthenticationV1Api);
    this.authorization = kubeConfig.makeApiClient(AuthorizationV1Api);
  }

  /** The user the server last said (or a 403's Status named) beamscope is; undefined until known. */
  knownUser(): string | undefined {
    return this.user;
  }

  /** A user a 403's Status body named: the server's own word, kept for the bodiless ones. */
  learnUser(user: string): void {
    this.user = user;
  }

  /**
   * Asks the server once who beamscope is (SelfSubjectReview, Kubernetes 1.28+); undefined when
   * it cannot say (an older server, an outage): the 403 bodies may still name the user.
   */
  whoAmI(): Promise<string | undefined> {
    if (this.user !== undefined) return Promise.resolve(this.user);
    this.asking ??= this.authentication
      .createSelfSubjectReview({
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
      })
      .then((review) => {
        const name = review.status?.userInfo?.username;
        if (name) this.user = name;
        return this.user;
      })
      .catch(() => undefined)
      .finally(() => {
        this.asking = undefined;
      });
    return this.asking;
  }

  /**
   * Whether beamscope may `verb` the kind in `namespace` (SelfSubjectAccessReview): false only
   * when the authorizer says no; undefined when the review itself fails, which says nothing.
   */
  async mayI(verb: string, kind: ResourceKind, namespace: string): Promise<boolean | undefined> {
    try {
      const review = await this.authorization.createSelfSubjectAccessReview({
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SelfSubjectAccessReview',
          spec: {
            resourceAttributes: { verb, group: kind.group, resource: kind.resource, namespace },
          },
        },
      });
      return review.status?.allowed === true;
    } catch {
      return undefined;
    }
  }
}
