'use client';

import type { LinkState } from '@/lib/dashboard';
import { formatClock } from '@/lib/format';

/**
 * The live link, named (never colour alone): live, connecting, reconnecting, or stale since a
 * time with the reason.
 */
export function LinkStateBadge({ link }: { link: LinkState }) {
  const [icon, text, tone] =
    link.status === 'live'
      ? ['●', 'live', 'bg-green-100 text-green-900 dark:bg-green-950 dark:text-green-200']
      : link.status === 'connecting'
        ? ['◌', 'connecting…', 'bg-slate-100 text-slate-700 dark:bg-slate-800 dark:text-slate-200']
        : link.status === 'reconnecting'
          ? [
              '↻',
              `reconnecting (lost at ${formatClock(link.since)}: ${link.reason})`,
              'bg-amber-100 text-amber-900 dark:bg-amber-950 dark:text-amber-200',
            ]
          : [
              '⚠',
              `stale since ${formatClock(link.since)} — ${link.reason}; retrying`,
              'bg-red-100 text-red-900 dark:bg-red-950 dark:text-red-200',
            ];
  return (
    <span
      role="status"
      aria-live="polite"
      data-testid="link-state"
      data-state={link.status}
      className={`inline-flex items-center gap-1.5 rounded px-2 py-1 text-sm ${tone}`}
    >
      <span aria-hidden>{icon}</span>
      {text}
    </span>
  );
}
