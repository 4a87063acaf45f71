import 'server-only';

import { randomBytes } from 'node:crypto';

import type { AuthCode } from '@/lib/codes';

import type { AccessConfig } from '../config';
import { describeError } from '../errors';
import { AddressSet } from './cidr';
import { verifiedPeer } from './peer';
import { OidcAuthority } from './oidc';
import { FailureLimiter } from './rate-limit';
import { SessionSigner } from './session';
import { describeLocation, secretsEqual, TokenSource } from './token';

/** Paths anyone may reach: the kubelet's probe, the sign-in page and its form's target, the icon. */
const OPEN_PATHS = new Set([
  '/api/healthz',
  '/sign-in',
  '/api/session',
  // OpenID Connect: the start, the provider's redirect back, and sign-out (each checks itself).
  '/api/session/oidc',
  '/api/session/oidc/callback',
  '/api/session/oidc/sign-out',
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
  | { allowed: true; identity?: string }
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
  /** Where audit lines go (sign-ins, refusals, sign-outs); default: the log. */
  audit?: (line: string) => void;
  /** How long a token read from a file is reused before it is read again (rotation). */
  tokenTtlMs?: number;
  now?: () => number;
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
    }
    if (config.mode === 'oidc') {
      this.oidc = new OidcAuthority(config.oidc, {
        env: options.env,
        log: this.log,
        audit: options.audit ?? this.log,
        now: options.now,
        signer: this.signer,
      });
    }
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
    if (this.mode === 'none') return { allowed: true };
    if (this.mode === 'proxy') return this.authorizeProxy(request.headers);
    if (this.oidc) {
      const session = this.oidc.session(request.sessionCookie);
      if (session) return { allowed: true, identity: session.subject };
      return {
        allowed: false,
        status: 401,
        code: 'auth_required',
        message: 'sign in at /sign-in with your identity provider (access.mode is oidc)',
      };
    }
    const token = await this.currentToken();
    if (typeof token !== 'string') return token.failure;
    if (this.signer.verify(request.sessionCookie, token)) return { allowed: true };
    const authorization = request.headers.get('authorization');
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1];
    if (bearer === undefined) {
      return {
        allowed: false,
        status: 401,
        code: 'auth_required',
        message:
          'sign in at /sign-in, or send the access token as Authorization: Bearer <token> (access.mode is token)',
      };
    }
    // A wrong Bearer token counts against the client like a wrong sign-in.
    const client = this.peer(request.headers) ?? 'unknown';
    const limited = this.limiter.check(client);
    if (!limited.allowed) return this.rateLimited(client, limited.retryAfterSeconds);
    if (secretsEqual(bearer, token)) return { allowed: true };
    this.recordFailure(client, 'a wrong Bearer token');
    return {
      allowed: false,
      status: 401,
      code: 'auth_failed',
      message: 'the Bearer token is not the access token',
    };
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
      return {
        allowed: false,
        status: 403,
        code: 'proxy_untrusted',
        message: `requests must come through the authenticating proxy; ${peer} is not in access.proxy.trustedProxies`,
      };
    }
    const identity = headers.get(this.identityHeader!)?.trim();
    if (!identity) {
      return {
        allowed: false,
        status: 401,
        code: 'auth_required',
        message: `the authenticating proxy sent no ${this.identityHeader} header; sign in through the proxy`,
      };
    }
    return { allowed: true, identity };
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

  private recordFailure(client: string, what: string): void {
    const failures = this.limiter.fail(client);
    // The submitted value is never logged, not even in part.
    this.log(`beamscope: access: ${what} from ${client} (failure ${failures} in this window)`);
  }

  /** Checks a submitted token for `client` and, when right, issues a session cookie value. */
  async signIn(submitted: string, client: string): Promise<SignInResult> {
    if (this.mode !== 'token') {
      return {
        ok: false,
        status: 401,
        message: `sign-in applies to access.mode token (mode is ${this.mode})`,
      };
    }
    const limited = this.limiter.check(client);
    if (!limited.allowed) {
      const verdict = this.rateLimited(client, limited.retryAfterSeconds);
      return {
        ok: false,
        status: 429,
        message: verdict.message,
        retryAfterSeconds: limited.retryAfterSeconds,
      };
    }
    const token = await this.currentToken();
    if (typeof token !== 'string')
      return { ok: false, status: 503, message: token.failure.message };
    if (!submitted || !secretsEqual(submitted, token)) {
      this.recordFailure(client, 'a failed sign-in');
      return { ok: false, status: 401, message: 'that is not the access token' };
    }
    this.limiter.succeed(client);
    this.log(`beamscope: access: signed in from ${client}`);
    return { ok: true, cookie: this.signer.issue(token) };
  }
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
