import { sandboxAction, sandboxStatus } from '@/server/http/dashboard';
import { errorResponse, json } from '@/server/http/responses';
import { getRuntime } from '@/server/runtime';

export const dynamic = 'force-dynamic';

/** Whether this server runs on a sandbox, and its pods (the sandbox panel). */
export async function GET(): Promise<Response> {
  try {
    const runtime = await getRuntime();
    return json(await sandboxStatus(runtime.config.sourcePath));
  } catch (error) {
    return errorResponse(error);
  }
}

/** One sandbox control action: scale, kill, partition, heal, miscookie. */
export async function POST(request: Request): Promise<Response> {
  try {
    const runtime = await getRuntime();
    const body: unknown = await request.json().catch(() => null);
    return json(await sandboxAction(runtime.config.sourcePath, body));
  } catch (error) {
    return errorResponse(error);
  }
}
