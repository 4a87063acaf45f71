import 'server-only';

/**
 * server/collector owns each cluster's live model: it joins the Kubernetes members with what the
 * probes learn of their BEAM nodes into a `ClusterState`, numbers every change as a delta or a
 * timeline event for the event streams, and keeps the recent past (replay ring, timeline,
 * per-node history) and the cluster's Prometheus metrics. `collector.ts` composes the parts;
 * this module starts one collector per cluster with its upstreams.
 */

import { readCookie, type BeamscopeConfig, type ClusterConfig, type Environment } from '../config';
import { describeError, isBeamscopeError } from '../errors';
import { mapAddress } from '../erlang/address-map';
import { ConnectionManager, type ConnectionManagerOptions } from '../erlang/manager';
import { ThreadedConnectionManager } from './thread/threaded-manager';
import { commandLineNodeName, defaultLocalNodeName, type LocalNodeRole } from '../erlang/node-name';
import type { ProbeOptions } from '../erlang/probes';
import { KubernetesSource, type KubernetesSourceOptions } from '../kubernetes/source';
import { Collector, type CollectorOptions } from './collector';
import type { DistributionError } from './options';

export {
  Collector,
  type CollectorManager,
  type CollectorMessage,
  type CollectorOptions,
  type CollectorSnapshot,
  type CollectorSource,
} from './collector';
export { NodeHistory } from './history';
export { Ring } from './ring';

/** One cluster's upstreams: its Kubernetes source, its node connections, its collector. */
export interface ClusterCollector {
  cluster: ClusterConfig;
  source: KubernetesSource;
  /**
   * Null when the distribution side cannot run (the cookie cannot be read). On a thread of its
   * own unless a seam of `options.manager` is a function (see {@link startClusterCollector}).
   */
  manager: ConnectionManager | ThreadedConnectionManager | null;
  collector: Collector;
  /** Stops the collector, closes every node connection and the Kubernetes watches. */
  stop(): Promise<void>;
}

export interface StartClusterCollectorOptions {
  /** The hidden node's name: `node.name` from the config, else the server's default. */
  localName?: string;
  env?: Environment;
  /** Seam: an existing source (started here if it is not yet). */
  source?: KubernetesSource;
  sourceOptions?: KubernetesSourceOptions;
  /**
   * Extra manager options (backoff, timeouts) and seams. A function seam (`connect`, `random`,
   * `dialHost`) cannot cross to a thread: with one, the manager runs on the calling thread.
   */
  manager?: Partial<ConnectionManagerOptions>;
  collector?: Partial<Omit<CollectorOptions, 'clusterId' | 'source' | 'manager' | 'localNode'>>;
}

/**
 * The hidden node name for `config`: `node.name` (with `_cli` added for the command line, so a
 * run beside the server never takes over its connections), else the default for the role.
 */
export function localNodeName(
  config: Pick<BeamscopeConfig, 'node'>,
  role: LocalNodeRole = 'server',
): string {
  const configured = config.node?.name;
  if (configured === undefined) return defaultLocalNodeName(role);
  return role === 'server' ? configured : commandLineNodeName(configured);
}

/** The registries the cluster's configuration names, as the probes take them. */
export function probeRegistries(cluster: Pick<ClusterConfig, 'registries'>): ProbeOptions {
  const registries = cluster.registries;
  if (!registries) return {};
  return {
    elixirRegistries: registries.elixir,
    hordeRegistries: registries.hordeRegistries,
    hordeSupervisors: registries.hordeSupervisors,
    ...(registries.synScopes ? { synScopes: registries.synScopes } : {}),
  };
}

/**
 * Starts watching and probing one cluster. A cookie that cannot be read does not stop the
 * Kubernetes side: the collector runs without a distribution side and says why on every member.
 */
export async function startClusterCollector(
  cluster: ClusterConfig,
  options: StartClusterCollectorOptions = {},
): Promise<ClusterCollector> {
  const localName = options.localName ?? defaultLocalNodeName('server');
  const source = options.source ?? new KubernetesSource(cluster, options.sourceOptions);
  let manager: ConnectionManager | ThreadedConnectionManager | null = null;
  let distributionError: DistributionError | undefined;
  try {
    const cookie = await readCookie(cluster, options.env);
    const { connect, random, dialHost, ...plain } = options.manager ?? {};
    const distribution = cluster.distribution;
    const setup = {
      localName,
      cookie,
      ...(distribution.port !== undefined ? { port: distribution.port } : {}),
      ...(distribution.tls ? { tls: distribution.tls } : {}),
      ...plain,
    };
    // The server's probes at 1,000 nodes held its one thread for 100 ms and more at a time:
    // the connections and the probes run on a thread of their own, unless a test's seam (a
    // function) has to stay with the caller.
    manager =
      connect || random || dialHost
        ? new ConnectionManager({
            ...setup,
            ...(distribution.addressMap?.length
              ? { dialHost: (host: string) => mapAddress(host, distribution.addressMap!) }
              : {}),
            ...options.manager,
          })
        : new ThreadedConnectionManager(
            {
              ...setup,
              ...(distribution.addressMap?.length ? { addressMap: distribution.addressMap } : {}),
            },
            cluster.id,
          );
  } catch (error) {
    distributionError = {
      code: isBeamscopeError(error, 'config') ? error.code : 'distribution_unavailable',
      reason: describeError(error),
    };
  }
  const collector = new Collector({
    clusterId: cluster.id,
    localNode: localName,
    source,
    manager,
    ...(distributionError ? { distributionError } : {}),
    ...options.collector,
    probe: { ...probeRegistries(cluster), ...options.collector?.probe },
  });
  source.start();
  collector.start();
  return {
    cluster,
    source,
    manager,
    collector,
    async stop() {
      collector.stop();
      await Promise.all([manager?.close(), source.stop()]);
    },
  };
}
