import 'server-only';

import { BeamscopeError, describeError, isBeamscopeError } from '../errors';

/** What a failed request was doing, so its error can name the rule or the server involved. */
export interface RequestContext {
  verb: 'list' | 'watch';
  /** The plural resource name, e.g. `endpointslices`. */
  resource: string;
  /** The API group; '' is the core group. */
  group: string;
  namespace: string;
  /** The API server URL. */
  server: string;
  /** The user the server knows beamscope as, for a 403 that comes without a Status body. */
  user?: string;
}

/** The parts of an RBAC denial, as the API server words its Status message. */
export interface ForbiddenDetails {
  user: string;
  verb: string;
  resource: string;
  group: string;
  namespace: string | null;
}

const FORBIDDEN_MESSAGE =
  /User "([^"]*)" cannot (\w+) resource "([^"]*)" in API group "([^"]*)"(?: in the namespace "([^"]*)")?/;

/** Parses `User "U" cannot list resource "R" in API group "G" in the namespace "N"`. */
export function parseForbiddenMessage(message: string): ForbiddenDetails | null {
  const match = FORBIDDEN_MESSAGE.exec(message);
  if (!match) return null;
  return {
    user: match[1]!,
    verb: match[2]!,
    resource: match[3]!,
    group: match[4]!,
    namespace: match[5] ?? null,
  };
}

/** The HTTP status of a failed request: `ApiException.code` from a list, `statusCode` from a watch. */
function httpStatus(error: unknown): number | undefined {
  if (!error || typeof error !== 'object') return undefined;
  const { code, statusCode } = error as { code?: unknown; statusCode?: unknown };
  if (typeof statusCode === 'number') return statusCode;
  if (typeof code === 'number') return code;
  return undefined;
}

/** The `message` of the Status object an API error carries (a JSON string or an object). */
function statusMessage(error: unknown): string | undefined {
  let body = (error as { body?: unknown } | null)?.body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body) as unknown;
    } catch {
      return undefined;
    }
  }
  const message = (body as { message?: unknown } | null | undefined)?.message;
  return typeof message === 'string' ? message : undefined;
}

/** The first system error code (`ECONNREFUSED`, `CERT_HAS_EXPIRED`, …) along the cause chain. */
export function networkCode(error: unknown): string | undefined {
  const seen = new Set<unknown>();
  const queue: unknown[] = [error];
  while (queue.length > 0) {
    const current = queue.shift();
    if (!current || typeof current !== 'object' || seen.has(current)) continue;
    seen.add(current);
    const { code, cause, errors } = current as {
      code?: unknown;
      cause?: unknown;
      errors?: unknown;
    };
    if (typeof code === 'string') return code;
    queue.push(cause);
    if (Array.isArray(errors)) queue.push(...(errors as unknown[]));
  }
  return undefined;
}

function innermostMessage(error: unknown): string {
  let current: unknown = error;
  for (let depth = 0; depth < 5; depth += 1) {
    const cause = (current as { cause?: unknown } | null)?.cause;
    if (!(cause instanceof Error)) break;
    current = cause;
  }
  const message = describeError(current);
  return message.split('\n')[0]!;
}

const NETWORK_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection reset',
  UND_ERR_SOCKET: 'connection closed by the server',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'DNS lookup failed',
  ETIMEDOUT: 'connection timed out',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
};

const TLS_CODES =
  /^(CERT_|ERR_TLS_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|ERR_SSL_)/;

function groupName(group: string): string {
  return group === '' ? 'the core API group ("")' : `API group "${group}"`;
}

/** The user a 403's Status body names (the server's own word), if it has one. */
export function forbiddenUser(error: unknown): string | undefined {
  if (httpStatus(error) !== 403) return undefined;
  return parseForbiddenMessage(statusMessage(error) ?? '')?.user;
}

/**
 * The line for an RBAC denial: the user (when known), the verb, resource, API group and
 * namespace refused, and the Role to grant. A refused watch says what it means for the view:
 * what was listed is not followed, so it may be stale (the same words on every retry, so the
 * link's reason does not change while the denial lasts).
 */
export function forbiddenError(
  denied: Omit<ForbiddenDetails, 'user'> & { user: string | null },
  options: { cause?: unknown } = {},
): BeamscopeError<'kubernetes'> {
  const { verb, resource, group } = denied;
  const user = denied.user !== null ? `user "${denied.user}"` : "beamscope's user";
  const stale =
    verb === 'watch'
      ? `; ${resource} are listed on each retry but not followed, so they may be stale`
      : '';
  return new BeamscopeError(
    'kubernetes',
    'rbac_forbidden',
    `RBAC forbids ${user} to ${verb} ${resource} (${groupName(group)}) in namespace "${denied.namespace ?? ''}": grant a Role with get, list and watch on ${resource} in ${groupName(group)}${stale}`,
    { ...(options.cause !== undefined ? { cause: options.cause } : {}), exitCode: 4 },
  );
}

/** True for a watch stream cut mid-way (the informer was healthy), as opposed to a failed request. */
export function isConnectionReset(error: unknown): boolean {
  const code = networkCode(error);
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE') return true;
  return error instanceof Error && error.message === 'terminated';
}

/**
 * Turns a client-node failure into one operator-readable line: a 401 says the credentials were
 * rejected, a 403 names the missing RBAC rule (verb, resource, API group, namespace and the user
 * the server saw), a network failure names the server and what went wrong. Never a secret.
 */
export function kubernetesError(
  error: unknown,
  context: RequestContext,
): BeamscopeError<'kubernetes'> {
  if (isBeamscopeError(error, 'kubernetes')) return error;
  const what = `${context.verb} ${context.resource}`;
  const status = httpStatus(error);
  if (status === 401) {
    return new BeamscopeError(
      'kubernetes',
      'unauthorized',
      `the API server rejected beamscope's credentials (401 Unauthorized) at ${context.server} when reading ${context.resource}: check the kubeconfig user or the service account token`,
      { cause: error, exitCode: 4 },
    );
  }
  if (status === 403) {
    const parsed = parseForbiddenMessage(statusMessage(error) ?? '');
    return forbiddenError(
      {
        user: parsed?.user ?? context.user ?? null,
        verb: parsed?.verb ?? context.verb,
        resource: parsed?.resource ?? context.resource,
        group: parsed?.group ?? context.group,
        namespace: parsed?.namespace ?? context.namespace,
      },
      { cause: error },
    );
  }
  if (status !== undefined) {
    const detail = statusMessage(error);
    const kind = status === 404 ? 'not_found' : 'http_error';
    const hint =
      status === 404 && context.group === 'discovery.k8s.io'
        ? ' (EndpointSlices v1 need Kubernetes 1.21 or newer; older clusters: discovery mode endpoints)'
        : '';
    return new BeamscopeError(
      'kubernetes',
      kind,
      `the API server at ${context.server} answered HTTP ${status} to ${what} in namespace "${context.namespace}"${detail ? `: ${detail}` : ''}${hint}`,
      { cause: error, exitCode: 3 },
    );
  }
  const code = networkCode(error);
  if (code && TLS_CODES.test(code)) {
    return new BeamscopeError(
      'kubernetes',
      'tls',
      `TLS verification of the API server at ${context.server} failed (${code}): ${innermostMessage(error)}`,
      { cause: error, exitCode: 3 },
    );
  }
  if (code && NETWORK_REASONS[code]) {
    return new BeamscopeError(
      'kubernetes',
      'unreachable',
      `cannot reach the Kubernetes API server at ${context.server}: ${NETWORK_REASONS[code]}`,
      { cause: error, exitCode: 3 },
    );
  }
  if (code === 'ENOENT' || code === 'EACCES') {
    return new BeamscopeError(
      'kubernetes',
      'credentials_unreadable',
      `cannot read beamscope's Kubernetes credentials: ${innermostMessage(error)}`,
      { cause: error, exitCode: 3 },
    );
  }
  return new BeamscopeError(
    'kubernetes',
    'request_failed',
    `${what} at ${context.server} failed: ${innermostMessage(error)}`,
    { cause: error, exitCode: 3 },
  );
}
