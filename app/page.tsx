import { headers } from 'next/headers';
import { redirect } from 'next/navigation';

import { ClusterList } from '@/components/ClusterList';
import type { ClusterListResponse } from '@/lib/api';
import { viewableClusters } from '@/server/http/access';
import { getRuntime } from '@/server/runtime';

export const dynamic = 'force-dynamic';

/**
 * The clusters the user may see, with a health line each; with only one, its dashboard
 * directly.
 */
export default async function HomePage() {
  const runtime = await getRuntime();
  const visible = await viewableClusters(new Headers(await headers()), runtime);
  const list: ClusterListResponse = { clusters: visible.map((cluster) => cluster.summary()) };
  const only = list.clusters.length === 1 ? list.clusters[0] : undefined;
  if (only) redirect(`/clusters/${encodeURIComponent(only.id)}`);
  return <ClusterList initial={list} />;
}
