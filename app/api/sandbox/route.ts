import { audit } from '@/server/auth';
import { verifiedPeerOf } from '@/server/auth/request';
import { principalOf, viewableClusters } from '@/server/http/access';
import { sandboxAction, sandboxStatus } from '@/server/http/dashboard';
import { errorResponse, json } from '@/server/http/responses';
import { getRuntime } from '@/server/runtime';
import { BeamscopeError } from '@/server/errors';

export const dynamic = 'force-dynamic';

/**
 * The sandbox drives every cluster of this server's configuration (the sandbox wrote it): only a
 * user who sees them all sees its panel or may act on it.
 */
async function seesEverything(request: Request): Promise<boolean> {
  const runtime = await getRuntime();
  return (await viewableClusters(request.headers, runtime)).length === runtime.clusters.size;
}

/** Whether this server runs on a sandbox, and its pods (the sandbox panel). */
export async function GET(request: Request): Promise<Response> {
  try {
    const runtime = await getRuntime();
    if (!(await seesEverything(request))) return json({ available: false, pods: [] });
    return json(await sandboxStatus(runtime.config.sourcePath));
  } catch (error) {
    return errorResponse(error);
  }
}

/** One sandbox control action: scale, kill, OOM kill, partition, heal, miscookie; each one audited. */
export async function POST(request: Request): Promise<Response> {
  const from = verifiedPeerOf(request.headers);
  let who = 'unknown';
  let target: string | undefined;
  try {
    const runtime = await getRuntime();
    who = (await principalOf(request.headers)).subject;
    if (!(await seesEverything(request))) {
      throw new BeamscopeError(
        'http',
        'sandbox_unavailable',
        'this server does not run on a sandbox (its configuration is not in a running sandbox folder)',
      );
    }
    const body: unknown = await request.json().catch(() => null);
    const result = await sandboxAction(runtime.config.sourcePath, body, (action) => {
      target = action;
    });
    audit({ who, action: 'sandbox-action', outcome: 'allowed', from, target });
    return json(result);
  } catch (error) {
    audit({
      who,
      action: 'sandbox-action',
      outcome: 'refused',
      from,
      ...(target !== undefined ? { target } : {}),
      reason: error instanceof BeamscopeError ? error.code : 'internal',
    });
    return errorResponse(error);
  }
}
