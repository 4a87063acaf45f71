import type { Metadata } from 'next';
import { headers } from 'next/headers';
import { notFound } from 'next/navigation';

import { Dashboard } from '@/components/Dashboard';
import { viewableClusters } from '@/server/http/access';
import { getRuntime } from '@/server/runtime';

export const dynamic = 'force-dynamic';

/** The tab names the cluster, so several open dashboards can be told apart. */
export async function generateMetadata({
  params,
}: {
  params: Promise<{ id: string }>;
}): Promise<Metadata> {
  const { id } = await params;
  return { title: `${id} · beamscope` };
}

/**
 * One cluster's live dashboard; the data comes from the API and its event stream. A cluster the
 * user may not see is not found, exactly as one that does not exist.
 */
export default async function ClusterPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  const runtime = await getRuntime();
  const visible = await viewableClusters(new Headers(await headers()), runtime);
  if (!visible.some((cluster) => cluster.config.id === id)) notFound();
  return <Dashboard clusterId={id} />;
}
