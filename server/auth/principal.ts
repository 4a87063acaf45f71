import 'server-only';

/**
 * Who a request acts for, as the authorization layer needs it: a subject for audit lines
 * (`oidc:<email or sub>`; never a token) and the groups the per-cluster rules are written for.
 */
export interface Principal {
  readonly subject: string;
  readonly groups: readonly string[];
}
