import { errorResponse, json } from '@/server/http/responses';
import { getRuntime } from '@/server/runtime';

export const dynamic = 'force-dynamic';

/** The copies of every replicated registry, compared now (bounded; see docs/registries.md). */
export async function GET(
  _request: Request,
  context: { params: Promise<{ id: string }> },
): Promise<Response> {
  try {
    const { id } = await context.params;
    const runtime = await getRuntime();
    return json(await runtime.cluster(id).collector.compareRegistries());
  } catch (error) {
    return errorResponse(error);
  }
}
