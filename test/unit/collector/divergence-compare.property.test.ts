/**
 * Comparing registry copies two ways (issue 16, a collector that scales): a copy counted on the
 * node one host at a time (k calls per copy), or from one reply listing each row's host. Over
 * random copies of `:global`'s table — names missing on some, names on two processes, rows whose
 * process is outside the partition — both ways find the same things; and the plan of calls is
 * one per small copy, one per host for a large one. Real nodes answer the same calls in
 * test/integration/collector/divergence.test.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { CALL_COST, compareCopies, countPlan } from '@/server/collector/divergence';
import { encodeTerm } from '@/server/erlang/codec';
import { Atom, Pid, Tuple, atom, tuple, type Term } from '@/server/erlang/codec/terms';
import type { RpcFunction } from '@/server/erlang/probes';

const NODES = ['a@h', 'b@h', 'c@h', 'd@h'];
/** A host outside the compared partition: its rows are in no host's count. */
const OUTSIDE = 'z@h';

/** One row of `global_names`: `{Name, Pid, Method, Ref}`. */
interface Row {
  name: number;
  host: string;
}

/** The pid slot's node in a match spec guard or body: `{node, {element, 2, '$1'}}`. */
function isNodeOfPid(term: Term | undefined): boolean {
  return (
    term instanceof Tuple && term.at(0) instanceof Atom && (term.at(0) as Atom).name === 'node'
  );
}

/** An rpc that answers the comparison's calls from one node's copy, as ETS would. */
function copyRpc(rows: readonly Row[]): RpcFunction {
  const term = (row: Row): Term =>
    tuple(atom(`n${row.name}`), new Pid(atom(row.host), row.name, 0, 1), atom('method'), 0);
  // As the connection does for a call that asks for `encodedReply`: term_to_binary's bytes.
  return async (module, fn, args, options) => {
    const reply = answer(module, fn, args);
    return options?.encodedReply ? encodeTerm(reply) : reply;
  };
  function answer(module: string, fn: string, args: Term[]): Term {
    const [table, spec] = args;
    if (module === 'erlang' && fn === 'binary_to_existing_atom') return atom('global_names');
    expect(table).toEqual(atom('global_names'));
    if (module === 'ets' && fn === 'info') return rows.length;
    if (module === 'ets' && fn === 'lookup') {
      return rows.filter((row) => `n${row.name}` === (spec as Atom).name).map(term);
    }
    const clause = (spec as Term[])[0] as Tuple;
    const guard = (clause.at(1) as Term[])[0] as Tuple;
    const body = (clause.at(2) as Term[])[0]!;
    if (module === 'ets' && fn === 'select' && isNodeOfPid(body)) {
      return rows.map((row) => atom(row.host));
    }
    // `{'=:=', {node, Pid}, Host}`: a count, or the keys, of the rows on one host.
    const host = (guard.at(2) as Atom).name;
    const onHost = rows.filter((row) => row.host === host);
    if (module === 'ets' && fn === 'select_count') return onHost.length;
    if (module === 'ets' && fn === 'select') return onHost.map((row) => atom(`n${row.name}`));
    throw new Error(`unexpected call ${module}:${fn}`);
  }
}

/** Each node's copy: a shared set of names, then per copy some dropped, moved or added. */
const copiesArbitrary = fc
  .record({
    shared: fc.array(fc.constantFrom(...NODES, OUTSIDE), { maxLength: 24 }),
    edits: fc.array(
      fc.array(
        fc.record({
          kind: fc.constantFrom('drop', 'move', 'add'),
          name: fc.nat(30),
          host: fc.constantFrom(...NODES, OUTSIDE),
        }),
        { maxLength: 4 },
      ),
      { minLength: NODES.length, maxLength: NODES.length },
    ),
  })
  .map(({ shared, edits }) =>
    NODES.map((_, index) => {
      const rows = new Map(shared.map((host, name) => [name, host]));
      for (const edit of edits[index]!) {
        if (edit.kind === 'drop') rows.delete(edit.name);
        else if (edit.kind === 'move' && rows.has(edit.name)) rows.set(edit.name, edit.host);
        else if (edit.kind === 'add') rows.set(edit.name, edit.host);
      }
      return [...rows].map(([name, host]): Row => ({ name, host }));
    }),
  );

describe('comparing copies from one list of hosts per copy', () => {
  it('finds what counting per host finds', async () => {
    await fc.assert(
      fc.asyncProperty(copiesArbitrary, async (copies) => {
        const rpcOf = (node: string) => copyRpc(copies[NODES.indexOf(node)]!);
        const compare = async (callWorthInRows: number) => {
          const costs: number[] = [];
          const result = (await compareCopies(rpcOf, 'global', NODES, {
            timeoutMs: 1000,
            maxCallsInFlight: 3,
            callWorthInRows,
            pace: async (cost) => {
              costs.push(cost);
            },
          }))!;
          // The budget is asked before every call: a call's cost, and a row's for each row the
          // reply carries (every copy's rows when listed, the keys of the hosts that differ).
          expect(costs).toHaveLength(result.calls);
          const rows = costs.reduce((sum, cost) => sum + cost, 0) - CALL_COST * result.calls;
          return { result, rows };
        };
        const counted = await compare(0);
        const listed = await compare(Number.POSITIVE_INFINITY);
        expect({ ...listed.result, calls: 0 }).toEqual({ ...counted.result, calls: 0 });
        // A table check and a size per copy, then a count per host, or one list.
        const lookups = counted.result.calls - 2 * NODES.length - NODES.length * NODES.length;
        expect(listed.result.calls).toBe(2 * NODES.length + NODES.length + lookups);
        expect(counted.rows).toBe(counted.result.keysFetched);
        const copyRows = copies.reduce((sum, rows) => sum + rows.length, 0);
        expect(listed.rows).toBe(copyRows + listed.result.keysFetched);
      }),
      { numRuns: 150 },
    );
  });
});

describe('countPlan', () => {
  it('asks one call of a small copy and one per host of a large one, in copy order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.option(fc.nat(400), { nil: null }), { maxLength: 12 }),
        fc.integer({ min: 1, max: 9 }),
        fc.constantFrom(0, 1, CALL_COST, Number.POSITIVE_INFINITY),
        (sizes, hosts, callWorth) => {
          const plan = countPlan(
            sizes.map((size) => ({ size })),
            hosts,
            callWorth,
          );
          const expected = sizes.flatMap((size, copyIndex): Array<ReturnType<typeof plan.task>> =>
            // Listing costs a call and its rows, counting a call per host (a call being worth
            // `callWorth` rows).
            callWorth > 0 && size !== null && size + callWorth <= callWorth * hosts
              ? [{ copyIndex, host: null }]
              : Array.from({ length: hosts }, (_, host) => ({ copyIndex, host })),
          );
          expect(plan.tasks).toBe(expected.length);
          expect(Array.from({ length: plan.tasks }, (_, index) => plan.task(index))).toEqual(
            expected,
          );
        },
      ),
    );
  });
});
