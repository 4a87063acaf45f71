'use client';

import Link from 'next/link';
import { useRouter } from 'next/navigation';
import type { ReactNode } from 'react';

import type { ClusterListResponse, ClusterSnapshot } from '@/lib/api';
import { clusterTotals, type LinkState } from '@/lib/dashboard';
import { formatCount } from '@/lib/format';

import { LinkStateBadge } from './LinkStateBadge';
import { SourceStatusBadge } from './SourceStatusBadge';
import { useApi } from './use-api';

function Figure({
  label,
  value,
  testId,
  warn,
}: {
  label: string;
  value: string;
  testId: string;
  warn?: boolean;
}) {
  return (
    <span className="flex items-baseline gap-1.5" data-testid={testId}>
      <span className="text-xs uppercase tracking-wide text-slate-500">{label}</span>
      <span
        className={`font-semibold tabular-nums ${warn ? 'text-amber-700 dark:text-amber-400' : ''}`}
      >
        {warn ? <span aria-hidden>⚠ </span> : null}
        {value}
      </span>
    </span>
  );
}

/** The dashboard's top bar: cluster switcher, the live link's state and the cluster summary. */
export function TopBar({
  clusterId,
  data,
  link,
  failed = false,
  banner,
}: {
  clusterId: string;
  data: ClusterSnapshot | undefined;
  link: LinkState;
  /** The snapshot could not be loaded: no link to speak of, no skeleton to wait on. */
  failed?: boolean;
  /** Shown under the bar and kept in view with it (the "viewing …" banner of a past moment). */
  banner?: ReactNode;
}) {
  const router = useRouter();
  const { data: list } = useApi<ClusterListResponse>('/api/clusters', { refreshInterval: 0 });
  const clusters = list?.clusters ?? [];
  const totals = data ? clusterTotals(data.state) : null;
  return (
    <header className="sticky top-0 z-20 border-b border-slate-200 bg-white/95 backdrop-blur dark:border-slate-800 dark:bg-slate-950/95">
      <div className="mx-auto flex max-w-[1600px] flex-wrap items-center gap-x-5 gap-y-2 px-4 py-2.5">
        <Link href="/" className="text-lg font-bold tracking-tight">
          beamscope
        </Link>
        <label className="flex items-center gap-2 text-sm">
          <span className="sr-only">Cluster</span>
          <select
            data-testid="cluster-switcher"
            value={clusterId}
            onChange={(event) => router.push(`/clusters/${encodeURIComponent(event.target.value)}`)}
            className="rounded border border-slate-300 bg-white px-2 py-1 dark:border-slate-700 dark:bg-slate-900"
          >
            {clusters.some((cluster) => cluster.id === clusterId) ? null : (
              <option value={clusterId}>{clusterId}</option>
            )}
            {clusters.map((cluster) => (
              <option key={cluster.id} value={cluster.id}>
                {cluster.displayName}
              </option>
            ))}
          </select>
        </label>
        {failed ? null : <LinkStateBadge link={link} />}
        {data ? <SourceStatusBadge status={data.state.kubernetes} /> : null}
        {totals ? (
          <div
            className="flex flex-wrap items-baseline gap-x-5 gap-y-1 text-sm"
            data-testid="summary"
          >
            <Figure
              label="pods ready"
              value={`${totals.podsReady}/${totals.pods}`}
              testId="summary-pods"
              warn={totals.podsReady < totals.pods}
            />
            <Figure
              label="nodes clustered"
              value={`${totals.nodesClustered}/${totals.nodes}`}
              testId="summary-nodes"
              warn={totals.nodesClustered < totals.nodes}
            />
            <Figure
              label="partitions"
              value={`${totals.partitions} ${totals.partitions === 1 ? 'partition' : 'partitions'}`}
              testId="summary-partitions"
              warn={totals.partitions > 1}
            />
            {totals.registries.length > 0 ? (
              <span className="flex items-baseline gap-1.5" data-testid="summary-registries">
                <span className="text-xs uppercase tracking-wide text-slate-500">names</span>
                {totals.registries.map((entry) => (
                  <span key={entry.registry} className="tabular-nums">
                    <span className="text-slate-500">{entry.registry}</span>{' '}
                    <span className="font-semibold">{formatCount(entry.names)}</span>
                  </span>
                ))}
              </span>
            ) : null}
            <Figure
              label="OTP"
              value={
                totals.otpReleases.length === 0
                  ? '—'
                  : totals.otpReleases
                      .map((entry) => `${entry.otpRelease} (${entry.nodes})`)
                      .join(', ')
              }
              testId="summary-otp"
              warn={totals.otpReleases.length > 1}
            />
          </div>
        ) : failed ? null : (
          <div className="h-5 w-96 animate-pulse rounded bg-slate-200 dark:bg-slate-800" />
        )}
      </div>
      {banner}
    </header>
  );
}
