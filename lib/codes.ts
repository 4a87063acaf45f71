/**
 * Every error code beamscope raises, as closed unions per surface. Codes, not prose, carry
 * meaning: HTTP statuses, CLI exit codes, the dashboard's verdicts and the doctor's fixes are all
 * derived from a code (see `lib/diagnosis.ts` and `server/http/responses.ts`), never from the
 * wording of a message, and a code that is not listed here does not compile. Shared with the
 * browser, which receives codes on the wire. Plain types only.
 */

/** The distribution client: EPMD, the handshake, the connection, remote calls. */
export type ErlangCode =
  /** The node rejected our cookie. */
  | 'auth_failed'
  /** Nothing answered on EPMD's port at the node's host. */
  | 'epmd_unreachable'
  /** Nothing answered on the node's distribution port. */
  | 'dist_unreachable'
  /** EPMD answered but knows no node of that name. */
  | 'node_not_registered'
  /** A node answered at the address, under another name than expected. */
  | 'node_name_mismatch'
  /** The node speaks the handshake of OTP 22 or older; beamscope needs 23 or newer. */
  | 'otp_too_old'
  /** The node already holds a connection from our name that belongs to another process. */
  | 'name_in_use'
  | 'timeout'
  /** An established connection went away. */
  | 'node_down'
  /** The remote call ran and failed (`{badrpc, Reason}`). */
  | 'badrpc'
  /** The peer broke the protocol. */
  | 'protocol'
  | 'frame_too_large'
  | 'invalid_node_name'
  | 'invalid_lookup_name'
  /** Bytes that are not a valid Erlang term (a broken or hostile peer). */
  | 'term_decode'
  /** A value that cannot be sent as a term. */
  | 'term_encode'
  /** A probe's reply had a shape the catalogue does not expect (another release's layout). */
  | 'probe_unexpected_reply';

/** The state of beamscope's connection to one node: a failure, or never connected. */
export type BeamConnectionCode = ErlangCode | 'not_connected';

/** The Kubernetes side: credentials, the API server, RBAC. */
export type KubernetesCode =
  | 'unauthorized'
  | 'rbac_forbidden'
  | 'unreachable'
  | 'tls'
  /** HTTP 404: the resource kind does not exist on this API server. */
  | 'not_found'
  /** Any other HTTP error status. */
  | 'http_error'
  | 'request_failed'
  | 'sync_timeout'
  | 'credentials_unreadable'
  | 'in_cluster_unavailable'
  | 'kubeconfig_context'
  | 'kubeconfig_invalid'
  | 'kubeconfig_unreadable'
  | 'kubernetes_tls_unverified'
  | 'kubernetes_unconfigured';

/** Loading the configuration file, the cookie and the access section. */
export type ConfigCode =
  | 'config_invalid'
  | 'config_missing'
  | 'config_unreadable'
  | 'cookie_empty'
  | 'cookie_missing'
  | 'cookie_unreadable'
  | 'access_token_unreadable'
  | 'access_unprotected';

/** Why a cluster has no distribution side at all (its cookie cannot be read). */
export type DistributionCode = ConfigCode | 'distribution_unavailable';

/** The HTTP API's own refusals. */
export type HttpCode =
  | 'bad_request'
  | 'cluster_not_found'
  | 'node_not_found'
  /** A timeline event whose full lists the server no longer holds (or never did). */
  | 'event_not_found'
  | 'sandbox_unavailable'
  /** A moment the cluster's history does not hold (before retention, or not yet recorded). */
  | 'outside_retention';

/** The history store: the recorded past of a cluster (server/history). */
export type HistoryCode =
  /** A timeline cursor that no page of this store handed out (altered, truncated, another kind). */
  | 'bad_cursor'
  /** The store cannot be reached or used now (a database down, a data folder not writable). */
  | 'history_unavailable'
  /** Another replica took over recording the cluster: this one's batch is not written. */
  | 'history_not_writer';

/** The dashboard's access gate and sign-in. */
export type AuthCode =
  | 'auth_required'
  /** A wrong token (as `auth_failed` of the distribution is a wrong cookie). */
  | 'auth_failed'
  | 'proxy_untrusted'
  /** The request's connection address is not known yet (the server is starting). */
  | 'peer_unknown'
  | 'rate_limited'
  | 'access_unavailable'
  | 'starting'
  | 'cross_origin'
  /** A sign-in route of another access mode (e.g. the OpenID Connect callback in token mode). */
  | 'sign_in_off';

/**
 * The local sandbox: the emulated API's controls and the BEAM pods. A list as well as a type: the
 * sandbox's control client turns a code read from a reply back into one.
 */
export const SANDBOX_CODES = [
  'bad_request',
  'control_failed',
  'control_timeout',
  'demo_app_compile_failed',
  'dist_port_in_use',
  'invalid_ip',
  'invalid_labels',
  'invalid_name',
  'invalid_partition',
  'invalid_replicas',
  'ip_in_use',
  'listen_failed',
  'no_tokens',
  'netns_failed',
  'netns_unavailable',
  'not_supported',
  'openssl_failed',
  'pod_command_failed',
  'pod_command_timeout',
  'pod_exists',
  'pod_exited',
  'pod_ip_outside_pod_network',
  'pod_not_found',
  'pod_not_running',
  'pod_start_failed',
  'pod_start_timeout',
  'pods_not_ready',
  'rbac_object_not_found',
  'runtime_not_attached',
  'runtime_stopped',
  'sandbox_not_running',
  'sandbox_running',
  'stop_timeout',
  'unknown_node',
] as const;

export type SandboxCode = (typeof SANDBOX_CODES)[number];

/** Each surface's codes; a `BeamscopeError` of a surface can only carry one of them. */
export interface CodesBySurface {
  erlang: ErlangCode;
  kubernetes: KubernetesCode;
  config: ConfigCode;
  http: HttpCode;
  auth: AuthCode;
  sandbox: SandboxCode;
  history: HistoryCode;
  internal: 'internal';
}

/** The part of beamscope an error belongs to. */
export type ErrorSurface = keyof CodesBySurface;

/** Any code of any surface: what an API error body and the HTTP status table are keyed by. */
export type ErrorCode = CodesBySurface[ErrorSurface];
