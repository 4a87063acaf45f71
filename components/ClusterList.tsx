'use client';

import Link from 'next/link';

import type { ClusterListResponse, ClusterSummary } from '@/lib/api';

import { SourceStatusBadge } from './SourceStatusBadge';
import { useApi } from './use-api';

function healthOf(cluster: ClusterSummary): { ok: boolean; text: string } {
  const problems: string[] = [];
  if (cluster.kubernetes.state === 'error')
    problems.push(`Kubernetes: ${cluster.kubernetes.reason}`);
  if (cluster.mesh.partitions > 1) problems.push(`${cluster.mesh.partitions} partitions`);
  if (cluster.mesh.unclustered > 0) problems.push(`${cluster.mesh.unclustered} unclustered`);
  if (cluster.members.ready < cluster.members.total)
    problems.push(`${cluster.members.total - cluster.members.ready} pods not ready`);
  if (cluster.members.total === 0) problems.push('no members');
  return problems.length === 0
    ? { ok: true, text: 'whole' }
    : { ok: false, text: problems.join(' · ') };
}

/** Every configured cluster with a one-line health summary, refreshed every few seconds. */
export function ClusterList({ initial }: { initial: ClusterListResponse }) {
  const { data } = useApi<ClusterListResponse>('/api/clusters', {
    refreshInterval: 5000,
    fallbackData: initial,
  });
  const clusters = data?.clusters ?? initial.clusters;
  return (
    <main className="mx-auto max-w-5xl space-y-6 p-6">
      <header className="flex items-baseline gap-3">
        <h1 className="text-2xl font-bold tracking-tight">beamscope</h1>
        <p className="text-slate-500">the pods Kubernetes lists, beside the BEAM nodes they run</p>
      </header>
      {clusters.length === 0 ? (
        <p data-testid="no-clusters">
          No cluster to show: none is configured (add one under <code>clusters:</code> in the
          configuration file), or the access rules let you see none (<code>access.clusters</code>,
          or your Kubernetes RBAC).
        </p>
      ) : (
        <ul className="divide-y divide-slate-200 rounded-lg border border-slate-200 bg-white dark:divide-slate-800 dark:border-slate-800 dark:bg-slate-900">
          {clusters.map((cluster) => {
            const health = healthOf(cluster);
            return (
              <li key={cluster.id} data-testid="cluster" data-cluster={cluster.id}>
                <Link
                  href={`/clusters/${encodeURIComponent(cluster.id)}`}
                  className="flex flex-wrap items-center gap-x-6 gap-y-1 px-4 py-3 hover:bg-slate-50 dark:hover:bg-slate-800/60"
                >
                  <span className="text-lg font-semibold">{cluster.displayName}</span>
                  <span className="text-sm text-slate-500">
                    {cluster.namespace ?? '—'} · {cluster.discovery.target}
                  </span>
                  <span className="text-sm tabular-nums" data-testid="ready-count">
                    pods ready {cluster.members.ready}/{cluster.members.total} · nodes connected{' '}
                    {cluster.mesh.connected}
                  </span>
                  <span
                    data-testid="health"
                    className={`text-sm ${health.ok ? 'text-green-800 dark:text-green-300' : 'text-amber-800 dark:text-amber-300'}`}
                  >
                    <span aria-hidden>{health.ok ? '✓ ' : '⚠ '}</span>
                    {health.text}
                  </span>
                  <span className="ml-auto">
                    <SourceStatusBadge status={cluster.kubernetes} />
                  </span>
                </Link>
              </li>
            );
          })}
        </ul>
      )}
    </main>
  );
}
