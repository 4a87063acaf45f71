import 'server-only';

import { createHash, randomBytes } from 'node:crypto';

import type { Principal, KubernetesUser } from './principal';
import { ReviewError, type ReviewApi } from './kubernetes-review';

/** One observed cluster as mode kubernetes sees it: the API server that rules it, its namespace. */
export interface ReviewedCluster {
  api: ReviewApi;
  namespace: string;
}

/** The most entries a cache keeps; past it the expired ones go, then the oldest. */
const MAX_ENTRIES = 10_000;

/** A map whose entries expire `ttlMs` after they were set, bounded in size. */
class ExpiringCache<V> {
  private readonly entries = new Map<string, { value: V; at: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number,
  ) {}

  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (this.now() - entry.at >= this.ttlMs) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  set(key: string, value: V): void {
    if (this.entries.size >= MAX_ENTRIES) {
      const now = this.now();
      for (const [old, entry] of this.entries) {
        if (now - entry.at >= this.ttlMs) this.entries.delete(old);
      }
      // Still full: drop the oldest (a Map iterates in insertion order).
      while (this.entries.size >= MAX_ENTRIES) {
        this.entries.delete(this.entries.keys().next().value!);
      }
    }
    this.entries.delete(key);
    this.entries.set(key, { value, at: this.now() });
  }
}

/** A token's cache key: its SHA-256, so no cache holds a token. */
const tokenKey = (token: string) => createHash('sha256').update(token, 'utf8').digest('base64url');

/**
 * Mode kubernetes: who a bearer token is (a TokenReview by each cluster's own API server, since a
 * token means something only to the cluster that issued it) and whether they may see a cluster
 * (a SubjectAccessReview there: may they `get pods` in its namespace?). Both answers are cached
 * for `cacheMs` and then asked again, so a deleted RoleBinding (or service account) closes the
 * dashboard to its user within that time.
 */
export class KubernetesAccess {
  private readonly tokens: ExpiringCache<ReadonlyMap<string, KubernetesUser>>;
  private readonly decisions: ExpiringCache<boolean>;
  /** Reviews under way, so a page's burst of requests asks each API once. */
  private readonly pending = new Map<string, Promise<unknown>>();
  private readonly apis: ReviewApi[];

  constructor(
    private readonly clusters: ReadonlyMap<string, ReviewedCluster>,
    readonly cacheMs: number,
    private readonly now: () => number = Date.now,
    private readonly log: (line: string) => void = (line) => console.warn(line),
  ) {
    this.tokens = new ExpiringCache(cacheMs, now);
    this.decisions = new ExpiringCache(cacheMs, now);
    const byServer = new Map<string, ReviewApi>();
    for (const { api } of clusters.values())
      if (!byServer.has(api.server)) byServer.set(api.server, api);
    this.apis = [...byServer.values()];
  }

  private once<T>(key: string, work: () => Promise<T>): Promise<T> {
    const running = this.pending.get(key) as Promise<T> | undefined;
    if (running) return running;
    const started = work().finally(() => this.pending.delete(key));
    this.pending.set(key, started);
    return started;
  }

  /** The last failure logged per API server, so a lasting one is logged once per change. */
  private readonly lastFailure = new Map<string, string>();

  private noteFailure(server: string, message: string | undefined): void {
    if (this.lastFailure.get(server) === message) return;
    if (message === undefined) this.lastFailure.delete(server);
    else {
      this.lastFailure.set(server, message);
      this.log(`beamscope: access: ${message}`);
    }
  }

  /**
   * The users `token` authenticates as, per API server (empty: no API server accepts it).
   * Throws a {@link ReviewError} when no API server could answer at all.
   */
  async identify(token: string): Promise<ReadonlyMap<string, KubernetesUser>> {
    const key = tokenKey(token);
    const cached = this.tokens.get(key);
    if (cached) return cached;
    return this.once(`token:${key}`, async () => {
      const answers = await Promise.all(
        this.apis.map(async (api) => {
          try {
            const user = await api.reviewToken(token);
            this.noteFailure(api.server, undefined);
            return { api, user };
          } catch (error) {
            const message = error instanceof Error ? error.message : String(error);
            this.noteFailure(api.server, message);
            return { api, error: error instanceof ReviewError ? error : new ReviewError(message) };
          }
        }),
      );
      const users = new Map<string, KubernetesUser>();
      for (const answer of answers) if (answer.user) users.set(answer.api.server, answer.user);
      const failed = answers.filter((answer) => answer.error);
      if (users.size === 0 && failed.length === answers.length && failed[0]?.error) {
        throw failed[0].error;
      }
      // Only a positive answer is kept: a token just made valid works at once.
      if (users.size > 0) this.tokens.set(key, users);
      return users;
    });
  }

  /** The principal of the users a token authenticated as; undefined when none. */
  principal(users: ReadonlyMap<string, KubernetesUser>): Principal | undefined {
    const first = users.values().next().value;
    if (!first) return undefined;
    return {
      subject: `kubernetes:${first.username}`,
      name: first.username,
      groups: first.groups,
      kubernetes: users,
    };
  }

  /**
   * Whether `principal` may see cluster `id`: its API server authenticated them and RBAC lets
   * them `get pods` in the cluster's namespace. A review that fails refuses (fails closed).
   */
  async mayView(principal: Principal, id: string): Promise<boolean> {
    const cluster = this.clusters.get(id);
    const user = cluster && principal.kubernetes?.get(cluster.api.server);
    if (!cluster || !user) return false;
    const key = JSON.stringify([cluster.api.server, user.username, user.groups, cluster.namespace]);
    const cached = this.decisions.get(key);
    if (cached !== undefined) return cached;
    return this.once(`decision:${key}`, async () => {
      try {
        const allowed = await cluster.api.mayAccess(user, 'get', 'pods', cluster.namespace);
        this.noteFailure(cluster.api.server, undefined);
        this.decisions.set(key, allowed);
        return allowed;
      } catch (error) {
        this.noteFailure(
          cluster.api.server,
          error instanceof Error ? error.message : String(error),
        );
        return false;
      }
    });
  }
}

/** The session cookie's value in mode kubernetes: `k1.<random id>`; the id names a server-side entry. */
const PREFIX = 'k1.';

/**
 * Sessions of mode kubernetes, kept in this process's memory: the cookie carries only a random
 * id, the token stays on the server (re-reviewed when the cache expires, so a deleted service
 * account ends the session), and signing out deletes the entry — the cookie is then worth nothing.
 * A restart ends every session, as in mode token.
 */
export class KubernetesSessions {
  private readonly sessions = new Map<string, { token: string; expiresAt: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  issue(token: string): string {
    if (this.sessions.size >= MAX_ENTRIES) {
      const now = this.now();
      for (const [id, entry] of this.sessions) if (entry.expiresAt <= now) this.sessions.delete(id);
      while (this.sessions.size >= MAX_ENTRIES)
        this.sessions.delete(this.sessions.keys().next().value!);
    }
    const id = randomBytes(32).toString('base64url');
    this.sessions.set(id, { token, expiresAt: this.now() + this.ttlMs });
    return `${PREFIX}${id}`;
  }

  private id(cookie: string | undefined): string | undefined {
    return cookie?.startsWith(PREFIX) && cookie.length < 100
      ? cookie.slice(PREFIX.length)
      : undefined;
  }

  /** The token of a live session, or undefined. */
  token(cookie: string | undefined): string | undefined {
    const id = this.id(cookie);
    const entry = id === undefined ? undefined : this.sessions.get(id);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.sessions.delete(id!);
      return undefined;
    }
    return entry.token;
  }

  /** Ends the session `cookie` names; true when there was one. */
  end(cookie: string | undefined): boolean {
    const id = this.id(cookie);
    return id !== undefined && this.sessions.delete(id);
  }
}
