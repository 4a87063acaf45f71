import { describe, expect, it } from 'vitest';

import { ExportFun, atom, type Term } from '@/server/erlang/codec/terms';
import { batchTableSizes } from '@/server/erlang/probes/batch';
import type { RpcFunction } from '@/server/erlang/probes';

const SIZES: Record<string, Term> = { sys_dist: 7, global_names: 12, pg: atom('undefined') };

/** A node's rpc that answers table sizes alone or zipped, and records what it was sent. */
function node(fail?: Error) {
  const sent: Array<{ call: string; args: Term[]; timeoutMs: number | undefined }> = [];
  const rpc: RpcFunction = async (module, fn, args, options) => {
    sent.push({ call: `${module}:${fn}`, args, timeoutMs: options?.timeoutMs });
    if (fail) throw fail;
    if (module === 'ets' && fn === 'info') return SIZES[String(args[0])]!;
    if (module === 'lists' && fn === 'zipwith') {
      expect(args[0]).toEqual(new ExportFun(atom('ets'), atom('info'), 2));
      return (args[1] as Term[]).map((table) => SIZES[String(table)]!);
    }
    return atom('other');
  };
  return { rpc, sent };
}

describe('batchTableSizes', () => {
  it("sends the sizes asked in one turn as one call; each caller gets its own table's reply", async () => {
    const { rpc, sent } = node();
    const batched = batchTableSizes(rpc);
    const replies = await Promise.all([
      batched('ets', 'info', [atom('sys_dist'), atom('size')], { timeoutMs: 100 }),
      batched('erlang', 'memory', [], { timeoutMs: 100 }),
      batched('ets', 'info', [atom('global_names'), atom('size')], { timeoutMs: 300 }),
      batched('ets', 'info', [atom('pg'), atom('size')], { timeoutMs: 200 }),
    ]);
    expect(replies).toEqual([7, atom('other'), 12, atom('undefined')]);
    expect(sent.map(({ call }) => call)).toEqual(['erlang:memory', 'lists:zipwith']);
    expect(sent[1]!.args.slice(1)).toEqual([
      [atom('sys_dist'), atom('global_names'), atom('pg')],
      [atom('size'), atom('size'), atom('size')],
    ]);
    // The longest of the callers' timeouts.
    expect(sent[1]!.timeoutMs).toBe(300);
  });

  it('sends a lone size call, other items and later turns unchanged', async () => {
    const { rpc, sent } = node();
    const batched = batchTableSizes(rpc);
    expect(await batched('ets', 'info', [atom('sys_dist'), atom('size')], { timeoutMs: 5 })).toBe(
      7,
    );
    await batched('ets', 'info', [atom('sys_dist'), atom('memory')]);
    expect(await batched('ets', 'info', [atom('global_names'), atom('size')])).toBe(12);
    expect(sent).toEqual([
      { call: 'ets:info', args: [atom('sys_dist'), atom('size')], timeoutMs: 5 },
      { call: 'ets:info', args: [atom('sys_dist'), atom('memory')], timeoutMs: undefined },
      { call: 'ets:info', args: [atom('global_names'), atom('size')], timeoutMs: undefined },
    ]);
  });

  it("fails every caller of a batch with the batch's failure", async () => {
    const lost = new Error('connection closed');
    const batched = batchTableSizes(node(lost).rpc);
    const results = await Promise.allSettled([
      batched('ets', 'info', [atom('sys_dist'), atom('size')]),
      batched('ets', 'info', [atom('pg'), atom('size')]),
    ]);
    expect(results).toEqual([
      { status: 'rejected', reason: lost },
      { status: 'rejected', reason: lost },
    ]);
  });
});
