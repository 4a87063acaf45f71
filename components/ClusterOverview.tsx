'use client';

import type { ClusterListResponse, ClusterSnapshot } from '@/lib/api';
import { formatClock } from '@/lib/format';
import type { KubernetesMember } from '@/lib/members';

import { MembersTable } from './MembersTable';
import { SourceStatusBadge } from './SourceStatusBadge';
import { useApi } from './use-api';

function ClusterSection({ id }: { id: string }) {
  const { data, error } = useApi<ClusterSnapshot>(`/api/clusters/${encodeURIComponent(id)}`);
  if (!data) {
    return error ? (
      <p className="p-4 text-red-700">{error.message}</p>
    ) : (
      <div className="h-32 animate-pulse rounded bg-slate-200 dark:bg-slate-800" />
    );
  }
  const { cluster, state, timeline } = data;
  const members = state.members
    .map((member) => member.kubernetes)
    .filter((member): member is KubernetesMember => member !== null);
  return (
    <section
      aria-label={cluster.displayName}
      data-testid="cluster"
      data-cluster={cluster.id}
      className="rounded-lg border border-slate-200 bg-white shadow-sm dark:border-slate-800 dark:bg-slate-900"
    >
      <header className="flex flex-wrap items-center gap-x-6 gap-y-2 border-b border-slate-200 px-4 py-3 dark:border-slate-800">
        <h2 className="text-lg font-semibold">{cluster.displayName}</h2>
        <span className="text-sm text-slate-500">
          namespace {cluster.namespace ?? '—'} · {cluster.discovery.mode} of{' '}
          {cluster.discovery.target}
        </span>
        <span className="text-sm" data-testid="ready-count">
          pods ready {cluster.members.ready}/{cluster.members.total}
        </span>
        <span className="ml-auto">
          <SourceStatusBadge status={cluster.kubernetes} />
        </span>
      </header>
      <MembersTable members={members} now={data.at} />
      {timeline.length > 0 ? (
        <ol
          className="max-h-48 overflow-auto border-t border-slate-200 px-4 py-2 text-sm dark:border-slate-800"
          data-testid="timeline"
        >
          {timeline
            .slice(-20)
            .reverse()
            .map((event) => (
              <li key={event.seq} className="py-0.5" data-kind={event.kind}>
                <span className="text-slate-500">{formatClock(event.at)}</span>{' '}
                <span
                  className={
                    event.severity === 'error'
                      ? 'text-red-700'
                      : event.severity === 'warning'
                        ? 'text-amber-700'
                        : ''
                  }
                >
                  {event.message}
                </span>
              </li>
            ))}
        </ol>
      ) : null}
    </section>
  );
}

/** Every configured cluster with the members Kubernetes lists for it. */
export function ClusterOverview() {
  const { data, error } = useApi<ClusterListResponse>('/api/clusters', { refreshInterval: 10_000 });
  if (error && !data) return <p className="text-red-700">{error.message}</p>;
  if (!data) return <div className="h-32 animate-pulse rounded bg-slate-200 dark:bg-slate-800" />;
  if (data.clusters.length === 0) return <p>No clusters are configured.</p>;
  return (
    <div className="space-y-6">
      {data.clusters.map((cluster) => (
        <ClusterSection key={cluster.id} id={cluster.id} />
      ))}
    </div>
  );
}
