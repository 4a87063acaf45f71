import { nodeDetails } from '@/server/http/cluster-api';
import { viewableCluster } from '@/server/http/access';
import { errorResponse, json } from '@/server/http/responses';
import { getRuntime } from '@/server/runtime';

export const dynamic = 'force-dynamic';

/** One member's details, fetched on demand, with its history of the last hour. */
export async function GET(
  request: Request,
  context: { params: Promise<{ id: string; node: string }> },
): Promise<Response> {
  try {
    const { id, node } = await context.params;
    const runtime = await getRuntime();
    return json(nodeDetails(await viewableCluster(request, runtime, id), node));
  } catch (error) {
    return errorResponse(error);
  }
}
