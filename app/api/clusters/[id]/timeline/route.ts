import { viewableCluster } from '@/server/http/access';
import { timelinePage } from '@/server/http/history-api';
import { errorResponse, json } from '@/server/http/responses';
import { getRuntime } from '@/server/runtime';

export const dynamic = 'force-dynamic';

/** A page of the cluster's recorded timeline (`from`, `to`, `kind`, `node`, `cursor`, `limit`, `order`). */
export async function GET(
  request: Request,
  context: { params: Promise<{ id: string }> },
): Promise<Response> {
  try {
    const { id } = await context.params;
    const cluster = await viewableCluster(request, await getRuntime(), id);
    return json(await timelinePage(cluster, new URL(request.url).searchParams));
  } catch (error) {
    return errorResponse(error);
  }
}
