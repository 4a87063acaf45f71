import { errorResponse } from '@/server/http/responses';
import { eventStreamResponse } from '@/server/http/sse';
import { getRuntime } from '@/server/runtime';

export const dynamic = 'force-dynamic';

/** The cluster's live stream (SSE): a snapshot, then deltas and timeline events; resumable. */
export async function GET(
  request: Request,
  context: { params: Promise<{ id: string }> },
): Promise<Response> {
  try {
    const { id } = await context.params;
    const runtime = await getRuntime();
    return eventStreamResponse(runtime.cluster(id).collector, request);
  } catch (error) {
    return errorResponse(error);
  }
}
