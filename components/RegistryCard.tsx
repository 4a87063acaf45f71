'use client';

import { formatCount } from '@/lib/format';
import {
  IMBALANCE_WARN,
  imbalanceText,
  invariantText,
  listNodes,
  uncheckedText,
  type RegistryView,
} from '@/lib/registry-view';

import { RegistryBars } from './RegistryBars';
import { RegistryDivergenceNote, RegistryRebalanceNote } from './RegistryIssues';
import { RegistryTable } from './RegistryTable';

const TONES = {
  ok: 'text-green-700 dark:text-green-400',
  warn: 'text-amber-700 dark:text-amber-400',
  error: 'text-red-700 dark:text-red-400',
  quiet: 'text-slate-500 dark:text-slate-400',
} as const;

/** The invariant, stated: holds (✓), breaks (⚠, plainly), or why it is not checked. */
function Invariant({ view }: { view: RegistryView }) {
  const text = invariantText(view.invariant);
  const unchecked = uncheckedText(view);
  if (text === null && unchecked === null) return null;
  const holds = view.invariant?.holds ?? false;
  return (
    <p
      data-testid="registry-invariant"
      className={`text-xs ${view.invariant ? (holds ? TONES.ok : TONES.error) : TONES.warn}`}
    >
      <span aria-hidden>{holds ? '✓ ' : '⚠ '}</span>
      {text ?? unchecked}
      {view.invariant && !holds ? (
        <span className="text-slate-600 dark:text-slate-300">
          {' '}
          ({formatCount(Math.abs(view.invariant.size - view.invariant.hostedSum))}{' '}
          {view.invariant.hostedSum < view.invariant.size ? 'short' : 'over'})
        </span>
      ) : null}
    </p>
  );
}

/** Props of {@link RegistryCard}. */
export interface RegistryCardProps {
  view: RegistryView;
  mainPartition: number | null;
  /** Show the table instead of the bars (the table is always there for screen readers). */
  asTable: boolean;
  onSelectNode(node: string): void;
}

/**
 * One registry: its total, how the copies compare, the spread of what the nodes host (bars and
 * table), the invariant, and — when there is one — a rebalance under way and copies that
 * disagree. A replicated registry states its copy's size once, beside the total; a node-local one
 * has none.
 */
export function RegistryCard({ view, mainPartition, asTable, onSelectNode }: RegistryCardProps) {
  const headingId = `registry-${view.registry.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  const imbalance = imbalanceText(view.imbalance);
  const copies =
    view.copies === null
      ? null
      : view.copies.min === view.copies.max
        ? `each node’s copy holds ${formatCount(view.copies.max)}`
        : `copies hold ${formatCount(view.copies.min)}–${formatCount(view.copies.max)}`;
  return (
    <article
      aria-labelledby={headingId}
      data-testid="registry"
      data-registry={view.registry}
      data-replicated={view.replicated}
      data-total={view.total}
      data-hosted-total={view.hostedTotal ?? ''}
      data-invariant={view.invariant ? (view.invariant.holds ? 'holds' : 'broken') : 'unchecked'}
      data-flags={view.flags.join(' ')}
      className="flex min-w-0 flex-col gap-1.5 rounded-md border border-slate-200 p-3 dark:border-slate-800"
    >
      <header className="flex flex-wrap items-baseline gap-x-2 gap-y-0.5">
        <h3 id={headingId} className="font-semibold">
          {view.label}
        </h3>
        <span
          className="rounded bg-slate-100 px-1.5 text-xs text-slate-600 dark:bg-slate-800 dark:text-slate-300"
          title={
            view.replicated
              ? 'Every node holds a copy of the whole registry: a copy’s size is the registry’s, not the node’s'
              : 'Each node holds only its own entries: no copy to compare'
          }
        >
          {view.replicated ? 'replicated' : 'node-local'}
        </span>
        <span className="ml-auto text-sm tabular-nums">
          <span className="font-semibold" data-testid="registry-total">
            {formatCount(view.total)}
          </span>{' '}
          {view.unit}
          {view.groups !== null ? ` in ${formatCount(view.groups)} groups` : ''}
        </span>
      </header>
      <p className="flex flex-wrap gap-x-3 text-xs text-slate-600 tabular-nums dark:text-slate-300">
        {copies ? <span>{copies}</span> : <span>across {view.nodes} nodes</span>}
        {view.mean !== null ? (
          <span>
            <span aria-hidden className="text-slate-400">
              ┆{' '}
            </span>
            mean {formatCount(Math.round(view.mean))} per node
          </span>
        ) : null}
        {imbalance ? (
          <span
            data-testid="registry-imbalance"
            className={view.flags.includes('imbalanced') ? TONES.warn : undefined}
            title={`The busiest node hosts ${view.imbalance?.toFixed(2)}× the mean (warns from ${IMBALANCE_WARN})`}
          >
            {view.flags.includes('imbalanced') ? '⚠ ' : ''}
            {imbalance}
          </span>
        ) : null}
      </p>
      <Invariant view={view} />
      {view.idle.length > 0 ? (
        <p data-testid="registry-idle" className={`text-xs ${TONES.warn}`}>
          <span aria-hidden>⚠ </span>
          <span className="font-mono" title={view.idle.join(', ')}>
            {listNodes(view.idle)}
          </span>{' '}
          {view.idle.length === 1 ? 'joined, hosts nothing yet' : 'joined, host nothing yet'}
        </p>
      ) : null}
      {view.rebalance ? (
        <RegistryRebalanceNote rebalance={view.rebalance} unit={view.unit} />
      ) : null}
      {view.divergences.map((divergence) => (
        <RegistryDivergenceNote
          key={divergence.partition}
          divergence={divergence}
          mainPartition={mainPartition}
          unit={view.unit}
        />
      ))}
      {asTable ? null : (
        <RegistryBars view={view} mainPartition={mainPartition} onSelectNode={onSelectNode} />
      )}
      <RegistryTable
        view={view}
        mainPartition={mainPartition}
        visible={asTable}
        onSelectNode={onSelectNode}
      />
    </article>
  );
}
