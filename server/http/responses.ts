import 'server-only';

import type { ApiError } from '@/lib/api';
import type { ErrorCode } from '@/lib/codes';

import { BeamscopeError } from '../errors';

/**
 * The HTTP status of every code an error can carry: a code missing here does not compile, so no
 * error answers a silent 500 through a typo. Requests that are wrong answer 4xx; a configuration
 * the server cannot run with answers 503; a failure of the cluster's nodes or its Kubernetes API,
 * reached on the caller's behalf, answers 502 (504 when it timed out).
 */
const STATUS_BY_CODE: Record<ErrorCode, number> = {
  // http
  bad_request: 400,
  cluster_not_found: 404,
  node_not_found: 404,
  event_not_found: 404,
  // The body carries the retained range beside the message.
  outside_retention: 404,
  // The server does not run on the sandbox: there is no such resource here.
  sandbox_unavailable: 404,
  // history: a cursor the client altered is its mistake; a store that is down is the server's
  bad_cursor: 400,
  history_unavailable: 503,
  history_not_writer: 409,
  // auth (answered by the gate before any route; listed so the table is whole)
  auth_required: 401,
  proxy_untrusted: 403,
  rate_limited: 429,
  access_unavailable: 503,
  peer_unknown: 503,
  starting: 503,
  cross_origin: 403,
  sign_in_off: 404,
  // config
  config_invalid: 503,
  config_missing: 503,
  config_unreadable: 503,
  cookie_empty: 503,
  cookie_missing: 503,
  cookie_unreadable: 503,
  access_token_unreadable: 503,
  access_unprotected: 503,
  // erlang
  invalid_lookup_name: 400,
  invalid_node_name: 400,
  timeout: 504,
  // The cookie refused (the gate's wrong token answers 401 itself, with the same code).
  auth_failed: 502,
  epmd_unreachable: 502,
  dist_unreachable: 502,
  node_not_registered: 502,
  node_name_mismatch: 502,
  otp_too_old: 502,
  name_in_use: 502,
  node_down: 502,
  badrpc: 502,
  protocol: 502,
  frame_too_large: 502,
  term_decode: 502,
  term_encode: 500,
  probe_unexpected_reply: 502,
  // kubernetes
  unauthorized: 502,
  rbac_forbidden: 502,
  unreachable: 502,
  tls: 502,
  not_found: 502,
  http_error: 502,
  request_failed: 502,
  sync_timeout: 504,
  credentials_unreadable: 503,
  in_cluster_unavailable: 503,
  kubeconfig_context: 503,
  kubeconfig_invalid: 503,
  kubeconfig_unreadable: 503,
  kubernetes_tls_unverified: 503,
  kubernetes_unconfigured: 503,
  // sandbox (the dashboard's sandbox panel)
  invalid_ip: 400,
  invalid_labels: 400,
  invalid_name: 400,
  invalid_partition: 400,
  invalid_replicas: 400,
  unknown_node: 400,
  pod_not_found: 404,
  pod_exists: 409,
  ip_in_use: 409,
  sandbox_running: 409,
  pod_not_running: 409,
  pods_not_ready: 409,
  rbac_object_not_found: 404,
  sandbox_not_running: 503,
  runtime_not_attached: 503,
  runtime_stopped: 503,
  not_supported: 501,
  netns_unavailable: 501,
  netns_failed: 500,
  control_failed: 502,
  control_timeout: 504,
  pod_command_failed: 502,
  pod_command_timeout: 504,
  pod_exited: 502,
  pod_start_failed: 502,
  pod_start_timeout: 504,
  stop_timeout: 504,
  pod_ip_outside_pod_network: 500,
  demo_app_compile_failed: 500,
  dist_port_in_use: 500,
  listen_failed: 500,
  no_tokens: 500,
  openssl_failed: 500,
  internal: 500,
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
    const body: ApiError = {
      error: { ...error.details, code: error.code, message: error.message },
    };
    return json(body, STATUS_BY_CODE[error.code]);
  }
  console.error('beamscope: unexpected error in a route handler', error);
  const body: ApiError = {
    error: { code: 'internal', message: 'internal error; see the server log' },
  };
  return json(body, 500);
}
