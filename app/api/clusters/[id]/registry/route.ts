import { registryLookup } from '@/server/http/cluster-api';
import { viewableCluster } from '@/server/http/access';
import { errorResponse, json } from '@/server/http/responses';
import { getRuntime } from '@/server/runtime';

export const dynamic = 'force-dynamic';

/**
 * Where a registered name lives: `?name=…` (plain text, or Elixir/Erlang term syntax), asked of
 * every connected node; one entry per registry and key, each distinct view with its nodes.
 */
export async function GET(
  request: Request,
  context: { params: Promise<{ id: string }> },
): Promise<Response> {
  try {
    const { id } = await context.params;
    const runtime = await getRuntime();
    return json(
      await registryLookup(
        await viewableCluster(request, runtime, id),
        new URL(request.url).searchParams,
      ),
    );
  } catch (error) {
    return errorResponse(error);
  }
}
