import 'server-only';

// The emulated Kubernetes API server: one request handler over a route table (routes.ts). Each
// route names the access it asks of its caller (auth.ts); discovery, get and list, watch, the
// `/_sandbox` control surface and its fault injection each have their own file; respond.ts frames
// every answer, and any failure becomes the metav1.Status a real server would send.

import type { IncomingMessage, ServerResponse } from 'node:http';

import { admit } from './auth';
import type { HandlerContext } from './context';
import { controlRoutes } from './control';
import { faultRoutes } from './faults';
import { HttpError, sendStatus, statusObject } from './respond';
import { findRoute } from './router';
import { apiRoutes } from './routes';
import type { OpenWatch } from './watch';

export type { HandlerContext } from './context';
export { ENDPOINTS_WARNING } from './request';
export { WATCH_EXPIRED_MESSAGE, type OpenWatch } from './watch';

/**
 * Creates the request handler of the emulated API. Returns the handler, the set of open watches
 * (which `stop()` and the control surface close) and `stopFaults`, which ends a running fault.
 */
export function createHandler(context: HandlerContext) {
  const watches = new Set<OpenWatch>();
  const faults = faultRoutes(context, watches);
  const routes = apiRoutes(context, watches, [...controlRoutes(context), ...faults.routes]);

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://sandbox');
    req.socket.setNoDelay(true);
    // The table ends with a route for every path.
    const { route, match } = findRoute(routes, req.method, url.pathname)!;
    const caller = admit(route.access, req, context);
    await route.handle({ req, res, url, match, caller });
  };

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch((error: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (error instanceof HttpError) sendStatus(res, error.status);
      else
        sendStatus(
          res,
          statusObject(
            500,
            'InternalError',
            'Internal error occurred: the sandbox failed this request',
          ),
        );
    });
  };

  return { handler, watches, stopFaults: faults.stop };
}
