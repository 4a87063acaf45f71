import 'server-only';

import { randomBytes } from 'node:crypto';

import type { Principal } from './principal';
import { SESSION_TTL_MS, SessionSigner } from './session';

/** The cookie that ties a sign-in at the provider to the browser that started it. */
export const OIDC_TRANSACTION_COOKIE = '__Host-beamscope-oidc';
/** How long a sign-in at the provider may take. */
export const OIDC_TRANSACTION_TTL_MS = 10 * 60 * 1000;

/** What the HMAC key of OIDC session cookies is derived from, beside the server's secret. */
const SIGNING_CONTEXT = 'oidc';

/** A signed-in user, as the server keeps it: who, not the tokens (they are not kept at all). */
export interface OidcSession {
  readonly subject: string;
  readonly name: string;
  readonly groups: readonly string[];
  readonly expiresAt: number;
}

/**
 * The OIDC sessions of this process. The cookie is the signed `v1.<id>.<expiry>.<mac>` of token
 * mode (session.ts); the id points at the session kept here, so signing out deletes it and the
 * cookie stops working at once, and a restart ends every session, as in token mode.
 */
export class OidcSessions {
  private readonly sessions = new Map<string, OidcSession>();

  constructor(
    private readonly signer: SessionSigner = new SessionSigner(),
    private readonly now: () => number = Date.now,
    private readonly limit = 10_000,
    private readonly ttlMs = SESSION_TTL_MS,
  ) {}

  /** Starts a session for `principal`; returns the cookie value. */
  create(principal: Principal): string {
    this.prune();
    const cookie = this.signer.issue(SIGNING_CONTEXT, this.ttlMs);
    const [, id, expiry] = cookie.split('.');
    this.sessions.set(id!, {
      subject: principal.subject,
      name: principal.name,
      groups: [...principal.groups],
      expiresAt: Number(expiry),
    });
    return cookie;
  }

  /** The live session `cookie` names, if its signature holds and it has not ended. */
  get(cookie: string | undefined): OidcSession | undefined {
    if (!this.signer.verify(cookie, SIGNING_CONTEXT)) return undefined;
    const id = cookie!.split('.')[1]!;
    const session = this.sessions.get(id);
    if (!session) return undefined;
    if (session.expiresAt <= this.now()) {
      this.sessions.delete(id);
      return undefined;
    }
    return session;
  }

  /** Ends the session `cookie` names; returns it if it was live. */
  end(cookie: string | undefined): OidcSession | undefined {
    const session = this.get(cookie);
    if (session) this.sessions.delete(cookie!.split('.')[1]!);
    return session;
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Drops expired sessions and, past the limit, the oldest: memory stays bounded. */
  private prune(): void {
    const now = this.now();
    for (const [id, session] of this.sessions) {
      if (session.expiresAt <= now) this.sessions.delete(id);
    }
    for (const id of this.sessions.keys()) {
      if (this.sessions.size < this.limit) break;
      this.sessions.delete(id);
    }
  }
}

/** A sign-in under way at the provider: the checks its answer must pass. */
export interface OidcTransaction {
  readonly state: string;
  readonly nonce: string;
  readonly codeVerifier: string;
  readonly redirectUri: string;
  /** Where to go once signed in: a path on this site (safeNext). */
  readonly next: string;
  readonly expiresAt: number;
}

/**
 * Sign-ins under way, keyed by a random handle held in the browser's transaction cookie: the
 * callback is accepted only in the browser that started the sign-in (no login CSRF), once.
 * Bounded: past the limit the oldest are dropped, so anonymous starts cannot exhaust memory.
 */
export class OidcTransactions {
  private readonly pending = new Map<string, OidcTransaction>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly limit = 1000,
  ) {}

  /** Stores `transaction`; returns the handle for the transaction cookie. */
  begin(transaction: Omit<OidcTransaction, 'expiresAt'>): string {
    const now = this.now();
    for (const [handle, entry] of this.pending) {
      if (entry.expiresAt <= now) this.pending.delete(handle);
    }
    for (const handle of this.pending.keys()) {
      if (this.pending.size < this.limit) break;
      this.pending.delete(handle);
    }
    const handle = randomBytes(24).toString('base64url');
    this.pending.set(handle, { ...transaction, expiresAt: now + OIDC_TRANSACTION_TTL_MS });
    return handle;
  }

  /** Takes the transaction `handle` names (each can be used once), if it has not expired. */
  take(handle: string | undefined): OidcTransaction | undefined {
    if (!handle || handle.length > 64) return undefined;
    const transaction = this.pending.get(handle);
    this.pending.delete(handle);
    return transaction && transaction.expiresAt > this.now() ? transaction : undefined;
  }
}
