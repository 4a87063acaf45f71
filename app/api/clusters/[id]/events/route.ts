import { getAccessGate } from '@/server/auth';
import { lossOfSight, viewableCluster } from '@/server/http/access';
import { errorResponse } from '@/server/http/responses';
import { eventStreamResponse } from '@/server/http/sse';
import { getRuntime } from '@/server/runtime';

export const dynamic = 'force-dynamic';

/** The cluster's live stream (SSE): a snapshot, then deltas and timeline events; resumable. */
export async function GET(
  request: Request,
  context: { params: Promise<{ id: string }> },
): Promise<Response> {
  try {
    const { id } = await context.params;
    const runtime = await getRuntime();
    const cluster = await viewableCluster(request, runtime, id);
    // The stream ends when the user's right to the cluster does (a revoked RoleBinding).
    const signal = lossOfSight(request, id, getAccessGate()!.recheckMs);
    return eventStreamResponse(cluster.collector, new Request(request, { signal }));
  } catch (error) {
    return errorResponse(error);
  }
}
