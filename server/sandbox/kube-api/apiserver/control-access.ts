import 'server-only';

// The control surface's part for who may do what: service accounts for people (a token each, as
// `kubectl create serviceaccount` and `kubectl create token` give), and the RBAC objects that
// decide what they — and beamscope's reviews — may do. Deleting a RoleBinding here is what a
// cluster admin's `kubectl delete rolebinding` is to a real cluster.

import { randomBytes, randomUUID } from 'node:crypto';

import { BeamscopeError } from '../../../errors';
import { RbacError, type RbacKind } from '../rbac';
import { groupsOf } from './auth';
import type { HandlerContext } from './context';
import type { ControlRoute } from './control';

const ACCOUNT_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const KIND_OF_PATH: Record<string, RbacKind> = {
  roles: 'Role',
  clusterroles: 'ClusterRole',
  rolebindings: 'RoleBinding',
  clusterrolebindings: 'ClusterRoleBinding',
};

export function accessControlRoutes(context: HandlerContext): ControlRoute[] {
  return [
    {
      method: 'POST',
      pattern: /^\/_sandbox\/accounts$/,
      handle: ({ body }) => {
        const name = String(body.name ?? '');
        if (!ACCOUNT_NAME.test(name)) {
          throw new BeamscopeError(
            'sandbox',
            'bad_request',
            `not a service account name: "${name}"`,
          );
        }
        const username = `system:serviceaccount:${context.namespace}:${name}`;
        const token = randomBytes(32).toString('base64url');
        context.accounts.set(token, { username, uid: randomUUID(), groups: groupsOf(username) });
        return { body: { username, token }, code: 201 };
      },
    },
    {
      method: 'DELETE',
      pattern: /^\/_sandbox\/accounts\/([^/]+)$/,
      handle: ({ match }) => {
        // Deleting a service account invalidates every token issued for it.
        const username = `system:serviceaccount:${context.namespace}:${decodeURIComponent(match[1]!)}`;
        let removed = 0;
        for (const [token, account] of context.accounts) {
          if (account.username === username && context.accounts.delete(token)) removed += 1;
        }
        return { body: { ok: true, tokens: removed } };
      },
    },
    {
      method: 'GET',
      pattern: /^\/_sandbox\/rbac$/,
      handle: () => ({ body: context.rbac.list() }),
    },
    {
      method: 'POST',
      pattern: /^\/_sandbox\/rbac$/,
      handle: ({ body }) => {
        try {
          return { body: context.rbac.apply(body), code: 201 };
        } catch (error) {
          if (error instanceof RbacError) {
            throw new BeamscopeError('sandbox', 'bad_request', error.message);
          }
          throw error;
        }
      },
    },
    {
      method: 'DELETE',
      pattern:
        /^\/_sandbox\/rbac\/(roles|clusterroles|rolebindings|clusterrolebindings)\/(?:([^/]+)\/)?([^/]+)$/,
      handle: ({ match }) => {
        const kind = KIND_OF_PATH[match[1]!]!;
        const namespace = match[2] === undefined ? undefined : decodeURIComponent(match[2]);
        const deleted = context.rbac.delete(kind, namespace, decodeURIComponent(match[3]!));
        if (!deleted) {
          throw new BeamscopeError(
            'sandbox',
            'rbac_object_not_found',
            `no ${kind} ${match[2] ? `${match[2]}/` : ''}${match[3]}`,
          );
        }
        return { body: { ok: true } };
      },
    },
  ];
}
