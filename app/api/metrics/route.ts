import { renderMetrics } from '@/server/http/cluster-api';
import { errorResponse } from '@/server/http/responses';
import { getRuntime } from '@/server/runtime';

export const dynamic = 'force-dynamic';

/** Prometheus text format: long-term history belongs to Prometheus, fed from here. */
export async function GET(): Promise<Response> {
  try {
    const runtime = await getRuntime();
    return new Response(await renderMetrics(runtime.clusters.values()), {
      headers: {
        'content-type': 'text/plain; version=0.0.4; charset=utf-8',
        'cache-control': 'no-store',
      },
    });
  } catch (error) {
    return errorResponse(error);
  }
}
