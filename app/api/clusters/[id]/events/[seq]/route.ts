import { viewableCluster } from '@/server/http/access';
import { eventDetails } from '@/server/http/cluster-api';
import { errorResponse, json } from '@/server/http/responses';
import { getRuntime } from '@/server/runtime';

export const dynamic = 'force-dynamic';

/** A summary timeline event's full lists (sides, links, members), a page at a time. */
export async function GET(
  request: Request,
  context: { params: Promise<{ id: string; seq: string }> },
): Promise<Response> {
  try {
    const { id, seq } = await context.params;
    const runtime = await getRuntime();
    const cluster = await viewableCluster(request, runtime, id);
    return json(eventDetails(cluster, seq, new URL(request.url).searchParams));
  } catch (error) {
    return errorResponse(error);
  }
}
