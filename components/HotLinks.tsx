'use client';

import { useMemo, useState } from 'react';

import type { ClusterState } from '@/lib/cluster-state';
import { formatAge, formatBytes } from '@/lib/format';
import { HotLinksBuilder } from '@/lib/hot-links';
import { formatRate, type LinkTraffic } from '@/lib/links';

/** Props of {@link HotLinks}. */
export interface HotLinksProps {
  state: ClusterState;
  /** How many links to name; default 5. */
  limit?: number;
  /** A node's name was clicked. */
  onSelectNode(node: string): void;
}

function NodeButton({ node, onSelect }: { node: string; onSelect(node: string): void }) {
  return (
    <button
      type="button"
      onClick={() => onSelect(node)}
      className="font-mono text-sky-700 hover:underline dark:text-sky-300"
    >
      {node}
    </button>
  );
}

function HotLinkRow({
  link,
  now,
  onSelectNode,
}: { link: LinkTraffic; now: number } & Pick<HotLinksProps, 'onSelectNode'>) {
  return (
    <li
      data-testid="hot-link"
      data-a={link.a}
      data-b={link.b}
      data-busy={link.busy}
      data-rate={link.rate ?? ''}
      className={`flex flex-wrap items-baseline gap-x-3 gap-y-1 rounded px-2 py-1.5 ${
        link.busy ? 'bg-red-50 dark:bg-red-950/50' : ''
      }`}
    >
      <span className="flex items-baseline gap-1">
        <NodeButton node={link.a} onSelect={onSelectNode} />
        <span aria-label="and" className="text-slate-400">
          ↔
        </span>
        <NodeButton node={link.b} onSelect={onSelectNode} />
      </span>
      <span className="tabular-nums font-semibold" title="packets per second, both ways">
        {formatRate(link.rate)}
      </span>
      <span className="text-xs tabular-nums text-slate-500">
        → {formatRate(link.aToB)} · ← {formatRate(link.bToA)}
      </span>
      {link.queueBytes !== null && link.queueBytes > 0 ? (
        <span className="text-xs tabular-nums text-slate-600 dark:text-slate-300">
          queued {formatBytes(link.queueBytes)}
        </span>
      ) : null}
      {link.busy ? (
        <span
          data-testid="hot-link-busy"
          title={`the send queue is full at ${link.busyAt.join(', ')}: messages wait, ticks too`}
          className="rounded bg-red-600 px-1.5 py-0.5 text-xs font-semibold text-white"
        >
          busy at {link.busyAt.join(', ')}
        </span>
      ) : null}
      {link.since !== null ? (
        <span
          className="ml-auto text-xs text-slate-500"
          title="up without a break, as beamscope saw it"
        >
          up {formatAge(link.since, now)}
        </span>
      ) : null}
    </li>
  );
}

/**
 * The busiest distribution links, busy ones first: packets per second both ways (as each sender
 * counts them), bytes waiting in the send queue, and how long the link has been up.
 */
export function HotLinks({ state, limit = 5, onSelectNode }: HotLinksProps) {
  // Kept across deltas: a delta joins again only the links of the members it replaced.
  const [builder] = useState(() => new HotLinksBuilder());
  const links = useMemo(() => builder.hot(state.members, limit), [builder, state.members, limit]);
  return (
    <section
      aria-label="Hot links"
      data-testid="hot-links"
      className="rounded-lg border border-slate-200 bg-white p-3 text-sm dark:border-slate-800 dark:bg-slate-900"
    >
      <h2 className="mb-2 font-semibold">
        Hot links{' '}
        <span className="font-normal text-slate-500">
          · distribution packets per second, as each node counts them
        </span>
      </h2>
      {links.length === 0 ? (
        <p className="text-slate-500" data-testid="hot-links-empty">
          No traffic measured yet: rates need two readings of each node.
        </p>
      ) : (
        <ol className="space-y-1">
          {links.map((link) => (
            <HotLinkRow key={link.key} link={link} now={state.at} onSelectNode={onSelectNode} />
          ))}
        </ol>
      )}
    </section>
  );
}
