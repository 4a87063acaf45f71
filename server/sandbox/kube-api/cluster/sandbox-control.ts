import 'server-only';

// The contract of the emulated cluster: what drives it (the control surface, in-process or over
// `/_sandbox/*`) and the seam through which a pod's container really runs.

/** What the sandbox tells about one pod. */
export interface PodInfo {
  name: string;
  uid: string;
  ip: string;
  nodeName: string;
  phase: string;
  ready: boolean;
  terminating: boolean;
}

/**
 * The seam through which a pod's "container" is started and stopped — a later issue runs a real
 * BEAM node on the pod's loopback address. `start` resolving is what makes the pod Ready.
 */
export interface PodRuntime {
  start(pod: PodInfo): Promise<void>;
  stop(pod: PodInfo): Promise<void>;
  /** Kills the pod's container as a crash would (the runtime then reports the exit). */
  kill?(podName: string): void;
  /** Splits the pods into sides (pod names) that stop seeing each other until {@link heal}. */
  partition?(sides: string[][]): Promise<void>;
  /** Ends every partition. */
  heal?(): Promise<void>;
  /** A fault made by the kernel's network between pods (by IP) and beamscope's side (netns). */
  networkFault?(fault: NetworkFault): Promise<void>;
  /** Restarts the pod's container with a wrong Erlang cookie (or, `restore`, the right one). */
  miscookie?(podName: string, restore?: boolean): Promise<void>;
  /** Has one pod's app flood its link to another for `seconds` (0: stop). */
  flood?(fromPod: string, toPod: string, seconds: number): Promise<void>;
  /** Gives one pod's node another `net_ticktime`. */
  setTicktime?(podName: string, seconds: number): Promise<void>;
  /** Restarts the pod's container with another release of the app (it keeps it on restarts). */
  setAppVersion?(podName: string, version: string): Promise<void>;
  /** The release of the app that pods created from now on run (the Deployment's template). */
  setTemplateVersion?(version: string): void;
  /** What the pod's container reports about itself (for the BEAM runtime: its mesh, registry). */
  info?(podName: string): Promise<unknown>;
  /** Figures about the running containers (start times, memory). */
  stats?(): unknown;
}

/** A kernel network fault (netns mode), pods named by IP; `heal` undoes every one. */
export type NetworkFault =
  | { kind: 'partition'; sides: string[][] }
  | { kind: 'one-way'; from: string; to: string }
  | { kind: 'cut-off'; pods: string[] }
  | { kind: 'slow'; pod: string; kbit: number };

/** How a pod's container ended when it was not asked to (see {@link SandboxControl.containerExited}). */
export interface ContainerExit {
  code?: number | null;
  signal?: NodeJS.Signals | null;
}

/** A pod as `status` reports it: the API's view plus its container's. */
export interface PodStatusReport extends PodInfo {
  restartCount: number;
  /** The runtime's `info` of the pod's container, when it is running and answers. */
  container?: unknown;
}

/** The resources `setForbidden` can take away from the token's user. */
export type GuardedResource = 'endpointslices' | 'endpoints' | 'pods' | 'events';

/** The verbs of beamscope's Role, which `setForbidden` can take away one by one. */
export const GUARDED_VERBS = ['get', 'list', 'watch'] as const;
export type GuardedVerb = (typeof GUARDED_VERBS)[number];

/** Drives the emulated cluster, in-process or through `/_sandbox/*` over HTTP. */
export interface SandboxControl {
  /**
   * Creates a pod of the Deployment (or with `labels`, any pod) and resolves once it is Running
   * with its IP. `ready` absent: it turns Ready by itself (after readyDelayMs, or when the
   * PodRuntime has started it); `true`: Ready at once; `false`: unready until setPodReady.
   */
  createPod(spec?: {
    name?: string;
    ip?: string;
    labels?: Record<string, string>;
    nodeName?: string;
    ready?: boolean;
  }): Promise<PodInfo>;
  /** Flips the pod's readiness (an Unhealthy event when it goes unready); endpoints follow. */
  setPodReady(name: string, ready: boolean): void;
  /** Marks the pod terminating (Killing event, endpoint terminating), gone after the grace period. */
  deletePod(name: string): void;
  /** Creates or deletes pods (unready, then youngest first) with ScalingReplicaSet events. */
  scale(replicas: number): Promise<void>;
  /** Every pod, terminating ones included. */
  pods(): PodInfo[];
  /**
   * `kubectl rollout restart`: a new ReplicaSet replaces every pod, a quarter at a time, each
   * step's old pods deleted once its new ones are Ready. Resolves when no old pod is left.
   */
  rolloutRestart(): Promise<void>;
  /**
   * A Kubernetes node is lost with everything on it: its pods' containers die and the pods are
   * force-deleted at once; the ReplicaSet creates replacements on the other nodes. Returns the
   * pods lost.
   */
  loseNode(nodeName: string): Promise<string[]>;
  /** The node joins the cluster again (empty): new pods may be scheduled there. */
  restoreNode(nodeName: string): void;
  /**
   * Forgets the watch history: every resourceVersion handed out so far gets 410 Expired. Open
   * watches are closed cleanly, as a restarting watch cache does, so clients re-watch and see it.
   */
  compact(): void;
  /**
   * Denies (or grants back) `verbs` (default get, list and watch) on one resource: 403 with the
   * RBAC Status body. As on a real API server, a watch already open goes on streaming: access is
   * checked when a request starts.
   */
  setForbidden(resource: GuardedResource, forbidden: boolean, verbs?: readonly GuardedVerb[]): void;
  /** Answers every API request with 401 (the `/_sandbox` surface keeps working). */
  setTokenRejected(rejected: boolean): void;
  /** Cuts every open watch's connection, as a network reset would. */
  dropWatches(): void;
  /**
   * The pod's container exited unasked (a crash, a kill): the pod turns unready, its restart count
   * rises, a BackOff event is recorded and, after the back-off, the container starts again
   * (Started) and turns Ready once the runtime says it is up — as the kubelet does.
   */
  containerExited(name: string, exit?: ContainerExit): void;
  /** Kills the container of a pod (by name or IP) through the PodRuntime; it restarts as above. */
  killPod(pod: string): Promise<PodInfo>;
  /**
   * The kernel's OOM killer ends the pod's container (by name or IP): its process is SIGKILLed
   * and the kubelet records `lastState.terminated` with reason `OOMKilled`, exit code 137, and
   * restarts it after its back-off as {@link containerExited} does.
   */
  oomKillPod(pod: string): Promise<PodInfo>;
  /** Partitions the pods (names or IPs per side) through the PodRuntime; returns the sides' names. */
  partition(sides: string[][]): Promise<string[][]>;
  /** Ends every partition, and every network fault. */
  heal(): Promise<void>;
  /** Makes a kernel network fault (netns mode); pods by name or IP. */
  networkFault(fault: NetworkFault): Promise<NetworkFault>;
  /** Restarts a pod's container with a wrong cookie (`restore`: the right one again). */
  miscookie(pod: string, restore?: boolean): Promise<PodInfo>;
  /** Has pod `from`'s app flood its link to pod `to` for `seconds` (0: stop); by name or IP. */
  flood(from: string, to: string, seconds: number): Promise<{ from: string; to: string }>;
  /** Gives a pod's node another `net_ticktime`, in seconds. */
  setTicktime(pod: string, seconds: number): Promise<PodInfo>;
  /**
   * Restarts one pod's container with another release of the app: the code skew of a deploy that
   * reached one pod. Replacing the pod (delete it; the ReplicaSet creates one from the template)
   * ends it.
   */
  setAppVersion(pod: string, version: string): Promise<PodInfo>;
  /**
   * A rolling upgrade: the Deployment's template takes `version` and a rollout replaces the pods
   * one by one (as `rolloutRestart`, with maxSurge 1), so the skew shows while it runs and goes
   * when it is done.
   */
  upgrade(version: string): Promise<void>;
  /** Every pod with its restart count and what its container reports, and the runtime's figures. */
  status(): Promise<{ pods: PodStatusReport[]; runtime?: unknown }>;
}
