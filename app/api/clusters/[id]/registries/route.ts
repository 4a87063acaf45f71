import { viewableCluster } from '@/server/http/access';
import { errorResponse, json } from '@/server/http/responses';
import { getRuntime } from '@/server/runtime';

export const dynamic = 'force-dynamic';

/** The copies of every replicated registry, compared now (bounded; see docs/registries.md). */
export async function GET(
  request: Request,
  context: { params: Promise<{ id: string }> },
): Promise<Response> {
  try {
    const { id } = await context.params;
    const runtime = await getRuntime();
    return json(await (await viewableCluster(request, runtime, id)).collector.compareRegistries());
  } catch (error) {
    return errorResponse(error);
  }
}
