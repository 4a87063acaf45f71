import type { Metadata } from 'next';

import { Dashboard } from '@/components/Dashboard';

/** The tab names the cluster, so several open dashboards can be told apart. */
export async function generateMetadata({
  params,
}: {
  params: Promise<{ id: string }>;
}): Promise<Metadata> {
  const { id } = await params;
  return { title: `${id} · beamscope` };
}

/** One cluster's live dashboard; the data comes from the API and its event stream. */
export default async function ClusterPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  return <Dashboard clusterId={id} />;
}
