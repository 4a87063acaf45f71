'use client';

import type { KubernetesSourceStatus } from '@/lib/members';
import { formatClock } from '@/lib/format';

/** The state of a cluster's Kubernetes watch, named plainly (live, syncing, or the error's reason). */
export function SourceStatusBadge({ status }: { status: KubernetesSourceStatus }) {
  if (status.state === 'error') {
    return (
      <span
        role="status"
        data-testid="kubernetes-status"
        data-state="error"
        className="inline-flex items-center gap-2 rounded bg-red-100 px-2 py-1 text-sm text-red-900 dark:bg-red-950 dark:text-red-200"
      >
        <span aria-hidden className="size-2 rounded-full bg-red-600" />
        Kubernetes: {status.reason} (since {formatClock(status.since)})
      </span>
    );
  }
  const live = status.state === 'ok';
  return (
    <span
      role="status"
      data-testid="kubernetes-status"
      data-state={status.state}
      className="inline-flex items-center gap-2 rounded bg-slate-100 px-2 py-1 text-sm dark:bg-slate-800"
    >
      <span
        aria-hidden
        className={`size-2 rounded-full ${live ? 'bg-green-600' : 'bg-amber-500'}`}
      />
      Kubernetes: {live ? 'watching' : 'syncing…'}
    </span>
  );
}
