import 'server-only';

import type { BeamscopeConfig, ClusterConfig } from '../config';
import { UsageError } from './command';

/** The cluster `--cluster` names, or the only one; a usage error otherwise. */
export function pickCluster(config: BeamscopeConfig, id: string | undefined): ClusterConfig {
  const ids = config.clusters.map((cluster) => cluster.id);
  if (id === undefined) {
    if (config.clusters.length === 1) return config.clusters[0]!;
    throw new UsageError(
      `${config.sourcePath} has several clusters (${ids.join(', ')}): pick one with --cluster`,
    );
  }
  const cluster = config.clusters.find((candidate) => candidate.id === id);
  if (!cluster)
    throw new UsageError(`no cluster "${id}" in ${config.sourcePath} (it has: ${ids.join(', ')})`);
  return cluster;
}
