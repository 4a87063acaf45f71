import 'server-only';

import { randomBytes } from 'node:crypto';

import type { AuthCode } from '@/lib/codes';

import type { AccessConfig, ClusterRule } from '../config';
import { describeError } from '../errors';
import { audit } from './audit';
import { AddressSet } from './cidr';
import type { KubernetesAccess, KubernetesSessions } from './kubernetes-access';
import { verifiedPeer } from './peer';
import { OidcAuthority, principalOfSession } from './oidc';
import {
  ANONYMOUS,
  parseGroupsHeader,
  proxyPrincipal,
  TOKEN_HOLDER,
  type Principal,
} from './principal';
import { FailureLimiter } from './rate-limit';
import { SessionSigner } from './session';
import { describeLocation, secretsEqual, TokenSource } from './token';

/** Paths anyone may reach: the kubelet's probe, the sign-in page and its form's target, the icon. */
const OPEN_PATHS = new Set([
  '/api/healthz',
  '/sign-in',
  '/api/session',
  '/api/session/end',
  // OpenID Connect: the start and the provider's redirect back (each checks itself).
  '/api/session/oidc',
  '/api/session/oidc/callback',
  '/icon.svg',
  '/favicon.ico',
]);

/** Whether `pathname` is reachable without access (static build output included). */
export function isOpenPath(pathname: string): boolean {
  return OPEN_PATHS.has(pathname) || pathname.startsWith('/_next/static/');
}

/** A request as the gate needs it: headers, and the session cookie if any. */
export interface GateRequest {
  headers: Headers;
  sessionCookie: string | undefined;
}

/** The gate's answer for one request. */
export type Verdict =
  | { allowed: true; principal: Principal }
  | {
      allowed: false;
      status: 400 | 401 | 403 | 429 | 503;
      code: AuthCode | 'bad_request';
      /** For the operator; never carries a secret. */
      message: string;
      retryAfterSeconds?: number;
    };

/** The outcome of a sign-in attempt. */
export type SignInResult =
  | { ok: true; cookie: string }
  | { ok: false; status: 401 | 429 | 503; message: string; retryAfterSeconds?: number };

/** Seams for tests: clocks, secrets and limits. */
export interface GateOptions {
  env?: Readonly<Record<string, string | undefined>>;
  signer?: SessionSigner;
  limiter?: FailureLimiter;
  peerSecret?: Buffer;
  log?: (line: string) => void;
  /** How long a token read from a file is reused before it is read again (rotation). */
  tokenTtlMs?: number;
  now?: () => number;
  /** Mode kubernetes: the reviews of tokens and rights, and the sessions (see startAccess). */
  kubernetes?: { access: KubernetesAccess; sessions: KubernetesSessions };
}

/**
 * Enforces the configured `access` mode for every request but the open paths. Built once at
 * startup (`server/startup.ts`) and shared through `globalThis`, since Next bundles the proxy,
 * the route handlers and the pages separately.
 */
export class AccessGate {
  readonly mode: AccessConfig['mode'];
  /** The secret behind the peer-address proof (see peer.ts). */
  readonly peerSecret: Buffer;
  private readonly token: TokenSource | undefined;
  private readonly trusted: AddressSet | undefined;
  private readonly identityHeader: string | undefined;
  private readonly groupsHeader: string | undefined;
  private readonly rules: Readonly<Record<string, ClusterRule>>;
  private readonly kubernetes: GateOptions['kubernetes'];
  private readonly signer: SessionSigner;
  private readonly limiter: FailureLimiter;
  private readonly log: (line: string) => void;
  /** The OpenID Connect sign-in and its sessions, in mode oidc. */
  readonly oidc: OidcAuthority | undefined;

  constructor(config: AccessConfig, options: GateOptions = {}) {
    this.mode = config.mode;
    this.peerSecret = options.peerSecret ?? randomBytes(32);
    this.signer = options.signer ?? new SessionSigner();
    this.limiter = options.limiter ?? new FailureLimiter();
    this.log = options.log ?? ((line) => console.warn(line));
    if (config.mode === 'token') {
      this.token = new TokenSource(
        config.tokenFile !== undefined ? { file: config.tokenFile } : { env: config.tokenEnv },
        options.env,
        options.tokenTtlMs,
        options.now,
      );
    }
    if (config.mode === 'proxy') {
      this.trusted = new AddressSet(config.proxy.trustedProxies);
      this.identityHeader = config.proxy.header;
      this.groupsHeader = config.proxy.groupsHeader;
    }
    this.rules = config.clusters ?? {};
    if (config.mode === 'kubernetes') {
      if (!options.kubernetes) throw new Error('mode kubernetes needs its reviews (startAccess)');
      this.kubernetes = options.kubernetes;
    }
    if (config.mode === 'oidc') {
      this.oidc = new OidcAuthority(config.oidc, {
        env: options.env,
        log: this.log,
        now: options.now,
        signer: this.signer,
      });
    }
  }

  /**
   * How often an open event stream asks again whether its user may still see the cluster: the
   * review cache's time in mode kubernetes (where rights change), half a minute otherwise.
   */
  get recheckMs(): number {
    return this.kubernetes?.access.cacheMs ?? 30_000;
  }

  /**
   * Whether this mode signs users in with a session (and so has a sign-in page and a sign-out):
   * token and kubernetes with a token form, oidc at the identity provider.
   */
  get signsIn(): boolean {
    return this.takesToken || this.mode === 'oidc';
  }

  /**
   * Whether this mode takes a token — in the sign-in form or as `Authorization: Bearer` — and so
   * answers a missing one with `WWW-Authenticate: Bearer`. Mode oidc signs in at the provider.
   */
  get takesToken(): boolean {
    return this.mode === 'token' || this.mode === 'kubernetes';
  }

  /**
   * Whether `principal` may see cluster `id`. Mode kubernetes asks RBAC (cached); the others
   * apply `access.clusters`: a cluster without a rule is seen by everyone let in.
   */
  async mayViewCluster(principal: Principal, id: string): Promise<boolean> {
    if (this.kubernetes) return this.kubernetes.access.mayView(principal, id);
    const rule = Object.hasOwn(this.rules, id) ? this.rules[id] : undefined;
    if (!rule) return true;
    return (
      (rule.users ?? []).includes(principal.name) ||
      (rule.groups ?? []).some((group) => principal.groups.includes(group))
    );
  }

  /** Reads the token (or the OIDC client secret) once: a missing one stops the server at startup. */
  async check(): Promise<void> {
    await this.token?.current();
    await this.oidc?.check();
  }

  /** The request's TCP peer address, when the startup hook vouched for it. */
  peer(headers: Headers): string | undefined {
    return verifiedPeer(headers, this.peerSecret);
  }

  private async currentToken(): Promise<string | { failure: Verdict & { allowed: false } }> {
    try {
      return await this.token!.current();
    } catch (error) {
      this.log(`beamscope: access: ${describeError(error)}`);
      return {
        failure: {
          allowed: false,
          status: 503,
          code: 'access_unavailable',
          message: `the access token cannot be read from ${describeLocation(this.token!.location)}; see the server log`,
        },
      };
    }
  }

  /** Whether the request may proceed. Call only for paths that are not open. */
  async authorize(request: GateRequest): Promise<Verdict> {
    if (this.mode === 'none') return { allowed: true, principal: ANONYMOUS };
    if (this.mode === 'proxy') return this.authorizeProxy(request.headers);
    if (this.oidc) {
      const session = this.oidc.session(request.sessionCookie);
      if (session) return { allowed: true, principal: principalOfSession(session) };
      return {
        allowed: false,
        status: 401,
        code: 'auth_required',
        message: 'sign in at /sign-in with your identity provider (access.mode is oidc)',
      };
    }
    if (this.kubernetes) return this.authorizeKubernetes(request);
    const token = await this.currentToken();
    if (typeof token !== 'string') return token.failure;
    if (this.signer.verify(request.sessionCookie, token)) {
      return { allowed: true, principal: TOKEN_HOLDER };
    }
    const bearer = bearerOf(request.headers);
    if (bearer === undefined) return signInRequired('the access token', this.mode);
    // A wrong Bearer token counts against the client like a wrong sign-in.
    const client = this.peer(request.headers) ?? 'unknown';
    const limited = this.limiter.check(client);
    if (!limited.allowed) return this.rateLimited(client, limited.retryAfterSeconds);
    if (secretsEqual(bearer, token)) return { allowed: true, principal: TOKEN_HOLDER };
    this.recordFailure(client, 'a wrong Bearer token');
    return {
      allowed: false,
      status: 401,
      code: 'auth_failed',
      message: 'the Bearer token is not the access token',
    };
  }

  /** Mode kubernetes: a session made at sign-in, or a Bearer token reviewed now (cached). */
  private async authorizeKubernetes(request: GateRequest): Promise<Verdict> {
    const { sessions } = this.kubernetes!;
    const sessionToken = sessions.token(request.sessionCookie);
    const bearer = sessionToken === undefined ? bearerOf(request.headers) : undefined;
    const token = sessionToken ?? bearer;
    if (token === undefined) return signInRequired('a Kubernetes token', this.mode);
    const client = this.peer(request.headers) ?? 'unknown';
    if (bearer !== undefined) {
      const limited = this.limiter.check(client);
      if (!limited.allowed) return this.rateLimited(client, limited.retryAfterSeconds);
    }
    const reviewed = await this.reviewToken(token);
    if ('failure' in reviewed) return reviewed.failure;
    if (reviewed.principal) return { allowed: true, principal: reviewed.principal };
    if (sessionToken !== undefined) {
      // The token no longer authenticates (its service account or secret is gone): so is the session.
      sessions.end(request.sessionCookie);
      audit({
        who: 'unknown',
        action: 'request',
        outcome: 'refused',
        from: client,
        reason: 'the session token no longer authenticates',
      });
      return signInRequired('a Kubernetes token', this.mode);
    }
    this.recordFailure(client, 'a Bearer token no cluster accepts');
    return {
      allowed: false,
      status: 401,
      code: 'auth_failed',
      message: "no cluster's API server accepts the Bearer token",
    };
  }

  /** A TokenReview through the cache: the principal, none, or why the API servers cannot say. */
  private async reviewToken(
    token: string,
  ): Promise<{ principal?: Principal } | { failure: Verdict & { allowed: false } }> {
    try {
      return {
        principal: this.kubernetes!.access.principal(await this.kubernetes!.access.identify(token)),
      };
    } catch (error) {
      // KubernetesAccess logged the reason (once per change); the message names no token.
      return {
        failure: {
          allowed: false,
          status: 503,
          code: 'access_unavailable',
          message: `the token cannot be checked now: ${describeError(error)}`,
        },
      };
    }
  }

  private authorizeProxy(headers: Headers): Verdict {
    const peer = this.peer(headers);
    if (peer === undefined) {
      return {
        allowed: false,
        status: 503,
        code: 'peer_unknown',
        message:
          'the connection address is unknown (the request arrived before the server finished starting); retry',
      };
    }
    if (!this.trusted!.has(peer)) {
      audit({
        who: 'unknown',
        action: 'request',
        outcome: 'refused',
        from: peer,
        reason: 'not a trusted proxy',
      });
      return {
        allowed: false,
        status: 403,
        code: 'proxy_untrusted',
        message: `requests must come through the authenticating proxy; ${peer} is not in access.proxy.trustedProxies`,
      };
    }
    const identity = headers.get(this.identityHeader!)?.trim();
    if (!identity || identity.length > 256) {
      return {
        allowed: false,
        status: 401,
        code: 'auth_required',
        message: `the authenticating proxy sent no ${this.identityHeader} header; sign in through the proxy`,
      };
    }
    const groups = this.groupsHeader ? parseGroupsHeader(headers.get(this.groupsHeader)) : [];
    return { allowed: true, principal: proxyPrincipal(identity, groups) };
  }

  private rateLimited(client: string, retryAfterSeconds: number): Verdict & { allowed: false } {
    this.log(
      `beamscope: access: sign-in attempts from ${client} refused for ${retryAfterSeconds} s (too many failures)`,
    );
    return {
      allowed: false,
      status: 429,
      code: 'rate_limited',
      message: `too many failed sign-ins from this address; retry in ${retryAfterSeconds} s`,
      retryAfterSeconds,
    };
  }

  private recordFailure(
    client: string,
    what: string,
    action: 'sign-in' | 'request' = 'request',
  ): void {
    const failures = this.limiter.fail(client);
    // The submitted value is never logged, not even in part.
    this.log(`beamscope: access: ${what} from ${client} (failure ${failures} in this window)`);
    audit({ who: 'unknown', action, outcome: 'refused', from: client, reason: what });
  }

  /** Checks a submitted token for `client` and, when right, issues a session cookie value. */
  async signIn(submitted: string, client: string): Promise<SignInResult> {
    if (!this.takesToken) {
      return {
        ok: false,
        status: 401,
        message: `sign-in with a token applies to access.mode token or kubernetes (mode is ${this.mode})`,
      };
    }
    const limited = this.limiter.check(client);
    if (!limited.allowed) {
      const verdict = this.rateLimited(client, limited.retryAfterSeconds);
      audit({ who: 'unknown', action: 'sign-in', outcome: 'limited', from: client });
      return {
        ok: false,
        status: 429,
        message: verdict.message,
        retryAfterSeconds: limited.retryAfterSeconds,
      };
    }
    if (this.kubernetes) return this.signInKubernetes(submitted, client);
    const token = await this.currentToken();
    if (typeof token !== 'string')
      return { ok: false, status: 503, message: token.failure.message };
    if (!submitted || !secretsEqual(submitted, token)) {
      this.recordFailure(client, 'a failed sign-in', 'sign-in');
      return { ok: false, status: 401, message: 'that is not the access token' };
    }
    this.limiter.succeed(client);
    this.log(`beamscope: access: signed in from ${client}`);
    audit({ who: TOKEN_HOLDER.subject, action: 'sign-in', outcome: 'allowed', from: client });
    return { ok: true, cookie: this.signer.issue(token) };
  }

  private async signInKubernetes(submitted: string, client: string): Promise<SignInResult> {
    if (!submitted) {
      this.recordFailure(client, 'a failed sign-in', 'sign-in');
      return { ok: false, status: 401, message: "no cluster's API server accepts that token" };
    }
    const reviewed = await this.reviewToken(submitted);
    if ('failure' in reviewed) {
      audit({
        who: 'unknown',
        action: 'sign-in',
        outcome: 'failed',
        from: client,
        reason: 'the API servers cannot review tokens now',
      });
      return { ok: false, status: 503, message: reviewed.failure.message };
    }
    if (!reviewed.principal) {
      this.recordFailure(client, 'a failed sign-in', 'sign-in');
      return { ok: false, status: 401, message: "no cluster's API server accepts that token" };
    }
    this.limiter.succeed(client);
    audit({ who: reviewed.principal.subject, action: 'sign-in', outcome: 'allowed', from: client });
    return { ok: true, cookie: this.kubernetes!.sessions.issue(submitted) };
  }

  /**
   * Ends the session `cookie` holds (signing out): it is refused from now on, even if a copy
   * of the cookie is kept. Writes the audit line; harmless without a session.
   */
  async signOut(cookie: string | undefined, client: string): Promise<void> {
    let who: string | undefined;
    if (this.kubernetes) {
      const token = this.kubernetes.sessions.token(cookie);
      if (token !== undefined) {
        const reviewed = await this.reviewToken(token);
        who = 'principal' in reviewed ? (reviewed.principal?.subject ?? 'unknown') : 'unknown';
        this.kubernetes.sessions.end(cookie);
      }
    } else if (this.oidc) {
      who = this.oidc.endSession(cookie)?.subject;
    } else if (this.mode === 'token') {
      const token = await this.currentToken();
      if (typeof token === 'string' && this.signer.revoke(cookie, token))
        who = TOKEN_HOLDER.subject;
    }
    if (who !== undefined) audit({ who, action: 'sign-out', outcome: 'allowed', from: client });
  }
}

/** The Bearer token of an `Authorization` header, if it holds one. */
function bearerOf(headers: Headers): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(headers.get('authorization') ?? '')?.[1];
}

function signInRequired(what: string, mode: string): Verdict & { allowed: false } {
  return {
    allowed: false,
    status: 401,
    code: 'auth_required',
    message: `sign in at /sign-in, or send ${what} as Authorization: Bearer <token> (access.mode is ${mode})`,
  };
}

const GATE = Symbol.for('beamscope.accessGate');

/** Publishes the process's gate for the proxy, the routes and the pages. */
export function setAccessGate(gate: AccessGate): void {
  (globalThis as { [GATE]?: AccessGate })[GATE] = gate;
}

/** The process's gate; undefined until startup built it (callers then fail closed). */
export function getAccessGate(): AccessGate | undefined {
  return (globalThis as { [GATE]?: AccessGate })[GATE];
}
