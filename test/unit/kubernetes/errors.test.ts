import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';

import { BeamscopeError } from '@/server/errors';
import {
  isConnectionReset,
  kubernetesError,
  parseForbiddenMessage,
  type RequestContext,
} from '@/server/kubernetes/errors';
import { restartDelay } from '@/server/kubernetes/watcher';

const slices: RequestContext = {
  verb: 'list',
  resource: 'endpointslices',
  group: 'discovery.k8s.io',
  namespace: 'shop',
  server: 'https://10.96.0.1:443',
};
const pods: RequestContext = { ...slices, resource: 'pods', group: '' };

const FORBIDDEN_STATUS = JSON.stringify({
  kind: 'Status',
  apiVersion: 'v1',
  status: 'Failure',
  message:
    'endpointslices.discovery.k8s.io is forbidden: User "system:serviceaccount:shop:beamscope" cannot list resource "endpointslices" in API group "discovery.k8s.io" in the namespace "shop"',
  reason: 'Forbidden',
  code: 403,
});

/** A client-node fetch failure: `TypeError: fetch failed` with the system error as its cause. */
function fetchFailed(code: string, message = code): TypeError {
  return new TypeError('fetch failed', { cause: Object.assign(new Error(message), { code }) });
}

describe('parseForbiddenMessage', () => {
  it('reads user, verb, resource, group and namespace', () => {
    expect(
      parseForbiddenMessage(
        'pods is forbidden: User "alice" cannot watch resource "pods" in API group "" in the namespace "default"',
      ),
    ).toEqual({ user: 'alice', verb: 'watch', resource: 'pods', group: '', namespace: 'default' });
  });
  it('accepts cluster-scoped denials and rejects other text', () => {
    expect(
      parseForbiddenMessage(
        'User "bob" cannot list resource "nodes" in API group "" at the cluster scope',
      ),
    ).toMatchObject({ user: 'bob', namespace: null });
    expect(parseForbiddenMessage('something else')).toBeNull();
  });
});

describe('kubernetesError', () => {
  it('401: the credentials were rejected', () => {
    const error = kubernetesError(new ApiException(401, 'Unauthorized', undefined, {}), slices);
    expect(error).toBeInstanceOf(BeamscopeError);
    expect(error.surface).toBe('kubernetes');
    expect(error.code).toBe('unauthorized');
    expect(error.message).toContain("the API server rejected beamscope's credentials");
    expect(error.message).toContain('https://10.96.0.1:443');
  });

  it('401 from a watch (statusCode, no body) reads the same', () => {
    const watchError = Object.assign(new Error('Unauthorized'), { statusCode: 401 });
    expect(kubernetesError(watchError, { ...slices, verb: 'watch' }).code).toBe('unauthorized');
  });

  it('403: names the rule and the user from the Status message', () => {
    const error = kubernetesError(new ApiException(403, 'Forbidden', FORBIDDEN_STATUS, {}), slices);
    expect(error.code).toBe('rbac_forbidden');
    expect(error.message).toBe(
      'RBAC forbids user "system:serviceaccount:shop:beamscope" to list endpointslices (API group "discovery.k8s.io") in namespace "shop": grant a Role with get, list and watch on endpointslices in API group "discovery.k8s.io"',
    );
  });

  it('403 on a core resource names the core group', () => {
    const body = {
      message:
        'pods is forbidden: User "system:serviceaccount:shop:beamscope" cannot list resource "pods" in API group "" in the namespace "shop"',
    };
    const error = kubernetesError(new ApiException(403, 'Forbidden', body, {}), pods);
    expect(error.message).toContain('to list pods (the core API group ("")) in namespace "shop"');
  });

  it('403 from a watch (no Status body) still names verb, resource, group and namespace', () => {
    const watchError = Object.assign(new Error('Forbidden'), { statusCode: 403 });
    const error = kubernetesError(watchError, { ...slices, verb: 'watch' });
    expect(error.message).toBe(
      `RBAC forbids beamscope's user to watch endpointslices (API group "discovery.k8s.io") in namespace "shop": grant a Role with get, list and watch on endpointslices in API group "discovery.k8s.io"; endpointslices are listed on each retry but not followed, so they may be stale`,
    );
  });

  it('403 from a watch names the user the server is known to see', () => {
    const watchError = Object.assign(new Error('Forbidden'), { statusCode: 403 });
    const error = kubernetesError(watchError, {
      ...slices,
      verb: 'watch',
      user: 'system:serviceaccount:shop:beamscope',
    });
    expect(error.message).toMatch(
      /^RBAC forbids user "system:serviceaccount:shop:beamscope" to watch endpointslices /,
    );
  });

  it('a refused connection names the server', () => {
    const error = kubernetesError(fetchFailed('ECONNREFUSED'), slices);
    expect(error.code).toBe('unreachable');
    expect(error.message).toBe(
      'cannot reach the Kubernetes API server at https://10.96.0.1:443: connection refused',
    );
  });

  it('a certificate problem is a TLS error', () => {
    const error = kubernetesError(
      fetchFailed('UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify the first certificate'),
      slices,
    );
    expect(error.code).toBe('tls');
    expect(error.message).toContain('unable to verify the first certificate');
  });

  it('a 404 on EndpointSlices hints at the Kubernetes version', () => {
    const error = kubernetesError(
      new ApiException(
        404,
        'Not Found',
        '{"message":"the server could not find the requested resource"}',
        {},
      ),
      slices,
    );
    expect(error.code).toBe('not_found');
    expect(error.message).toContain('HTTP 404');
    expect(error.message).toContain('1.21');
  });

  it('anything else keeps its first line only', () => {
    const error = kubernetesError(new Error('boom\nwith a second line'), slices);
    expect(error.code).toBe('request_failed');
    expect(error.message).toBe('list endpointslices at https://10.96.0.1:443 failed: boom');
  });

  it('never repeats a bearer token from the request', () => {
    const error = kubernetesError(
      new ApiException(500, 'x', 'Authorization: Bearer SECRET', { 'x-a': 'b' }),
      slices,
    );
    expect(error.message).not.toContain('SECRET');
  });

  it('recognises a connection reset', () => {
    expect(
      isConnectionReset(
        new TypeError('terminated', {
          cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }),
        }),
      ),
    ).toBe(true);
    expect(isConnectionReset(fetchFailed('ECONNRESET'))).toBe(true);
    expect(isConnectionReset(fetchFailed('ECONNREFUSED'))).toBe(false);
  });
});

describe('restartDelay', () => {
  it('doubles up to the ceiling, with half of each step random', () => {
    const low = { initialMs: 100, maxMs: 1000, random: () => 0 };
    const high = { ...low, random: () => 1 };
    expect([0, 1, 2, 3, 4, 10].map((attempt) => restartDelay(attempt, low))).toEqual([
      50, 100, 200, 400, 500, 500,
    ]);
    expect([0, 1, 2, 3, 4, 10].map((attempt) => restartDelay(attempt, high))).toEqual([
      100, 200, 400, 800, 1000, 1000,
    ]);
  });
  it('defaults to 1 s up to 30 s', () => {
    expect(restartDelay(0, { random: () => 1 })).toBe(1000);
    expect(restartDelay(50, { random: () => 1 })).toBe(30_000);
  });
});
