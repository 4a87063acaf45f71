import 'server-only';

// The sandbox BEAM runtime's public shapes: its options, where the pods find the API, and what
// it reports. Apart from the runtime so that the command line (erl-args) can take its options
// without importing the runtime that spawns from it.

import type { PodInfo } from '../kube-api';
import type { PodNetworkPlan } from '../pod-network';

/** Where the pods' demo app asks the Kubernetes API for its peers. */
export interface BeamPodApi {
  /** `http(s)://host:port` of the (emulated) API server. */
  url: string;
  /** The pods' bearer token (handed to each node in a 0600 file, as a mounted token would be). */
  token: string;
  /** Default 'default'. */
  namespace?: string;
  /** The API's CA for https; absent = the nodes do not verify the server certificate. */
  caFile?: string;
}

/** Options of `BeamPodRuntime`. */
export interface BeamPodRuntimeOptions {
  /** The cluster's Erlang cookie (kept out of command lines: each node reads it from its HOME). */
  cookie: string;
  /** Known up front, or given later with `BeamPodRuntime.attach` (after startEmulatedApi). */
  api?: BeamPodApi;
  /** The Service whose endpoints list the peers; default 'myapp'. */
  service?: string;
  /** Which API the nodes poll for peers; default 'endpointSlices'. */
  discovery?: 'endpointSlices' | 'endpoints';
  /**
   * `epmdless` (default): every node `basename@<pod IP>` on the same port on its own loopback
   * address, no EPMD — as many Kubernetes releases run. `epmd`: the machine's one EPMD serves
   * every node, so names must differ: `basename-A-B-C-D@<pod IP>`, ports ephemeral.
   */
  distribution?: 'epmdless' | 'epmd';
  /** Where nodes listen and how peers reach them; default the loopback mode (no root). */
  network?: PodNetworkPlan;
  /** The shared distribution port in epmdless mode; default 9100 (what the sandbox config says). */
  distPort?: number;
  /** Node basename; default 'myapp'. */
  basename?: string;
  /** Simulated devices spread over the cluster; default 10,000. */
  devices?: number;
  /** :pg groups `{tenant, N}` the devices join; default 10. */
  tenants?: number;
  /** Every Nth device also holds a :global name; default 100 (0 = none). */
  globalEvery?: number;
  /** How often each node polls the API for peers; default 1000 ms (libcluster: 5000). */
  pollIntervalMs?: number;
  /** One `<pod>.log` per pod (appended across restarts); default `.beamscope/sandbox-logs`. */
  logDir?: string;
  /** Compiled app, one `ebin-<hash>` folder per source version; default `.beamscope/cache`. */
  cacheDir?: string;
  /**
   * Private files: the token and each pod's HOME (its cookie file lives there only until the
   * node is up). Default a fresh 0700 folder in the OS temp folder; stopAll removes it.
   */
  runDir?: string;
  /** The Erlang sources (`myapp*.erl`, `myapp.app.src`); default the folder beside this file. */
  sourceDir?: string;
  /** How long a node may take until its distribution is up; default 30,000 ms. */
  startTimeoutMs?: number;
  /** More `erl` arguments for every node (emulator flags, `-kernel` settings), appended last. */
  extraArgs?: string[];
  /** After `stop`, SIGKILL if the node has not exited; default 5,000 ms. */
  stopGraceMs?: number;
  /** A node exited without being asked to (kill, crash): restart it as a kubelet would. */
  onExit?: (pod: PodInfo, code: number | null, signal: NodeJS.Signals | null) => void;
}

/** What a node reports about itself through the control channel (`info`). */
export interface BeamPodNodeInfo {
  node: string;
  /** Connected nodes of the app (same basename), sorted. */
  nodes: string[];
  /** Nodes this one refuses (a partition). */
  refused: string[];
  /** Rows in this node's `swarm_registry` (its view of the whole registry). */
  registry: number;
  /** Rows whose pid lives on this node. */
  hosted: number;
  /** This node's view: rows per hosting node. */
  registryByNode: Record<string, number>;
  globalNames: number;
  pgGroups: number;
  processes: number;
  memoryBytes: number;
  /** The demo app release the node runs (see demo-versions.ts). */
  appVersion?: string;
}

/** Figures of `BeamPodRuntime.stats`. */
export interface BeamPodStats {
  /** Running nodes. */
  pods: number;
  startMs: {
    /** Spawn until distribution up, per running pod. */
    byPod: Record<string, number>;
    /** From the earliest spawn to the latest "up" among the running pods. */
    total: number;
  };
  /** Sum of VmRSS of the running emulators (counts the shared emulator code once per node). */
  rssBytes: number;
  /** Sum of their proportional set size: shared pages split between the nodes sharing them. */
  pssBytes: number;
}

/** The `exit` event's payload. */
export interface BeamPodExit {
  pod: PodInfo;
  node: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Asked for (stop, stopAll, a cookie change) rather than a kill or a crash. */
  expected: boolean;
}
