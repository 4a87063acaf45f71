import type { ClusterListResponse } from '@/lib/api';
import { viewableClusters } from '@/server/http/access';
import { errorResponse, json } from '@/server/http/responses';
import { getRuntime } from '@/server/runtime';

export const dynamic = 'force-dynamic';

/** The configured clusters the user may see, with a one-line summary each. */
export async function GET(request: Request): Promise<Response> {
  try {
    const runtime = await getRuntime();
    const body: ClusterListResponse = {
      clusters: (await viewableClusters(request.headers, runtime)).map((cluster) =>
        cluster.summary(),
      ),
    };
    return json(body);
  } catch (error) {
    return errorResponse(error);
  }
}
