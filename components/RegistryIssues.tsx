import type { ReactNode } from 'react';

import type { RegistryDivergence, RegistryRebalance } from '@/lib/cluster-state';
import { formatClock, formatCount } from '@/lib/format';
import {
  divergenceCounts,
  listNodes,
  partitionName,
  rebalanceProgress,
  rebalanceText,
} from '@/lib/registry-view';

/** A rebalance under way: what moved so far, the rate, the time to balanced, and a progress bar. */
export function RegistryRebalanceNote({
  rebalance,
  unit,
}: {
  rebalance: RegistryRebalance;
  unit: string;
}) {
  const progress = rebalanceProgress(rebalance);
  return (
    <div
      role="status"
      data-testid="registry-rebalance"
      className="rounded border border-sky-200 bg-sky-50 px-2 py-1.5 text-xs text-sky-950 dark:border-sky-900 dark:bg-sky-950/50 dark:text-sky-100"
    >
      <p>
        <span aria-hidden>⟳ </span>
        <span className="font-semibold">Rebalancing</span> {rebalanceText(rebalance, unit)}
      </p>
      {progress !== null ? (
        <div
          role="progressbar"
          aria-label="Rebalance progress"
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuenow={Math.round(progress * 100)}
          className="mt-1 h-1.5 overflow-hidden rounded bg-sky-100 dark:bg-sky-900"
        >
          <div
            className="h-full bg-sky-600 dark:bg-sky-400"
            style={{ width: `${(progress * 100).toFixed(1)}%` }}
          />
        </div>
      ) : null}
    </div>
  );
}

/** A list of nodes, the first few named and the rest counted; every one in the hover. */
function Nodes({ nodes }: { nodes: readonly string[] }) {
  return (
    <span className="font-mono" title={nodes.join(', ')}>
      {listNodes(nodes)}
    </span>
  );
}

/** The first few of `count` names, and how many more there are. */
function Sample({ title, count, items }: { title: string; count: number; items: ReactNode[] }) {
  if (items.length === 0) return null;
  return (
    <div>
      <p className="font-semibold">{title}</p>
      <ul className="space-y-0.5">{items}</ul>
      {count > items.length ? (
        <p className="text-red-800 dark:text-red-300">
          and {formatCount(count - items.length)} more
        </p>
      ) : null}
    </div>
  );
}

/**
 * Copies of a partition that disagree: how many names are missing on some copies and how many
 * resolve to different processes, with the first few of each — which nodes hold each view. A
 * `<details>`, so it opens with the keyboard and stays short until asked.
 */
export function RegistryDivergenceNote({
  divergence,
  mainPartition,
  unit,
}: {
  divergence: RegistryDivergence;
  mainPartition: number | null;
  unit: string;
}) {
  const { missing, duplicates } = divergence;
  return (
    <details
      data-testid="registry-divergence"
      data-missing={missing.count}
      data-duplicates={duplicates.count}
      className="rounded border border-red-200 bg-red-50 px-2 py-1.5 text-xs text-red-950 dark:border-red-900 dark:bg-red-950/50 dark:text-red-100"
    >
      <summary className="cursor-pointer rounded focus-visible:outline-2 focus-visible:outline-red-500">
        <span aria-hidden>⚠ </span>
        <span className="font-semibold">
          Copies disagree in {partitionName(divergence.partition, mainPartition)}
        </span>{' '}
        since {formatClock(divergence.since)}: {divergenceCounts(divergence, unit)}
      </summary>
      <div className="mt-1 space-y-1.5">
        <Sample
          title="Missing on some copies"
          count={missing.count}
          items={missing.sample.map((entry) => (
            <li key={entry.name} data-testid="divergence-missing">
              <span className="font-mono font-semibold">{entry.name}</span>: held by{' '}
              <Nodes nodes={entry.heldBy} />; missing on <Nodes nodes={entry.missingOn} />
            </li>
          ))}
        />
        <Sample
          title="Resolving to different processes"
          count={duplicates.count}
          items={duplicates.sample.map((entry) => (
            <li key={entry.name} data-testid="divergence-duplicate">
              <span className="font-mono font-semibold">{entry.name}</span>
              <ul className="ml-3 list-disc pl-3">
                {entry.views.map((view) => (
                  <li key={`${view.pid}@${view.pidNode}`}>
                    <span className="font-mono">{view.pid}</span> on{' '}
                    <span className="font-mono">{view.pidNode}</span>, as held by{' '}
                    <Nodes nodes={view.heldBy} />
                  </li>
                ))}
              </ul>
            </li>
          ))}
        />
        <p className="text-red-800 dark:text-red-300">
          Last compared at {formatClock(divergence.comparedAt)}.
        </p>
      </div>
    </details>
  );
}
