import 'server-only';

import type { ApiError } from '@/lib/api';

import { BeamscopeError } from '../errors';

const STATUS_BY_CODE: Record<string, number> = {
  cluster_not_found: 404,
  node_not_found: 404,
  // The server does not run on the sandbox: there is no such resource here.
  sandbox_unavailable: 404,
  bad_request: 400,
  config_invalid: 503,
};

/** A JSON response that is never cached: everything the API serves is live state. */
export function json(body: unknown, status = 200): Response {
  return Response.json(body, { status, headers: { 'cache-control': 'no-store' } });
}

/**
 * Turns any failure into the API's error body. An operator-facing BeamscopeError keeps its
 * message (written never to carry a secret); anything else is logged and answered generically.
 */
export function errorResponse(error: unknown): Response {
  if (error instanceof BeamscopeError) {
    const body: ApiError = { error: { code: error.code, message: error.message } };
    return json(body, STATUS_BY_CODE[error.code] ?? 500);
  }
  console.error('beamscope: unexpected error in a route handler', error);
  const body: ApiError = {
    error: { code: 'internal', message: 'internal error; see the server log' },
  };
  return json(body, 500);
}
