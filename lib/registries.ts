/**
 * Registry counts as the dashboard reads them: a replicated registry's count is the replica's
 * size, the same on every node; what a node hosts is the entries whose process lives there.
 */
import type { BeamSide } from './cluster-state';

/** Names a node hosts across its registries (Swarm's hosted names plus Elixir Registry keys). */
export function hostedNames(side: BeamSide): number | null {
  let total: number | null = null;
  for (const registry of side.registries) {
    const hosted = registry.hosted ?? (registry.replicated ? null : registry.count);
    if (hosted !== null) total = (total ?? 0) + hosted;
  }
  return total;
}
