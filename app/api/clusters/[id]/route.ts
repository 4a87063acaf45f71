import { viewableCluster } from '@/server/http/access';
import { clusterSnapshotNowOrAt } from '@/server/http/history-api';
import { errorResponse, json } from '@/server/http/responses';
import { getRuntime } from '@/server/runtime';

export const dynamic = 'force-dynamic';

/**
 * One cluster's snapshot (`?peers=compact`: peer lists relative to each node's partition); with
 * `?at=T`, the state as it was at T, rebuilt from the cluster's history.
 */
export async function GET(
  request: Request,
  context: { params: Promise<{ id: string }> },
): Promise<Response> {
  try {
    const { id } = await context.params;
    const runtime = await getRuntime();
    const cluster = await viewableCluster(request, runtime, id);
    return json(await clusterSnapshotNowOrAt(cluster, new URL(request.url).searchParams));
  } catch (error) {
    return errorResponse(error);
  }
}
