import 'server-only';

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** The session cookie's name. `__Host-` binds it to this origin: Secure, Path=/, no Domain. */
export const SESSION_COOKIE = '__Host-beamscope-session';

/** Where a browser lands once signed out (here or at the OpenID provider): the sign-in page, saying so. */
export const SIGNED_OUT_PAGE = '/sign-in?out=1';

/** How long a session lasts after sign-in. */
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;

const VERSION = 'v1';

/**
 * Stateless sessions: the cookie is `v1.<random id>.<expiry>.<HMAC>`, never the token. The HMAC
 * key is derived from a secret generated when the server starts *and* the current access token,
 * so a restart or a rotated token ends every session, and a stolen cookie never reveals the
 * token it was issued for.
 */
export class SessionSigner {
  /** Sessions ended by signing out, until they would have expired anyway: id → expiry. */
  private readonly revoked = new Map<string, number>();

  constructor(
    private readonly serverSecret: Buffer = randomBytes(32),
    private readonly now: () => number = Date.now,
  ) {}

  private key(token: string): Buffer {
    return createHmac('sha256', this.serverSecret).update(`beamscope-session\0${token}`).digest();
  }

  private mac(token: string, payload: string): Buffer {
    return createHmac('sha256', this.key(token)).update(payload).digest();
  }

  /** A new session cookie value for a sign-in with `token`. */
  issue(token: string, ttlMs = SESSION_TTL_MS): string {
    const payload = `${VERSION}.${randomBytes(18).toString('base64url')}.${this.now() + ttlMs}`;
    return `${payload}.${this.mac(token, payload).toString('base64url')}`;
  }

  /** Whether `cookie` is an unexpired session signed for `token` by this server process. */
  verify(cookie: string | undefined, token: string): boolean {
    if (!cookie || cookie.length > 200) return false;
    const parts = cookie.split('.');
    if (parts.length !== 4 || parts[0] !== VERSION) return false;
    const expiry = Number(parts[2]);
    if (!Number.isSafeInteger(expiry) || expiry <= this.now()) return false;
    const given = Buffer.from(parts[3]!, 'base64url');
    const expected = this.mac(token, parts.slice(0, 3).join('.'));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return false;
    return !this.revoked.has(parts[1]!);
  }

  /**
   * Ends the session `cookie` holds (signing out): its id is refused until its expiry, so a copy
   * of the cookie kept elsewhere is worth nothing either. True when it was a live session.
   */
  revoke(cookie: string | undefined, token: string): boolean {
    if (!this.verify(cookie, token)) return false;
    const [, id, expiry] = cookie!.split('.');
    const now = this.now();
    for (const [old, until] of this.revoked) if (until <= now) this.revoked.delete(old);
    this.revoked.set(id!, Number(expiry));
    return true;
  }
}
