import { viewableCluster } from '@/server/http/access';
import { historyStatus } from '@/server/http/history-api';
import { errorResponse, json } from '@/server/http/responses';
import { getRuntime } from '@/server/runtime';

export const dynamic = 'force-dynamic';

/** Where the cluster's history is kept, whether recording works, and the span it holds. */
export async function GET(
  request: Request,
  context: { params: Promise<{ id: string }> },
): Promise<Response> {
  try {
    const { id } = await context.params;
    return json(await historyStatus(await viewableCluster(request, await getRuntime(), id)));
  } catch (error) {
    return errorResponse(error);
  }
}
