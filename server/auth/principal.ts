import 'server-only';

/**
 * Who a request is, once the gate has let it in: the same shape in every access mode, so one
 * authorisation (`clusters.ts`) and one audit log (`audit.ts`) serve them all. Never holds a
 * token: a principal is safe to log, to cache and to hand to any part of the server.
 */
export interface Principal {
  /**
   * Who, as audit lines name them: `anonymous` (mode none, loopback only), `token` (the shared
   * access token), `proxy:<user>`, `kubernetes:<username>`, `oidc:<sub or email>`.
   */
  readonly subject: string;
  /** The user's name as the identity source gives it (matched by `access.clusters.*.users`). */
  readonly name: string;
  /** The user's groups (matched by `access.clusters.*.groups`); empty when the mode has none. */
  readonly groups: readonly string[];
  /**
   * Mode kubernetes: the user as each cluster's API server authenticated the token, keyed by
   * that API's address (a token one cluster's API does not know sees none of its clusters).
   */
  readonly kubernetes?: ReadonlyMap<string, KubernetesUser>;
}

/** A user as a TokenReview's `status.user` describes it, and a SubjectAccessReview asks about. */
export interface KubernetesUser {
  readonly username: string;
  readonly uid?: string;
  readonly groups: readonly string[];
  readonly extra?: Readonly<Record<string, readonly string[]>>;
}

/** The one user of mode none (the server listens on loopback only). */
export const ANONYMOUS: Principal = { subject: 'anonymous', name: 'anonymous', groups: [] };

/** Whoever holds the shared access token of mode token: one identity for all of them. */
export const TOKEN_HOLDER: Principal = { subject: 'token', name: 'token', groups: [] };

/** A user named by the authenticating proxy's headers. */
export function proxyPrincipal(name: string, groups: readonly string[]): Principal {
  return { subject: `proxy:${name}`, name, groups };
}

/** Splits a groups header (`a, b,c`) into its names, empty entries dropped. */
export function parseGroupsHeader(value: string | null): string[] {
  if (!value) return [];
  return [
    ...new Set(
      value
        .split(',')
        .map((group) => group.trim())
        .filter(Boolean),
    ),
  ].slice(0, 256);
}
