import type { ClusterListResponse } from '@/lib/api';
import { errorResponse, json } from '@/server/http/responses';
import { getRuntime } from '@/server/runtime';

export const dynamic = 'force-dynamic';

/** The configured clusters with a one-line summary each. */
export async function GET(): Promise<Response> {
  try {
    const runtime = await getRuntime();
    const body: ClusterListResponse = {
      clusters: [...runtime.clusters.values()].map((cluster) => cluster.summary()),
    };
    return json(body);
  } catch (error) {
    return errorResponse(error);
  }
}
