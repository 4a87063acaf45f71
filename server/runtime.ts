import 'server-only';

import type { ClusterSnapshot, ClusterSummary } from '@/lib/api';

import { localNodeName, startClusterCollector, type ClusterCollector } from './collector';
import type { Collector } from './collector/collector';
import { loadConfig, type BeamscopeConfig, type ClusterConfig } from './config';
import { BeamscopeError } from './errors';
import { ClusterHistory, openProcessHistory, type ProcessHistory } from './history/runtime-history';
import type { KubernetesSource } from './kubernetes';
import { createLogger, logFormat, logSourceStates } from './log';

/**
 * One configured cluster's upstreams — its Kubernetes source and its collector, shared by every
 * request — and its history (the recorder that keeps it, the store that answers for the past).
 */
export class ClusterRuntime {
  constructor(
    private readonly upstream: ClusterCollector,
    readonly history: ClusterHistory,
  ) {}

  get config(): ClusterConfig {
    return this.upstream.cluster;
  }

  get kubernetes(): KubernetesSource {
    return this.upstream.source;
  }

  get collector(): Collector {
    return this.upstream.collector;
  }

  summary(): ClusterSummary {
    const members = this.kubernetes.members();
    const state = this.collector.snapshot().state;
    const { discovery } = this.config;
    return {
      id: this.config.id,
      displayName: this.config.displayName,
      namespace: this.kubernetes.namespace,
      discovery: {
        mode: discovery.mode,
        target:
          discovery.mode === 'endpointSlices'
            ? `service ${discovery.service ?? ''}`
            : `selector ${discovery.selector ?? ''}`,
      },
      members: { total: members.length, ready: members.filter((member) => member.ready).length },
      mesh: {
        connected: state.members.filter((member) => member.beam?.connection.status === 'connected')
          .length,
        partitions: state.partitions.length,
        unclustered: state.unclustered.length,
      },
      kubernetes: this.kubernetes.status(),
    };
  }

  /** The cluster's state with its sequence number, as `GET /api/clusters/{id}` serves it. */
  snapshot(): ClusterSnapshot {
    return { cluster: this.summary(), ...this.collector.snapshot(), at: Date.now() };
  }

  /** Stops recording first (what was gathered is written), then the upstreams. */
  async stop(): Promise<void> {
    await this.history.stop();
    await this.upstream.stop();
  }
}

/**
 * Everything the server process watches: one runtime per configured cluster, created once per
 * process however many requests and browser tabs arrive (one upstream, many subscribers).
 */
export class BeamscopeRuntime {
  private constructor(
    readonly config: BeamscopeConfig,
    readonly clusters: ReadonlyMap<string, ClusterRuntime>,
    private readonly history: ProcessHistory,
  ) {}

  /** Loads the configuration and starts watching and probing every cluster in it. */
  static async start(
    configPath?: string,
    env: NodeJS.ProcessEnv = process.env,
  ): Promise<BeamscopeRuntime> {
    const log = createLogger(logFormat(env));
    const config = await loadConfig(configPath, env);
    const localName = localNodeName(config);
    // One store for the process, whatever the number of clusters; recording starts with each.
    const history = await openProcessHistory(config, log);
    const clusters = new Map<string, ClusterRuntime>();
    for (const cluster of config.clusters) {
      const upstream = await startClusterCollector(cluster, { localName, env });
      // The log names each change of the cluster's sources, as the dashboard shows it.
      logSourceStates(
        cluster.id,
        {
          distribution: upstream.collector.snapshot().state.distribution,
          kubernetes: upstream.source,
        },
        log,
      );
      const recorded = new ClusterHistory(history, upstream.collector, log);
      clusters.set(cluster.id, new ClusterRuntime(upstream, recorded));
    }
    return new BeamscopeRuntime(config, clusters, history);
  }

  cluster(id: string): ClusterRuntime {
    const cluster = this.clusters.get(id);
    if (!cluster) {
      throw new BeamscopeError(
        'http',
        'cluster_not_found',
        `no cluster is configured with the id '${id}'`,
      );
    }
    return cluster;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.clusters.values()].map((cluster) => cluster.stop()));
    await this.history.store?.close();
  }
}

// Route handlers are bundled separately from instrumentation.ts, so module-level state is not
// shared between them: the one runtime lives on globalThis.
const holder = globalThis as typeof globalThis & { __beamscopeRuntime?: Promise<BeamscopeRuntime> };

/** The process's runtime, started on first use from `BEAMSCOPE_CONFIG`. */
export function getRuntime(): Promise<BeamscopeRuntime> {
  holder.__beamscopeRuntime ??= BeamscopeRuntime.start();
  return holder.__beamscopeRuntime;
}
