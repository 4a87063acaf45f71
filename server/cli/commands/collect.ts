import 'server-only';

import type { ClusterState } from '@/lib/cluster-state';

import type { Collector } from '../../collector';
import { loadConfig, type BeamscopeConfig, type ClusterConfig } from '../../config';
import { pickCluster } from '../clusters';

/** What one collection round learned. */
export interface CollectedCluster {
  config: BeamscopeConfig;
  cluster: ClusterConfig;
  state: ClusterState;
  /** Failures of the Kubernetes side that stopped a full list (RBAC, credentials, timeout). */
  kubernetesError: Error | null;
  /** Per watched resource kind, for the doctor's RBAC lines. */
  resources: Array<{ resource: string; state: string; reason?: string }>;
  /** False when some node had no outcome yet when the time ran out. */
  settled: boolean;
}

/**
 * Runs the same collector the server runs, once: waits for Kubernetes to list and for every
 * member's node to be probed or to fail, then stops everything. `timeoutMs` bounds the whole.
 * `whileConnected`, when given, runs on the settled collector before its connections close (the
 * `lookup` command asks its nodes then).
 */
export async function collectOnce(
  values: { config?: string; cluster?: string },
  timeoutMs: number,
  whileConnected?: (collector: Collector) => Promise<void>,
): Promise<CollectedCluster> {
  const config = await loadConfig(values.config);
  const cluster = pickCluster(config, values.cluster);
  // Loaded only now: client-node is large, and a configuration error should not wait for it.
  const { localNodeName, startClusterCollector } = await import('../../collector');
  const started = Date.now();
  const upstream = await startClusterCollector(cluster, {
    localName: localNodeName(config, 'cli'),
    sourceOptions: { watchEvents: false },
    collector: { pollIntervalMs: 1000 },
  });
  try {
    let kubernetesError: Error | null = null;
    try {
      await upstream.source.waitForSync(timeoutMs);
    } catch (error) {
      kubernetesError = error instanceof Error ? error : new Error(String(error));
    }
    const settled = await upstream.collector.settled(
      Math.max(0, timeoutMs - (Date.now() - started)),
    );
    await whileConnected?.(upstream.collector);
    return {
      config,
      cluster,
      state: upstream.collector.snapshot().state,
      kubernetesError,
      resources: upstream.source.resources(),
      settled,
    };
  } finally {
    await upstream.stop();
  }
}
