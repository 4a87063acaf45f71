import 'server-only';

import {
  ListWatch,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from '@kubernetes/client-node';

import { backoffDelay } from '@/lib/backoff';

import type { BeamscopeError } from '../errors';
import type { SelfReviews } from './access';
import { ObservedWatch } from './observed-watch';
import { forbiddenError, forbiddenUser, isConnectionReset, kubernetesError } from './errors';

/** A namespaced resource kind beamscope watches. */
export interface ResourceKind {
  /** The plural name, as RBAC rules and URLs spell it. */
  resource: 'endpointslices' | 'endpoints' | 'pods' | 'events';
  /** The API group; '' is the core group. */
  group: string;
  version: string;
}

export const RESOURCE_KINDS = {
  endpointslices: { resource: 'endpointslices', group: 'discovery.k8s.io', version: 'v1' },
  endpoints: { resource: 'endpoints', group: '', version: 'v1' },
  pods: { resource: 'pods', group: '', version: 'v1' },
  events: { resource: 'events', group: '', version: 'v1' },
} as const satisfies Record<string, ResourceKind>;

/** The collection path a watch requests, e.g. `/apis/discovery.k8s.io/v1/namespaces/NS/endpointslices`. */
export function collectionPath(kind: ResourceKind, namespace: string): string {
  const prefix = kind.group ? `/apis/${kind.group}/${kind.version}` : `/api/${kind.version}`;
  return `${prefix}/namespaces/${encodeURIComponent(namespace)}/${kind.resource}`;
}

/** Restart timings; `random` is a seam for deterministic jitter. */
export interface BackoffOptions {
  /** The first restart delay; default 1000 ms. */
  initialMs?: number;
  /** The ceiling; default 30000 ms. */
  maxMs?: number;
  /**
   * The ceiling while the server does not answer at all (connection refused, reset, timed out);
   * default 5000 ms. A refused connection costs a stopped server nothing, and every second of
   * backoff after it restarts is a second the dashboard shows stale members.
   */
  unreachableMaxMs?: number;
  /**
   * The ceiling while the server rejects beamscope (401, 403); default 10000 ms. The server
   * refuses such a request before any storage work, and the fix (a new token, a Role granted back)
   * should show within seconds — while 30 s would leave members stale that long after it.
   */
  deniedMaxMs?: number;
  random?: () => number;
}

/**
 * The longest client-node's informer may wait before re-watching after a watch ended cleanly.
 * Its own delay doubles with each clean end that brought no event, up to 30 s — and meanwhile
 * nothing is watched while the link reads ok. A clean end is a watch timeout or a restarted watch
 * cache (every resume then meets 410 Expired and re-lists): 1 s keeps such a loop cheap and the
 * view current.
 */
export const REWATCH_MAX_DELAY_MS = 1000;

/**
 * A watcher's restart delay: the shared backoff with "equal jitter", so restarts of many sources
 * after an API server outage spread out but never come back immediately.
 */
export function restartDelay(attempt: number, options: BackoffOptions = {}): number {
  return backoffDelay(
    attempt,
    { initialMs: options.initialMs ?? 1000, maxMs: options.maxMs ?? 30_000, jitter: 'equal' },
    (options.random ?? Math.random)(),
  );
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** How long a watcher must stay up after a list for its next failure to start backoff over. */
const HEALTHY_AFTER_MS = 10_000;

/** One watcher's health. */
export type WatcherState =
  | { state: 'syncing' | 'ok'; since: number }
  | { state: 'error'; since: number; error: BeamscopeError<'kubernetes'> };

export interface ResourceWatcherOptions<T extends KubernetesObject> {
  kubeConfig: KubeConfig;
  kind: ResourceKind;
  namespace: string;
  server: string;
  labelSelector?: string;
  list: () => Promise<KubernetesListObject<T>>;
  backoff?: BackoffOptions;
  now?: () => number;
  /** After a successful (re-)list replaced the objects; `first` for the watcher's very first. */
  onListed?: (items: readonly T[], first: boolean) => void;
  /** An object added, updated or deleted by the watch (also for items of a list, after onListed). */
  onObject?: (object: T, change: 'add' | 'update' | 'delete') => void;
  /** The objects changed (coalesce in the receiver). */
  onChange: () => void;
  onState: (state: WatcherState) => void;
  /** Names the user where a 403 has no body, and re-checks access while the watch is open. */
  reviews?: SelfReviews;
  /**
   * How often an open watch's list and watch access is re-checked (SelfSubjectAccessReview);
   * default 2000 ms, 0 never. The API server authorizes a watch only when it starts, so without
   * this a revoked Role shows only when the watch ends (minutes later, at its timeout).
   */
  accessCheckMs?: number;
}

/** The default of {@link ResourceWatcherOptions.accessCheckMs}. */
export const ACCESS_CHECK_MS = 2000;

/**
 * Drops an object's `managedFields` (server-side apply's record of which manager set which
 * field), in place, so the informer's cache lets go of them too: beamscope never reads them, and
 * at 1,000 pods (and their events) they were about 10 MB of the collector's live heap — and
 * V8 lets the heap grow to a multiple of what is live before it collects.
 */
function withoutManagedFields(object: KubernetesObject): void {
  if (object.metadata?.managedFields) delete object.metadata.managedFields;
}

/** The verbs beamscope's Role must grant for a watcher to follow its kind. */
const FOLLOW_VERBS = ['list', 'watch'] as const;

/**
 * One resource kind's list+watch: a client-node informer plus what it lacks. The informer
 * re-lists on 410 Gone and re-watches after a clean close by itself (here within
 * {@link REWATCH_MAX_DELAY_MS}), but after a connection reset, a 401/403 or a refused connection
 * it reports `error` and stops; this restarts it, with backoff and jitter (shorter ceilings for a
 * server that is down or denies, see {@link BackoffOptions}), as a fresh informer whose first
 * list replaces every object (so objects deleted during the outage go away).
 */
export class ResourceWatcher<T extends KubernetesObject> {
  private objectsByName = new Map<string, T>();
  private generation = 0;
  private attempt = 0;
  private listedOnce = false;
  private listedAt = 0;
  private failedAt = 0;
  private stopped = true;
  private restartTimer: NodeJS.Timeout | undefined;
  /** The restart waiting in {@link restartTimer}, so {@link retryNow} can run it at once. */
  private pendingRestart: (() => void) | undefined;
  private informer: ListWatch<T> | undefined;
  private accessTimer: NodeJS.Timeout | undefined;
  /** Counts failures and recoveries, so a late report of a failure cannot overwrite a newer state. */
  private failures = 0;
  private current: WatcherState;
  private readonly now: () => number;

  constructor(private readonly options: ResourceWatcherOptions<T>) {
    this.now = options.now ?? Date.now;
    this.current = { state: 'syncing', since: this.now() };
  }

  /** The objects as last listed and watched (kept, stale, while the watcher is in error). */
  objects(): T[] {
    return [...this.objectsByName.values()];
  }

  state(): WatcherState {
    return this.current;
  }

  /** True once a list has succeeded (the objects are meaningful). */
  get synced(): boolean {
    return this.listedOnce;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.launch();
  }

  /**
   * Runs a restart that is waiting out its backoff now. The source calls it when another of its
   * watchers got through again: the server is back (or accepts the credentials again), so there
   * is no reason to stay stale until this one's timer fires.
   */
  retryNow(): void {
    const restart = this.pendingRestart;
    if (!restart || this.stopped) return;
    clearTimeout(this.restartTimer);
    this.pendingRestart = undefined;
    restart();
  }

  /** Stops the watch for good and releases its connection. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.generation += 1;
    clearTimeout(this.restartTimer);
    clearTimeout(this.accessTimer);
    this.pendingRestart = undefined;
    const informer = this.informer;
    this.informer = undefined;
    await informer?.stop();
  }

  private launch(): void {
    const generation = ++this.generation;
    const isCurrent = () => generation === this.generation && !this.stopped;
    const { kind, namespace, kubeConfig, labelSelector } = this.options;
    let failedList: unknown;
    const list = async () => {
      try {
        const result = await this.options.list();
        if (isCurrent()) this.listed(result.items);
        return result;
      } catch (error) {
        failedList = error;
        throw error;
      }
    };
    const watch = new ObservedWatch(kubeConfig, isCurrent, () => this.watching(isCurrent));
    const informer = new ListWatch<T>(
      collectionPath(kind, namespace),
      watch,
      list,
      false,
      labelSelector,
      undefined,
      {
        delayFn: async (ms) => {
          await delay(Math.min(ms, REWATCH_MAX_DELAY_MS));
          // The informer re-watches after this without checking whether it was stopped
          // meanwhile: never resolve for a replaced one, or its watch would stay open unowned.
          if (!isCurrent()) await new Promise<never>(() => {});
        },
      },
    );
    this.informer = informer;
    const onObject = (change: 'add' | 'update' | 'delete') => (object: T) => {
      if (!isCurrent()) return;
      withoutManagedFields(object);
      const name = object.metadata?.name ?? '';
      if (change === 'delete') this.objectsByName.delete(name);
      else this.objectsByName.set(name, object);
      this.options.onObject?.(object, change);
      this.options.onChange();
    };
    informer.on('add', onObject('add'));
    informer.on('update', onObject('update'));
    informer.on('delete', onObject('delete'));
    informer.on('error', (error: unknown) => {
      if (isCurrent()) this.failed(error, error === failedList ? 'list' : 'watch');
    });
    this.run(informer, isCurrent);
  }

  private run(informer: ListWatch<T>, isCurrent: () => boolean): void {
    informer.start().catch((error: unknown) => {
      if (isCurrent()) this.failed(error, 'watch');
    });
  }

  private listed(items: readonly T[]): void {
    for (const item of items) withoutManagedFields(item);
    const first = !this.listedOnce;
    this.listedOnce = true;
    this.listedAt = this.now();
    this.objectsByName = new Map(items.map((item) => [item.metadata?.name ?? '', item]));
    this.options.onListed?.(items, first);
    // Not ok yet: only a watch the server accepts makes the view follow the cluster. A watch
    // refused where the list is allowed would otherwise flip the link ok/error on every retry.
    this.options.onChange();
  }

  /** The server accepted the watch: the view follows the cluster from here. */
  private watching(isCurrent: () => boolean): void {
    // A failure still being looked into is over: its late report must not undo this.
    this.failures += 1;
    this.setState({ state: 'ok', since: this.now() });
    this.scheduleAccessCheck(isCurrent);
  }

  /**
   * Re-checks, while the watch is open, that the Role still grants list and watch: the server
   * checked them only when the watch started and streams on after a revocation. A denial fails
   * the watcher as the server's 403 would; a review that fails says nothing (the watch will).
   */
  private scheduleAccessCheck(isCurrent: () => boolean): void {
    this.askAccessLater((answers, reviews) => {
      if (!isCurrent() || this.current.state !== 'ok') return;
      const denied = FOLLOW_VERBS.find((_, index) => answers[index] === false);
      if (!denied) {
        this.scheduleAccessCheck(isCurrent);
        return;
      }
      const { kind, namespace } = this.options;
      const error = forbiddenError({
        user: reviews.knownUser() ?? null,
        verb: denied,
        resource: kind.resource,
        group: kind.group,
        namespace,
      });
      this.failed(error, denied);
    });
  }

  /**
   * After one access-check interval, asks whether list and watch are allowed (one self review
   * each) and hands the answers on; nothing without reviews or with checks turned off.
   */
  private askAccessLater(
    then: (answers: Array<boolean | undefined>, reviews: SelfReviews) => void,
  ): void {
    const interval = this.options.accessCheckMs ?? ACCESS_CHECK_MS;
    const reviews = this.options.reviews;
    if (!reviews || interval <= 0) return;
    clearTimeout(this.accessTimer);
    this.accessTimer = setTimeout(() => {
      const { kind, namespace } = this.options;
      void Promise.all(FOLLOW_VERBS.map((verb) => reviews.mayI(verb, kind, namespace))).then(
        (answers) => then(answers, reviews),
      );
    }, interval);
    this.accessTimer.unref?.();
  }

  private failed(cause: unknown, verb: 'list' | 'watch'): void {
    const { kind, namespace, server, reviews } = this.options;
    clearTimeout(this.accessTimer);
    const named = forbiddenUser(cause);
    if (named !== undefined) reviews?.learnUser(named);
    const user = reviews?.knownUser();
    const error = kubernetesError(cause, {
      verb,
      resource: kind.resource,
      group: kind.group,
      namespace,
      server,
      ...(user !== undefined ? { user } : {}),
    });
    // A healthy watch cut mid-stream (a proxy or API server restart) is routine: resume it
    // soon and report an error only if that fails.
    const routine = verb === 'watch' && this.current.state === 'ok' && isConnectionReset(cause);
    const failure = ++this.failures;
    const report = (shown: BeamscopeError<'kubernetes'>) => {
      // A later failure has said more since.
      if (failure !== this.failures || this.stopped) return;
      const previous = this.current;
      if (previous.state !== 'error' || previous.error.message !== shown.message) {
        this.setState({ state: 'error', since: this.now(), error: shown });
      }
    };
    // The access check's own denial (the error it made is the cause) already names the rule.
    const fromAccessCheck = cause === error;
    if (
      !routine &&
      verb === 'watch' &&
      error.code === 'rbac_forbidden' &&
      reviews &&
      !fromAccessCheck
    ) {
      // A watch's 403 says nothing of the list; the retry's list would, a moment later, and
      // change the reason. Ask now which rule is missing (the list's, when it is gone too), so
      // the reason is right at once and stays put for as long as the denial lasts.
      void reviews.mayI('list', kind, namespace).then((listAllowed) =>
        report(
          listAllowed === false
            ? forbiddenError({
                user: reviews.knownUser() ?? null,
                verb: 'list',
                resource: kind.resource,
                group: kind.group,
                namespace,
              })
            : error,
        ),
      );
    } else if (!routine) report(error);
    // A routine restart waits only the first step; failures in a row back off further. A list
    // that succeeds does not reset the count by itself (a watch forbidden where the list is
    // allowed would otherwise re-list every second): a healthy stretch after it does.
    const now = this.now();
    if (this.listedAt >= this.failedAt && now - this.listedAt > HEALTHY_AFTER_MS) this.attempt = 0;
    this.failedAt = now;
    const backoff = this.options.backoff ?? {};
    const ceiling =
      error.code === 'unreachable'
        ? (backoff.unreachableMaxMs ?? 5000)
        : error.code === 'unauthorized' || error.code === 'rbac_forbidden'
          ? (backoff.deniedMaxMs ?? 10_000)
          : undefined;
    const wait = restartDelay(
      routine ? 0 : this.attempt,
      ceiling === undefined
        ? backoff
        : { ...backoff, maxMs: Math.min(backoff.maxMs ?? 30_000, ceiling) },
    );
    if (!routine) this.attempt += 1;
    clearTimeout(this.restartTimer);
    const informer = this.informer;
    if (routine && informer) {
      // Resume the same informer from its resourceVersion: no re-list unless the server says
      // 410 Gone, which the informer handles by re-listing itself.
      const generation = this.generation;
      const isCurrent = () => generation === this.generation && !this.stopped;
      this.schedule(() => {
        if (isCurrent()) this.run(informer, isCurrent);
      }, wait);
      return;
    }
    // Anything else: a fresh informer whose first request is a list, so the error it may hit
    // carries the server's Status message (a watch's 403 has no body) and objects deleted
    // meanwhile go away.
    void informer?.stop();
    this.informer = undefined;
    // Invalidate the stopped informer's late callbacks now, not when the restart fires.
    this.generation += 1;
    this.schedule(() => {
      if (!this.stopped) this.launch();
    }, wait);
    if (error.code === 'rbac_forbidden' || error.code === 'unauthorized') this.awaitAccess();
  }

  /**
   * While denied, asks every access-check interval whether list and watch are allowed again,
   * and restarts at once when they are: a Role granted back (or a token accepted again) shows in
   * seconds rather than at the end of a backoff of up to `deniedMaxMs`.
   */
  private awaitAccess(): void {
    this.askAccessLater((answers) => {
      if (this.stopped || !this.pendingRestart) return;
      if (answers.every((allowed) => allowed === true)) this.retryNow();
      else this.awaitAccess();
    });
  }

  private schedule(restart: () => void, wait: number): void {
    this.pendingRestart = restart;
    this.restartTimer = setTimeout(() => {
      this.pendingRestart = undefined;
      restart();
    }, wait);
  }

  private setState(state: WatcherState): void {
    const previous = this.current;
    if (previous.state === state.state && state.state !== 'error') return;
    this.current = state;
    this.options.onState(state);
  }
}
