import 'server-only';

import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';

/** The shortest access token accepted: shorter ones are guessable within the rate limit's reach. */
export const MIN_TOKEN_LENGTH = 16;

/**
 * Compares a submitted secret with the expected one in constant time. Both are hashed first, so
 * the comparison neither short-circuits on the first differing byte nor leaks the length.
 */
export function secretsEqual(submitted: string, expected: string): boolean {
  const a = createHash('sha256').update(submitted, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/** Where the token lives: a file (a mounted Secret) or an environment variable, never the YAML. */
export type TokenLocation = { file: string } | { env: string };

/** Names the token's location for messages; never its value. */
export function describeLocation(location: TokenLocation): string {
  return 'file' in location
    ? `the access token file ${location.file} (access.tokenFile)`
    : `the environment variable ${location.env} (access.tokenEnv)`;
}

/**
 * Reads the access token. A file is re-read at most every `ttlMs`, so a rotated Secret (the
 * kubelet swaps the mounted file) takes effect without a restart — and, since sessions are
 * signed with a key derived from the token, rotating it also ends every session. Errors name
 * the file or variable, never the value.
 */
export class TokenSource {
  private cached: { token: string; at: number } | undefined;

  constructor(
    readonly location: TokenLocation,
    private readonly env: Readonly<Record<string, string | undefined>> = process.env,
    private readonly ttlMs = 2000,
    private readonly now: () => number = Date.now,
  ) {}

  /** The current token; throws an Error whose message names where it was looked for. */
  async current(): Promise<string> {
    const at = this.now();
    if (this.cached && at - this.cached.at < this.ttlMs) return this.cached.token;
    const token = await this.read();
    this.cached = { token, at };
    return token;
  }

  private async read(): Promise<string> {
    const where = describeLocation(this.location);
    let raw: string | undefined;
    if ('file' in this.location) {
      try {
        raw = await readFile(/* turbopackIgnore: true */ this.location.file, 'utf8');
      } catch (error) {
        const code = (error as NodeJS.ErrnoException | undefined)?.code ?? 'unreadable';
        throw new Error(`cannot read ${where}: ${code}`);
      }
    } else {
      raw = this.env[this.location.env];
    }
    // Files usually end with a newline; Secrets made with `echo` always do.
    const token = raw?.trim() ?? '';
    if (!token) throw new Error(`${where} is missing or empty`);
    if (token.length < MIN_TOKEN_LENGTH) {
      throw new Error(
        `${where} holds a token shorter than ${MIN_TOKEN_LENGTH} characters; generate one with: openssl rand -base64 32`,
      );
    }
    return token;
  }
}
