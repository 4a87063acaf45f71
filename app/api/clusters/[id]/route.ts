import { viewableCluster } from '@/server/http/access';
import { errorResponse, json } from '@/server/http/responses';
import { getRuntime } from '@/server/runtime';

export const dynamic = 'force-dynamic';

/** One cluster's snapshot. */
export async function GET(
  request: Request,
  context: { params: Promise<{ id: string }> },
): Promise<Response> {
  try {
    const { id } = await context.params;
    const runtime = await getRuntime();
    return json((await viewableCluster(request, runtime, id)).snapshot());
  } catch (error) {
    return errorResponse(error);
  }
}
