import { renderMetrics } from '@/server/http/cluster-api';
import { viewableClusters } from '@/server/http/access';
import { errorResponse } from '@/server/http/responses';
import { getRuntime } from '@/server/runtime';

export const dynamic = 'force-dynamic';

/**
 * Prometheus text format: long-term history belongs to Prometheus, fed from here; the clusters
 * the caller may see only.
 */
export async function GET(request: Request): Promise<Response> {
  try {
    const runtime = await getRuntime();
    return new Response(await renderMetrics(await viewableClusters(request.headers, runtime)), {
      headers: {
        'content-type': 'text/plain; version=0.0.4; charset=utf-8',
        'cache-control': 'no-store',
      },
    });
  } catch (error) {
    return errorResponse(error);
  }
}
