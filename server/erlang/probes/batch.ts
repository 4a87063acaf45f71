import 'server-only';

// A probe's calls made at the same moment, sent as one. At 1,000 simulated nodes the collector's
// CPU went to the number of calls, not what they read: each one a request encoded and written, a
// timer, a reply decoded and matched, a promise settled — about as much as decoding a hundred
// atoms. A steady-state probe asked eight things of a node at once (uptime, process count,
// memory, run queue and four table sizes), then three more once the sizes were known.

import type { Term } from '../codec/terms';
import { batchProbe, type ProbeCall } from './catalogue';
import { isRemoteException } from './reply';
import type { RpcFunction } from './run';

interface Pending {
  /** The catalogue entry asked for: the batch is built from it, never from loose arguments. */
  probe: ProbeCall<unknown>;
  /** The call as made, sent unchanged when it turns out to be alone or the batch raised. */
  call: Parameters<RpcFunction>;
  timeoutMs: number | undefined;
  resolve: (reply: Term) => void;
  reject: (error: unknown) => void;
}

/**
 * `rpc`, with the `batchable` catalogue calls (see `ProbeCall.batchable`) made in one turn of
 * the event loop sent as one `lists:zipwith3(fun erlang:apply/3, ...)` ({@link batchProbe}); a
 * call is batchable when its options carry its entry (`callProbe` does so). Each caller gets the
 * reply its own call would have had:
 *
 * - one element raising raises the whole batch, so then every call is sent again alone, and
 *   each keeps its own answer or error;
 * - a timeout or a lost connection fails every call alike, with one timer for the batch (the
 *   longest of its callers' timeouts): a node too slow for one call is too slow for all, and
 *   asking again would only double the wait;
 * - a lone call and every other call go through unchanged.
 *
 * The turn ends at `setImmediate`, not at a microtask, so the calls that a batch's reply sets
 * off (the hosted counts that wait on the table sizes) meet however many `await`s each took.
 */
export function batchCalls(rpc: RpcFunction): RpcFunction {
  let pending: Pending[] = [];
  const alone = (call: Pending) => {
    rpc(...call.call).then(call.resolve, call.reject);
  };
  const flush = () => {
    const batch = pending;
    pending = [];
    if (batch.length === 1) return alone(batch[0]!);
    const timeouts = batch.flatMap((call) =>
      call.timeoutMs === undefined ? [] : [call.timeoutMs],
    );
    const options = timeouts.length > 0 ? { timeoutMs: Math.max(...timeouts) } : undefined;
    const probe = batchProbe(batch.map((call) => call.probe));
    rpc(probe.module, probe.fn, [...probe.args], options)
      .then((reply) => probe.parse(reply))
      .then(
        (replies) => batch.forEach((call, index) => call.resolve(replies[index]!)),
        (error: unknown) => {
          if (isRemoteException(error)) batch.forEach(alone);
          else batch.forEach((call) => call.reject(error));
        },
      );
  };
  return (module, fn, args, options) => {
    const probe = options?.probe;
    if (!probe?.batchable || probe.encodedReply) return rpc(module, fn, args, options);
    return new Promise<Term>((resolve, reject) => {
      if (pending.length === 0) setImmediate(flush);
      pending.push({
        probe,
        call: [module, fn, args, options],
        timeoutMs: options?.timeoutMs,
        resolve,
        reject,
      });
    });
  };
}
