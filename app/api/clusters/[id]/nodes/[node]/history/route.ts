import { viewableCluster } from '@/server/http/access';
import { nodeHistory } from '@/server/http/history-api';
import { errorResponse, json } from '@/server/http/responses';
import { getRuntime } from '@/server/runtime';

export const dynamic = 'force-dynamic';

/** A node's recorded series (`from`, `to`; the last hour by default). */
export async function GET(
  request: Request,
  context: { params: Promise<{ id: string; node: string }> },
): Promise<Response> {
  try {
    const { id, node } = await context.params;
    const cluster = await viewableCluster(request, await getRuntime(), id);
    return json(await nodeHistory(cluster, node, new URL(request.url).searchParams));
  } catch (error) {
    return errorResponse(error);
  }
}
