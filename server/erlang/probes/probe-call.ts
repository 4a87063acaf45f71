import 'server-only';

import { atom, type Term } from '../codec/terms';

// The shape of an entry of the probe catalogue (catalogue.ts and its catalogue-*.ts parts), and
// the helpers the parts share. Not exported past the catalogue: `systemInfo` builds an atom from
// its argument, which only the catalogue's own literals may give.

/**
 * One call of the read-only probe catalogue: module, function and arguments fixed in the
 * catalogue, plus a pure parser of its reply. Nothing takes a module, function or argument from
 * a request.
 */
export interface ProbeCall<T> {
  readonly module: string;
  readonly fn: string;
  readonly args: readonly Term[];
  /**
   * The reply reaches `parse` undecoded, as `term_to_binary` bytes (see `RpcOptions`), for
   * replies that a decoder of `codec/lists.ts`, or a cursor of `codec/skim.ts` that reads a few
   * fields and skips the rest, reads at a fraction of the general one's cost.
   */
  readonly encodedReply?: boolean;
  /**
   * The call answers every case a probe meets without raising (a missing table is `undefined`,
   * not `badarg`) and in a short reply: it may travel with the other calls of its turn as one
   * remote call (`batch.ts`). One that raises as a normal answer (an absent atom, a missing
   * syn) would fail its whole batch and send every call again alone, so it is left unmarked.
   */
  readonly batchable?: boolean;
  parse(reply: Term): T;
}

/** Lists that come back from a node (connected nodes) are cut at this length by default. */
export const DEFAULT_LIST_CAP = 1000;

/** `erlang:system_info(Item)`, its reply read by `parse`; an item the node knows never raises. */
export const systemInfo = <T>(item: string, parse: (reply: Term) => T): ProbeCall<T> => ({
  module: 'erlang',
  fn: 'system_info',
  args: [atom(item)],
  batchable: true,
  parse,
});
