import { nodeDetails } from '@/server/http/cluster-api';
import { errorResponse, json } from '@/server/http/responses';
import { getRuntime } from '@/server/runtime';

export const dynamic = 'force-dynamic';

/** One member's details, fetched on demand, with its history of the last hour. */
export async function GET(
  _request: Request,
  context: { params: Promise<{ id: string; node: string }> },
): Promise<Response> {
  try {
    const { id, node } = await context.params;
    const runtime = await getRuntime();
    return json(nodeDetails(runtime.cluster(id), node));
  } catch (error) {
    return errorResponse(error);
  }
}
