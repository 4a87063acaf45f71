import { redirect } from 'next/navigation';

import { ClusterList } from '@/components/ClusterList';
import type { ClusterListResponse } from '@/lib/api';
import { getRuntime } from '@/server/runtime';

export const dynamic = 'force-dynamic';

/** The configured clusters with a health line each; with only one, its dashboard directly. */
export default async function HomePage() {
  const runtime = await getRuntime();
  const list: ClusterListResponse = {
    clusters: [...runtime.clusters.values()].map((cluster) => cluster.summary()),
  };
  const only = list.clusters.length === 1 ? list.clusters[0] : undefined;
  if (only) redirect(`/clusters/${encodeURIComponent(only.id)}`);
  return <ClusterList initial={list} />;
}
