import 'server-only';

// One call for a probe's table sizes. At 1,000 simulated nodes the collector's CPU went to the
// number of calls, not what they read (encoding a request, a timer, matching a reply: about as
// much as decoding a hundred atoms each), and four of a probe's eleven were `ets:info(T, size)`
// — the connection count and three registries — asked at the same moment.

import { Atom, atom, type Term } from '../codec/terms';
import { tableSizesProbe } from './catalogue-registries';
import type { RpcFunction } from './run';

const SIZE = atom('size');

interface Pending {
  table: Atom;
  /** The call as made, sent unchanged when it turns out to be alone. */
  call: Parameters<RpcFunction>;
  timeoutMs: number | undefined;
  resolve: (reply: Term) => void;
  reject: (error: unknown) => void;
}

/**
 * `rpc`, with the `ets:info(Table, size)` calls made in one turn of the event loop sent as one
 * `lists:zipwith(fun ets:info/2, ...)` ({@link tableSizesProbe}); each caller gets the reply its
 * own call would have had, or the batch's failure (a timeout or a lost connection fails every
 * call alike). A lone size call and every other call go through unchanged.
 */
export function batchTableSizes(rpc: RpcFunction): RpcFunction {
  let pending: Pending[] = [];
  const flush = () => {
    const batch = pending;
    pending = [];
    const timeouts = batch.flatMap((call) =>
      call.timeoutMs === undefined ? [] : [call.timeoutMs],
    );
    const options = timeouts.length > 0 ? { timeoutMs: Math.max(...timeouts) } : undefined;
    if (batch.length === 1) {
      const [only] = batch;
      rpc(...only!.call).then(only!.resolve, only!.reject);
      return;
    }
    const probe = tableSizesProbe(batch.map((call) => call.table));
    rpc(probe.module, probe.fn, [...probe.args], options)
      .then((reply) => probe.parse(reply))
      .then(
        (sizes) => batch.forEach((call, index) => call.resolve(sizes[index]!)),
        (error: unknown) => batch.forEach((call) => call.reject(error)),
      );
  };
  return (module, fn, args, options) => {
    const [table, item] = args;
    const isSize =
      module === 'ets' &&
      fn === 'info' &&
      args.length === 2 &&
      table instanceof Atom &&
      item instanceof Atom &&
      item.name === SIZE.name &&
      !options?.encodedReply;
    if (!isSize) return rpc(module, fn, args, options);
    return new Promise<Term>((resolve, reject) => {
      if (pending.length === 0) queueMicrotask(flush);
      pending.push({
        table,
        call: [module, fn, args, options],
        timeoutMs: options?.timeoutMs,
        resolve,
        reject,
      });
    });
  };
}
