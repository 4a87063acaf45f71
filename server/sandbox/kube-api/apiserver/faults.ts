import 'server-only';

// Fault injection for the reliability tests, `/_sandbox/faults/*`: each route does what a real API
// server does in that situation (an outage, watches cut or closed, a 410 storm), so the client
// under test meets the failure it would meet in a cluster.

import { BeamscopeError } from '../../../errors';
import type { HandlerContext } from './context';
import type { ControlReply, ControlRoute } from './control';
import type { OpenWatch } from './watch';

function milliseconds(value: unknown, max = 600_000): number {
  const ms = Number(value);
  if (!Number.isFinite(ms) || ms < 0 || ms > max) {
    throw new BeamscopeError('sandbox', 'bad_request', `"ms" must be 0..${max} milliseconds`);
  }
  return ms;
}

/**
 * The fault routes over the open `watches`, and `stop`, which ends a running 410 storm. The outage
 * route exists only when whoever runs the server can take it down and up again.
 */
export function faultRoutes(
  context: HandlerContext,
  watches: ReadonlySet<OpenWatch>,
): { routes: ControlRoute[]; stop: () => void } {
  let stopStorm: (() => void) | undefined;
  const outage = context.onOutage;

  const routes: ControlRoute[] = [
    {
      method: 'GET',
      pattern: /^\/_sandbox\/faults\/watches$/,
      handle: () => {
        const byResource: Record<string, number> = {};
        for (const watch of watches)
          byResource[watch.resource] = (byResource[watch.resource] ?? 0) + 1;
        return { body: { open: watches.size, byResource } };
      },
    },
    ...(outage
      ? [
          {
            method: 'POST',
            pattern: /^\/_sandbox\/faults\/outage$/,
            handle: ({ body }: { body: Record<string, unknown> }): ControlReply => {
              const ms = milliseconds(body.ms);
              const replicas = body.replicas === undefined ? undefined : Number(body.replicas);
              if (
                replicas !== undefined &&
                !(Number.isInteger(replicas) && replicas >= 0 && replicas <= 50)
              ) {
                throw new BeamscopeError(
                  'sandbox',
                  'bad_request',
                  '"replicas" must be an integer 0..50',
                );
              }
              return {
                body: { ok: true, ms, ...(replicas === undefined ? {} : { replicas }) },
                code: 202,
                // Answer first: the outage closes this connection too.
                afterReply: () => outage(ms, replicas === undefined ? undefined : { replicas }),
              };
            },
          },
        ]
      : []),
    {
      method: 'POST',
      pattern: /^\/_sandbox\/faults\/cut-watches$/,
      handle: ({ body }) => {
        // close: the chunked response ends, as at a watch timeout or an API server's graceful
        // shutdown; reset: the connection is cut, as by a load balancer or a network fault.
        const mode = body.mode === 'reset' ? 'reset' : 'close';
        const fraction = body.fraction === undefined ? 1 : Number(body.fraction);
        if (!Number.isFinite(fraction) || fraction <= 0 || fraction > 1) {
          throw new BeamscopeError('sandbox', 'bad_request', '"fraction" must be in (0, 1]');
        }
        const resource = typeof body.resource === 'string' ? body.resource : undefined;
        const open = [...watches].filter((watch) => !resource || watch.resource === resource);
        // A random subset, at least one when any is open.
        const shuffled = open
          .map((watch) => ({ watch, order: Math.random() }))
          .sort((a, b) => a.order - b.order)
          .map(({ watch }) => watch);
        const chosen = shuffled.slice(
          0,
          Math.max(open.length ? 1 : 0, Math.round(open.length * fraction)),
        );
        for (const watch of chosen) watch.close(mode);
        return {
          body: { ok: true, mode, cut: chosen.map((watch) => watch.resource), open: open.length },
        };
      },
    },
    {
      method: 'POST',
      pattern: /^\/_sandbox\/faults\/expire-storm$/,
      handle: ({ body }) => {
        // A 410 storm: the watch cache is compacted again and again, so resumes get 410 Expired
        // and the re-lists' resourceVersions expire soon after.
        const ms = milliseconds(body.ms);
        const everyMs = body.everyMs === undefined ? 250 : milliseconds(body.everyMs, 60_000);
        if (everyMs < 10) {
          throw new BeamscopeError('sandbox', 'bad_request', '"everyMs" must be at least 10');
        }
        stopStorm?.();
        context.cluster.compact();
        const interval = setInterval(() => context.cluster.compact(), everyMs);
        const end = setTimeout(() => stopStorm?.(), ms);
        interval.unref();
        end.unref();
        stopStorm = () => {
          clearInterval(interval);
          clearTimeout(end);
          stopStorm = undefined;
        };
        return { body: { ok: true, ms, everyMs } };
      },
    },
  ];
  return { routes, stop: () => stopStorm?.() };
}
