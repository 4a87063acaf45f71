/**
 * `GET /api/clusters/{id}/registries`: the copies of every replicated registry compared now, per
 * partition, with what each comparison cost. Plain data, shared with the browser.
 */
import type { RegistryDivergence } from './cluster-state';

/** One partition's copies of one registry, compared. */
export interface RegistryComparison {
  registry: string;
  /** Index into the state's partitions when it was compared. */
  partition: number;
  /** The nodes whose copies were compared. */
  nodes: string[];
  missing: RegistryDivergence['missing'];
  duplicates: RegistryDivergence['duplicates'];
  /** Remote calls made, and keys shipped back (only where copies' counts differed). */
  calls: number;
  keysFetched: number;
  /** Groups of copies agreeing on every host's count, and hosts where the groups differ. */
  groups: number;
  hostsCompared: number;
  durationMs: number;
}

export interface RegistryComparisonResponse {
  clusterId: string;
  comparedAt: number;
  comparisons: RegistryComparison[];
}
