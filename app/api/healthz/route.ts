import { errorResponse, json } from '@/server/http/responses';
import { getRuntime } from '@/server/runtime';

export const dynamic = 'force-dynamic';

/** Liveness and readiness: 200 once the configuration loaded and the clusters are being watched. */
export async function GET(): Promise<Response> {
  try {
    const runtime = await getRuntime();
    return json({ ok: true, clusters: runtime.clusters.size });
  } catch (error) {
    return errorResponse(error);
  }
}
