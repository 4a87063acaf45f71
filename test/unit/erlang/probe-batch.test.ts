import { describe, expect, it } from 'vitest';

import { BadRpcError } from '@/server/erlang/errors';
import { Charlist, ExportFun, PreEncoded, atom, type Term } from '@/server/erlang/codec/terms';
import { batchCalls } from '@/server/erlang/probes/batch';
import {
  batchProbe,
  callProbe,
  existingAtomProbe,
  loadedModulesProbe,
  memoryProbe,
  runQueueProbe,
  tableSizeProbe,
  uptimeProbe,
  type ProbeCall,
  type RpcFunction,
} from '@/server/erlang/probes';

const ANSWERS: Record<string, Term> = {
  'erlang:statistics(run_queue)': 2,
  'ets:info(sys_dist,size)': 7,
  'ets:info(pg,size)': atom('undefined'),
  'ets:info(global_names,size)': 12,
};

const key = (module: string, fn: string, args: readonly Term[]) =>
  `${module}:${fn}(${args.map(String).join(',')})`;

/** The remote error for a call the node raises on. */
const raised = () => new BadRpcError('badarg', atom('badarg'));

/**
 * A node's rpc: answers the calls of ANSWERS alone or inside a batch (raising, as a node does,
 * when one element raises), and records what it was sent.
 */
function node(fail?: Error) {
  const sent: Array<{ call: string; elements?: string[]; timeoutMs: number | undefined }> = [];
  const rpc: RpcFunction = async (module, fn, args, options) => {
    if (module === 'lists' && fn === 'zipwith3') {
      expect(args[0]).toEqual(new ExportFun(atom('erlang'), atom('apply'), 3));
      const [, modules, fns, argLists] = args as [unknown, Term[], Term[], PreEncoded[]];
      const elements = modules.map((m, index) =>
        key(String(m), String(fns[index]), argLists[index]!.term as Term[]),
      );
      sent.push({ call: 'lists:zipwith3', elements, timeoutMs: options?.timeoutMs });
      if (fail) throw fail;
      return elements.map((element) => {
        if (!(element in ANSWERS)) throw raised();
        return ANSWERS[element]!;
      });
    }
    sent.push({ call: key(module, fn, args), timeoutMs: options?.timeoutMs });
    if (fail) throw fail;
    const answer = ANSWERS[key(module, fn, args)];
    if (answer === undefined) throw raised();
    return answer;
  };
  return { rpc, sent };
}

const sysDist = tableSizeProbe(atom('sys_dist'));
const pg = tableSizeProbe(atom('pg'));

describe('batchCalls', () => {
  it("sends the batchable calls of one turn as one call; each caller gets its own entry's reply", async () => {
    const { rpc, sent } = node();
    const batched = batchCalls(rpc);
    const replies = await Promise.all([
      callProbe(batched, sysDist, 100),
      callProbe(batched, runQueueProbe, 300),
      callProbe(batched, pg, 200),
      // Not batchable: it raises as a normal answer (a missing atom), so it goes alone.
      callProbe(batched, existingAtomProbe('nope'), 100).catch(() => 'raised'),
    ]);
    expect(replies).toEqual([7, 2, null, 'raised']);
    expect(sent).toEqual([
      { call: 'erlang:binary_to_existing_atom(nope,utf8)', timeoutMs: 100 },
      {
        call: 'lists:zipwith3',
        elements: ['ets:info(sys_dist,size)', 'erlang:statistics(run_queue)', 'ets:info(pg,size)'],
        // One timer for the batch: the longest of its callers' timeouts.
        timeoutMs: 300,
      },
    ]);
  });

  it('sends a lone call unchanged, and the next turn in a batch of its own', async () => {
    const { rpc, sent } = node();
    const batched = batchCalls(rpc);
    expect(await callProbe(batched, sysDist, 5)).toBe(7);
    const later = await Promise.all([
      callProbe(batched, tableSizeProbe(atom('global_names')), 5),
      callProbe(batched, sysDist, 5),
    ]);
    expect(later).toEqual([12, 7]);
    expect(sent.map(({ call }) => call)).toEqual(['ets:info(sys_dist,size)', 'lists:zipwith3']);
  });

  it('batches the calls a batch reply sets off, however many awaits each took', async () => {
    const { rpc, sent } = node();
    const batched = batchCalls(rpc);
    const slow = async () => {
      const size = await callProbe(batched, sysDist, 5);
      await Promise.resolve();
      await Promise.resolve();
      return [size, await callProbe(batched, runQueueProbe, 5)];
    };
    const fast = async () => {
      const size = await callProbe(batched, tableSizeProbe(atom('global_names')), 5);
      return [size, await callProbe(batched, pg, 5)];
    };
    expect(await Promise.all([slow(), fast()])).toEqual([
      [7, 2],
      [12, null],
    ]);
    expect(sent.map(({ call }) => call)).toEqual(['lists:zipwith3', 'lists:zipwith3']);
  });

  it('asks every call alone when one raises, so each keeps its own answer or error', async () => {
    const { rpc, sent } = node();
    const batched = batchCalls(rpc);
    const results = await Promise.allSettled([
      callProbe(batched, sysDist, 5),
      // Batchable, but this node raises on it.
      callProbe(batched, memoryProbe, 5),
      callProbe(batched, runQueueProbe, 5),
    ]);
    expect(results).toEqual([
      { status: 'fulfilled', value: 7 },
      { status: 'rejected', reason: expect.any(BadRpcError) },
      { status: 'fulfilled', value: 2 },
    ]);
    expect(sent.map(({ call }) => call)).toEqual([
      'lists:zipwith3',
      'ets:info(sys_dist,size)',
      'erlang:memory()',
      'erlang:statistics(run_queue)',
    ]);
  });

  it("fails every caller of a batch with a timeout's or a lost connection's error, once", async () => {
    const lost = new Error('connection closed');
    const { rpc, sent } = node(lost);
    const batched = batchCalls(rpc);
    const results = await Promise.allSettled([
      callProbe(batched, sysDist, 5),
      callProbe(batched, pg, 5),
    ]);
    expect(results).toEqual([
      { status: 'rejected', reason: lost },
      { status: 'rejected', reason: lost },
    ]);
    expect(sent).toHaveLength(1);
  });
});

describe('batchProbe', () => {
  it('is built from batchable catalogue entries only, their arguments encoded once', () => {
    const first = batchProbe([uptimeProbe, runQueueProbe]);
    const second = batchProbe([runQueueProbe, uptimeProbe]);
    const [, modules, fns, argLists] = first.args as [unknown, Term[], Term[], PreEncoded[]];
    expect(modules).toEqual([atom('erlang'), atom('erlang')]);
    expect(fns).toEqual([atom('statistics'), atom('statistics')]);
    expect(argLists.map((args) => args.term)).toEqual([[atom('wall_clock')], [atom('run_queue')]]);
    // The same entry's arguments: the same encoded bytes, not encoded again.
    expect((second.args[3] as PreEncoded[])[1]).toBe(argLists[0]);

    expect(() => batchProbe([uptimeProbe, existingAtomProbe('x')])).toThrow(/may not travel/);
    expect(() => batchProbe([loadedModulesProbe])).toThrow(/may not travel/);
    const carryingFun: ProbeCall<Term> = {
      module: 'erlang',
      fn: 'statistics',
      args: [[new ExportFun(atom('os'), atom('cmd'), 1)]],
      batchable: true,
      parse: (reply) => reply,
    };
    expect(() => batchProbe([uptimeProbe, carryingFun])).toThrow(/may not travel/);
    const nested = batchProbe([uptimeProbe, runQueueProbe]);
    expect(() => batchProbe([uptimeProbe, nested])).toThrow(/may not travel/);
  });

  it('reads one reply per entry, a list of small integers arriving as a string too', () => {
    const probe = batchProbe([uptimeProbe, runQueueProbe]);
    expect(probe.parse([1, 2])).toEqual([1, 2]);
    expect(probe.parse(new Charlist('\u0001\u0002'))).toEqual([1, 2]);
    expect(() => probe.parse([1])).toThrow(/one reply per batched call/);
  });
});
