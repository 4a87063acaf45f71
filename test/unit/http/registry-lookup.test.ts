import { EventEmitter } from 'node:events';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Collector } from '@/server/collector/collector';
import type { CollectorManager } from '@/server/collector/options';
import { Atom, Pid, atom, tuple, type Term } from '@/server/erlang/codec/terms';
import { erlangError } from '@/server/erlang/errors';
import type { NodeConnectionState } from '@/server/erlang/manager';
import { registryLookup } from '@/server/http/cluster-api';
import { errorResponse } from '@/server/http/responses';

import { FixedSource } from '../../support/fixed-source';
import { pod } from '../lib/fixtures';

const node = (index: number) => `myapp@10.0.0.${index}`;
const MEMBERS = [1, 2, 3, 4].map((index) => pod(`10.0.0.${index}`));

/** Nodes 1–3 connected, node 4 unreachable; each node answers from its own Swarm copy. */
class ScriptedManager extends EventEmitter implements CollectorManager {
  track(): void {}
  state(asked: string): NodeConnectionState {
    return asked === node(4)
      ? { status: 'unreachable', since: 0, reason: 'down', code: 'node_down' }
      : { status: 'connected', since: 0 };
  }
  rpc = async (asked: string, module: string, fn: string, args: Term[]): Promise<Term> => {
    const call = `${module}:${fn}`;
    if (call === 'erlang:binary_to_existing_atom') {
      const name = Buffer.from(args[0] as Uint8Array).toString();
      if (name === 'device') return atom(name);
    } else if (call === 'global:whereis_name') return atom('undefined');
    else if (call === 'ets:lookup' && (args[0] as Atom).name === 'swarm_registry') {
      // The copies disagree: nodes 1 and 2 say a process on node 4, node 3 one of its own.
      const owner =
        asked === node(3) ? new Pid(atom(node(3)), 6, 0, 1) : new Pid(atom(node(4)), 5, 0, 1);
      return [tuple(atom('entry'), args[1]!, owner, atom('r'), atom('m'), tuple(1, 0))];
    }
    throw erlangError('badrpc', `${call} failed: badarg`);
  };
}

let collector: Collector;

beforeAll(() => {
  collector = new Collector({
    clusterId: 'test',
    localNode: 'beamscope@127.0.0.1',
    source: new FixedSource(MEMBERS),
    manager: new ScriptedManager(),
    pollIntervalMs: 60_000,
  }).start();
  collector.flush();
});

afterAll(() => collector.stop());

const lookup = (name: string) => registryLookup({ collector }, new URLSearchParams({ name }));

describe('GET /api/clusters/{id}/registry?name=', () => {
  it('answers one entry per view, naming the disagreement and the unreachable host', async () => {
    const answer = await lookup('{:device, 42}');
    expect(answer).toMatchObject({
      clusterId: 'test',
      name: '{:device, 42}',
      readAs: 'term',
      found: true,
    });
    expect(answer.nodes.map((entry) => entry.node)).toEqual([node(1), node(2), node(3)]);
    expect(answer.entries).toHaveLength(1);
    expect(answer.entries[0]).toMatchObject({
      label: 'Swarm',
      key: '{device,42}',
      disagree: true,
      summary:
        'the copies disagree: 2 nodes say <0.5.0> on myapp@10.0.0.4 (not connected), 1 says <0.6.0> on myapp@10.0.0.3',
    });
    expect(answer.entries[0]!.views.map((view) => view.host)).toEqual([
      { node: node(4), status: 'disconnected' },
      { node: node(3), status: 'connected' },
    ]);
    // Plain data: it survives JSON unchanged.
    expect(JSON.parse(JSON.stringify(answer))).toEqual(answer);
  });

  it('answers "nowhere" without sending a term whose atom no node has', async () => {
    const answer = await lookup('{:no_such_atom, 42}');
    expect(answer).toMatchObject({ found: false, entries: [] });
    for (const entry of answer.nodes)
      expect(entry).toMatchObject({ atomExists: false, errors: [] });
  });

  it('refuses malformed term syntax and a missing or repeated name with a 400', async () => {
    for (const run of [
      () => lookup('{:device, 42'),
      () => lookup('{:a, b}'),
      () => registryLookup({ collector }, new URLSearchParams('name=a&name=b')),
    ]) {
      let status = 0;
      try {
        await run();
      } catch (error) {
        status = errorResponse(error).status;
      }
      expect(status).toBe(400);
    }
  });
});
