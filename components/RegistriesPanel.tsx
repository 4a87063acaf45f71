'use client';

import { memo, useMemo, useState } from 'react';

import type { ClusterState } from '@/lib/cluster-state';
import { registryViews } from '@/lib/registry-view';

import { RegistryCard } from './RegistryCard';

// A card's view is kept while the registries are (below): a delta of other fields, or of other
// members, renders no card again, and a card draws a bar per node.
const StableRegistryCard = memo(RegistryCard);

/** Props of {@link RegistriesPanel}. */
export interface RegistriesPanelProps {
  state: ClusterState;
  /** A node's name was picked (a bar or a table row): open it. */
  onSelectNode(node: string): void;
}

/**
 * Every registry the nodes report: per node what it hosts (bars, or a table), the total with each
 * entry counted once, the spread, the invariant "hosted adds up to the registry's size", nodes
 * that host nothing yet, rebalances under way and copies that disagree.
 */
export function RegistriesPanel({ state, onSelectNode }: RegistriesPanelProps) {
  const [asTable, setAsTable] = useState(false);
  // What the views read of the state: a delta keeps each of these by identity unless it changed.
  const { registries, mainPartition, rebalances, divergences } = state;
  const views = useMemo(
    () => registryViews({ registries, mainPartition, rebalances, divergences }),
    [registries, mainPartition, rebalances, divergences],
  );
  return (
    <section
      aria-labelledby="registries-heading"
      data-testid="registries-panel"
      className="rounded-lg border border-slate-200 bg-white dark:border-slate-800 dark:bg-slate-900"
    >
      <div className="flex flex-wrap items-center gap-3 border-b border-slate-200 px-3 py-2 dark:border-slate-800">
        <h2 id="registries-heading" className="font-semibold">
          Registries
        </h2>
        <span className="text-sm text-slate-500">
          what each node hosts — entries whose process lives there
        </span>
        <div
          role="group"
          aria-label="Show registries as"
          className="ml-auto inline-flex overflow-hidden rounded border border-slate-300 text-sm dark:border-slate-700"
        >
          {(['bars', 'table'] as const).map((mode) => {
            const pressed = (mode === 'table') === asTable;
            return (
              <button
                key={mode}
                type="button"
                aria-pressed={pressed}
                onClick={() => setAsTable(mode === 'table')}
                className={`px-2 py-0.5 focus-visible:outline-2 focus-visible:outline-sky-500 ${
                  pressed
                    ? 'bg-slate-800 text-white dark:bg-slate-200 dark:text-slate-900'
                    : 'hover:bg-slate-100 dark:hover:bg-slate-800'
                }`}
              >
                {mode === 'bars' ? 'Bars' : 'Table'}
              </button>
            );
          })}
        </div>
      </div>
      {views.length === 0 ? (
        <p className="p-4 text-sm text-slate-500" data-testid="registries-empty">
          No registry reported yet: none of Swarm, :global, :pg, syn, Horde or an Elixir Registry
          answered on the connected nodes.
        </p>
      ) : (
        <div className="grid gap-3 p-3 lg:grid-cols-2">
          {views.map((view) => (
            <StableRegistryCard
              key={view.registry}
              view={view}
              mainPartition={mainPartition}
              asTable={asTable}
              onSelectNode={onSelectNode}
            />
          ))}
        </div>
      )}
    </section>
  );
}
