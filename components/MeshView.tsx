'use client';

import { useMemo, useState } from 'react';

import { ADJACENCY_DEFAULT_THRESHOLD, AdjacencyBuilder } from '@/lib/adjacency';
import type { ClusterState } from '@/lib/cluster-state';
import { GraphModelBuilder } from '@/lib/graph-model';
import type { MeshBuilder } from '@/lib/mesh';

import { AdjacencyView } from './AdjacencyView';
import { TopologyGraph } from './TopologyGraph';

/** The two ways to draw the mesh. */
export type MeshViewKind = 'graph' | 'adjacency';

/** The view a cluster of `members` opens on: the matrix once a node-link drawing is a cloud. */
export function defaultMeshView(members: number): MeshViewKind {
  return members > ADJACENCY_DEFAULT_THRESHOLD ? 'adjacency' : 'graph';
}

/** Props of {@link MeshView}. */
export interface MeshViewProps {
  state: ClusterState;
  /** The page's mesh builder, shared so a delta costs only what it changed. */
  meshes: MeshBuilder;
  selectedKey: string | null;
  onSelect(key: string | null): void;
}

/**
 * The mesh panel: the topology graph or the adjacency matrix, with a switch between them. It
 * opens on the matrix above {@link ADJACENCY_DEFAULT_THRESHOLD} members; a choice made with the
 * switch holds for the page.
 */
export function MeshView({ state, meshes, selectedKey, onSelect }: MeshViewProps) {
  const [chosen, setChosen] = useState<MeshViewKind | null>(null);
  const view = chosen ?? defaultMeshView(state.members.length);
  // Built only while shown: N² cells are cheap to fill, not free (and kept while the lists are).
  const [adjacencies] = useState(() => new AdjacencyBuilder());
  const adjacency = useMemo(
    () => (view === 'adjacency' ? adjacencies.build(state) : null),
    [view, state, adjacencies],
  );
  // Likewise the graph's model: not rebuilt for every delta while the matrix is what is shown,
  // and handed back as it was when a delta changed nothing it draws.
  const [graphs] = useState(() => new GraphModelBuilder(meshes));
  const model = useMemo(
    () => (view === 'graph' ? graphs.build(state) : null),
    [view, state, graphs],
  );

  return (
    <div className="relative h-full" data-testid="mesh-view" data-view={view}>
      {adjacency ? (
        <AdjacencyView model={adjacency} selectedKey={selectedKey} onSelect={onSelect} />
      ) : model ? (
        <TopologyGraph model={model} selectedKey={selectedKey} onSelect={onSelect} />
      ) : null}
      <div
        role="group"
        aria-label="Mesh view"
        className="absolute left-3 top-3 z-10 flex overflow-hidden rounded border border-slate-300 bg-white text-xs dark:border-slate-700 dark:bg-slate-900"
      >
        {(['graph', 'adjacency'] as const).map((kind) => (
          <button
            key={kind}
            type="button"
            aria-pressed={view === kind}
            data-testid={`mesh-view-${kind}`}
            onClick={() => setChosen(kind)}
            className={`px-2 py-1 ${
              view === kind
                ? 'bg-slate-800 text-white dark:bg-slate-200 dark:text-slate-900'
                : 'hover:bg-slate-50 dark:hover:bg-slate-800'
            }`}
          >
            {kind === 'graph' ? 'Graph' : 'Adjacency'}
          </button>
        ))}
      </div>
    </div>
  );
}
