import 'server-only';

import { readFile } from 'node:fs/promises';

import * as openid from 'openid-client';

import type { OidcAccessConfig } from '../config';
import { OIDC_CALLBACK_PATH } from '../config/schema';
import { groupsFrom, principalFromClaims, printable, type GroupsReading } from './oidc-claims';
import { OidcSessions, OidcTransactions, type OidcSession } from './oidc-sessions';
import type { Principal } from './principal';
import { audit } from './audit';
import { SessionSigner, SIGNED_OUT_PAGE } from './session';

/** How long one request to the provider may take, in seconds (openid-client's unit). */
const PROVIDER_TIMEOUT_S = 10;
/** After a failed discovery, how long sign-ins reuse the failure before asking again. */
const DISCOVERY_RETRY_MS = 5000;

/** Seams for tests: the environment, the log, the clock, the session signer (audit lines: audit.ts). */
export interface OidcOptions {
  env?: Readonly<Record<string, string | undefined>>;
  /** Operational lines (the provider unreachable, a claim of the wrong shape). */
  log?: (line: string) => void;
  now?: () => number;
  signer?: SessionSigner;
}

/** The outcome of the callback. */
export type OidcFinish =
  | { ok: true; cookie: string; next: string; principal: Principal }
  | { ok: false; next: string; error: 'oidc_denied' | 'oidc_failed' | 'oidc_unavailable' };

/** Where the client secret lives, named for messages; never its value. */
function describeSecretLocation(config: OidcAccessConfig): string {
  return config.clientSecretFile !== undefined
    ? `the OIDC client secret file ${config.clientSecretFile} (access.oidc.clientSecretFile)`
    : `the environment variable ${config.clientSecretEnv} (access.oidc.clientSecretEnv)`;
}

/**
 * What went wrong, for the log: openid-client's message and code, and the provider's OAuth error
 * if it sent one. Neither carries a token (their `cause` may hold a response body: not printed).
 */
export function describeOidcError(error: unknown): string {
  if (!(error instanceof Error)) return printable(String(error));
  const coded = error as Error & { code?: unknown; error?: unknown; error_description?: unknown };
  let text = error.message || error.name;
  if (typeof coded.code === 'string') text += ` (${coded.code})`;
  // openid-client wraps what failed (a bad signature, an expired token) as the cause: its
  // message says which check it was. Only the message: the cause's fields may hold the token.
  if (
    error.cause instanceof Error &&
    error.cause.message &&
    error.cause.message !== error.message
  ) {
    text += `: ${error.cause.message}`;
  }
  if (typeof coded.error === 'string') {
    text += `: the provider answered ${coded.error}`;
    if (typeof coded.error_description === 'string') text += ` (${coded.error_description})`;
  }
  return text.replace(/[\p{Cc}\u2028\u2029]+/gu, ' ').slice(0, 300);
}

/**
 * `access.mode: oidc`: the authorization-code flow with PKCE at an OpenID provider found by
 * discovery. openid-client checks the answer (state, PKCE, the `iss` parameter) and the ID token
 * (signature against the provider's JWKS, issuer, audience, expiry, nonce); this class keeps the
 * sign-ins under way, the sessions, and who each one is: `{ subject, groups }`.
 */
export class OidcAuthority {
  private readonly sessions: OidcSessions;
  private readonly transactions: OidcTransactions;
  private readonly env: Readonly<Record<string, string | undefined>>;
  private readonly log: (line: string) => void;
  private readonly now: () => number;
  /** Plain HTTP to the provider: accepted only for a loopback issuer (the schema checks that). */
  private readonly insecure: boolean;
  private server: openid.ServerMetadata | undefined;
  private discovering: Promise<openid.ServerMetadata> | undefined;
  private failure: { at: number; error: Error; text: string } | undefined;
  /** The provider's signing keys, kept between sign-ins (openid-client refetches on a new kid). */
  private jwks: ReturnType<typeof openid.getJwksCache>;

  constructor(
    readonly config: OidcAccessConfig,
    options: OidcOptions = {},
  ) {
    this.env = options.env ?? process.env;
    this.log = options.log ?? ((line) => console.warn(line));
    this.now = options.now ?? Date.now;
    this.sessions = new OidcSessions(options.signer, this.now);
    this.transactions = new OidcTransactions(this.now);
    this.insecure = new URL(config.issuer).protocol === 'http:';
  }

  /**
   * At startup: the client secret must be readable (else the server stops with one line naming
   * where it looked). The provider is asked for its metadata, but one that is down does not stop
   * the server: sign-in says it is unavailable, and asks again.
   */
  async check(): Promise<void> {
    await this.clientSecret();
    await this.discover().catch(() => undefined);
  }

  /** The client secret, read at each use so a rotated Secret takes effect. Never logged. */
  private async clientSecret(): Promise<string> {
    const where = describeSecretLocation(this.config);
    let raw: string | undefined;
    if (this.config.clientSecretFile !== undefined) {
      try {
        raw = await readFile(/* turbopackIgnore: true */ this.config.clientSecretFile, 'utf8');
      } catch (error) {
        const code = (error as NodeJS.ErrnoException | undefined)?.code ?? 'unreadable';
        throw new Error(`cannot read ${where}: ${code}`);
      }
    } else {
      raw = this.env[this.config.clientSecretEnv!];
    }
    const secret = raw?.trim() ?? '';
    if (!secret) throw new Error(`${where} is missing or empty`);
    return secret;
  }

  /** The provider's metadata, found once by discovery; a failure is reused for a few seconds. */
  private discover(): Promise<openid.ServerMetadata> {
    if (this.server) return Promise.resolve(this.server);
    if (this.failure && this.now() - this.failure.at < DISCOVERY_RETRY_MS) {
      return Promise.reject(this.failure.error);
    }
    this.discovering ??= openid
      .discovery(new URL(this.config.issuer), this.config.clientId, undefined, openid.None(), {
        execute: this.insecure ? [openid.allowInsecureRequests] : [],
        timeout: PROVIDER_TIMEOUT_S,
      })
      .then((configuration) => {
        this.server = { ...configuration.serverMetadata() };
        this.failure = undefined;
        this.log(`beamscope: access: oidc: the provider at ${this.config.issuer} answered`);
        return this.server;
      })
      .catch((error: unknown) => {
        const text = describeOidcError(error);
        // Once per change, not once per attempt.
        if (text !== this.failure?.text) {
          this.log(
            `beamscope: access: oidc: discovery at ${this.config.issuer} failed: ${text}; sign-in is unavailable until it answers`,
          );
        }
        const failure = error instanceof Error ? error : new Error(text);
        this.failure = { at: this.now(), error: failure, text };
        throw failure;
      })
      .finally(() => {
        this.discovering = undefined;
      });
    return this.discovering;
  }

  /** A client configuration for one exchange, with the secret when it is to be sent. */
  private async configuration(withSecret: boolean): Promise<openid.Configuration> {
    const server = await this.discover();
    const authentication = withSecret
      ? openid.ClientSecretBasic(await this.clientSecret())
      : openid.None();
    const configuration = new openid.Configuration(
      server,
      this.config.clientId,
      undefined,
      authentication,
    );
    if (this.insecure) openid.allowInsecureRequests(configuration);
    // The ID token's signature is checked against the provider's published keys even though it
    // comes straight from the token endpoint (where OIDC lets TLS stand in for it): a TLS-
    // intercepting egress proxy, or plain HTTP on loopback, must not be able to forge a user.
    openid.enableNonRepudiationChecks(configuration);
    if (this.jwks) openid.setJwksCache(configuration, this.jwks);
    configuration.timeout = PROVIDER_TIMEOUT_S;
    return configuration;
  }

  /** The callback URL: the configured one, or this server's origin as the request reached it. */
  private redirectUri(origin: string): string {
    return this.config.redirectUrl ?? new URL(OIDC_CALLBACK_PATH, origin).href;
  }

  /**
   * Starts a sign-in: a fresh state, nonce and PKCE verifier kept under a handle for the
   * browser's transaction cookie, and the provider's authorization URL to send the browser to.
   */
  async begin(next: string, origin: string): Promise<{ location: string; handle: string }> {
    const configuration = await this.configuration(false);
    const codeVerifier = openid.randomPKCECodeVerifier();
    const state = openid.randomState();
    const nonce = openid.randomNonce();
    const redirectUri = this.redirectUri(origin);
    const handle = this.transactions.begin({ state, nonce, codeVerifier, redirectUri, next });
    const url = openid.buildAuthorizationUrl(configuration, {
      redirect_uri: redirectUri,
      scope: this.config.scopes.join(' '),
      response_type: 'code',
      code_challenge: await openid.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    return { location: url.href, handle };
  }

  /**
   * Finishes a sign-in at the callback: the transaction this browser started (once), the code
   * exchanged with the PKCE verifier, the ID token verified, the groups read from the claim (the
   * ID token's, else the userinfo answer's), and a session started. Every outcome is audited.
   */
  async finish(search: URLSearchParams, handle: string | undefined, from: string) {
    const transaction = this.transactions.take(handle);
    if (!transaction) {
      audit({
        who: 'unknown',
        action: 'sign-in',
        outcome: 'refused',
        from,
        reason:
          'no OIDC sign-in under way in this browser (none started, already used, or older than 10 minutes)',
      });
      return { ok: false, next: '/', error: 'oidc_failed' } satisfies OidcFinish;
    }
    const { next } = transaction;
    let configuration: openid.Configuration;
    try {
      configuration = await this.configuration(true);
    } catch (error) {
      audit({
        who: 'unknown',
        action: 'sign-in',
        outcome: 'failed',
        from,
        reason: `the provider or the client secret is unavailable: ${describeOidcError(error)}`,
      });
      return { ok: false, next, error: 'oidc_unavailable' } satisfies OidcFinish;
    }
    try {
      const answer = new URL(transaction.redirectUri);
      answer.search = search.toString();
      const tokens = await openid.authorizationCodeGrant(configuration, answer, {
        pkceCodeVerifier: transaction.codeVerifier,
        expectedState: transaction.state,
        expectedNonce: transaction.nonce,
        idTokenExpected: true,
      });
      this.jwks = openid.getJwksCache(configuration) ?? this.jwks;
      const claims = tokens.claims()!;
      let reading: GroupsReading | undefined = groupsFrom(claims, this.config.groupsClaim);
      let known: Record<string, unknown> = claims;
      if (reading === undefined && configuration.serverMetadata().userinfo_endpoint) {
        const info = await openid.fetchUserInfo(configuration, tokens.access_token, claims.sub);
        reading = groupsFrom(info, this.config.groupsClaim);
        known = { ...info, ...claims };
      }
      const principal = principalFromClaims(known, reading?.groups ?? []);
      const problem =
        reading === undefined
          ? `neither the ID token nor the userinfo answer has the claim ${this.config.groupsClaim}; the user is given no group (does the provider need a scope for it, e.g. scopes: [openid, email, groups]?)`
          : reading.problem;
      if (problem) this.log(`beamscope: access: oidc: ${principal.subject}: ${problem}`);
      const cookie = this.startSession(principal);
      audit({
        who: principal.subject,
        action: 'sign-in',
        outcome: 'allowed',
        from,
        groups: principal.groups,
      });
      return { ok: true, cookie, next, principal } satisfies OidcFinish;
    } catch (error) {
      const denied =
        error instanceof openid.AuthorizationResponseError && error.error === 'access_denied';
      audit({
        who: 'unknown',
        action: 'sign-in',
        outcome: 'refused',
        from,
        reason: describeOidcError(error),
      });
      return {
        ok: false,
        next,
        error: denied ? 'oidc_denied' : 'oidc_failed',
      } satisfies OidcFinish;
    }
  }

  /**
   * Starts a session for a user the provider vouched for (the callback, after every check);
   * returns the session cookie's value.
   */
  startSession(principal: Principal): string {
    return this.sessions.create(principal);
  }

  /** The live session the cookie names, if any. */
  session(cookie: string | undefined): OidcSession | undefined {
    return this.sessions.get(cookie);
  }

  /**
   * Ends the session the cookie names, at once: the cookie stops working. Returns it if it was
   * live (the gate writes the audit line).
   */
  endSession(cookie: string | undefined): OidcSession | undefined {
    return this.sessions.end(cookie);
  }

  /**
   * Where to send a browser that signed out: the provider's end-session endpoint when it has
   * one (RP-initiated logout, back to the sign-in page after), else undefined (this site's
   * sign-in page).
   */
  async signOutLocation(origin: string): Promise<string | undefined> {
    const signedOut = new URL(SIGNED_OUT_PAGE, this.config.redirectUrl ?? origin).href;
    try {
      const configuration = await this.configuration(false);
      if (!configuration.serverMetadata().end_session_endpoint) return undefined;
      // client_id (added by openid-client) rather than id_token_hint: the ID token would
      // otherwise travel in a URL through the browser, and it never leaves the server.
      return openid.buildEndSessionUrl(configuration, { post_logout_redirect_uri: signedOut }).href;
    } catch {
      // The provider is unreachable: beamscope's own session has ended all the same.
      return undefined;
    }
  }
}

/** `{ subject, groups }` of a verified OIDC session, for the authorization layer. */
export function principalOfSession(session: OidcSession): Principal {
  return { subject: session.subject, name: session.name, groups: session.groups };
}
