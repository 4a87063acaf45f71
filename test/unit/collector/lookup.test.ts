import { describe, expect, it } from 'vitest';

import type { LookupHostStatus } from '@/lib/api';
import { checkLookupName, lookupAcross } from '@/server/collector/lookup';
import type { NameLookup, NameMatch, RegistryCopy } from '@/server/erlang/probes';

const node = (index: number) => `myapp@10.0.0.${index}`;
const pid = (host: number, id: number) => ({ node: node(host), id, serial: 0 });

function swarmMatch(host: number, id: number): NameMatch {
  return { registry: 'swarm', keyType: 'binary', key: '<<"device-00042">>', pid: pid(host, id) };
}

function answer(matches: NameMatch[], copies: RegistryCopy[] = [{ registry: 'swarm' }]) {
  return (): NameLookup => ({
    name: 'device-00042',
    atomExists: false,
    matches,
    copies,
    errors: [],
  });
}

/** Runs a cluster lookup over scripted per-node answers. */
function lookupOver(
  answers: Record<string, () => NameLookup>,
  hostStatus: (host: string) => LookupHostStatus = () => 'connected',
  name = 'device-00042',
) {
  return lookupAcross({
    clusterId: 'c',
    name: checkLookupName(name),
    nodes: Object.keys(answers),
    concurrency: 3,
    lookup: async (asked) => answers[asked]!(),
    hostStatus,
  });
}

describe('a name lookup across the cluster: one entry per registry and key, one view per process', () => {
  it('says plainly when the copies disagree, the most widely held view first', async () => {
    const answers: Record<string, () => NameLookup> = {};
    for (const index of [1, 2, 3, 4, 5]) answers[node(index)] = answer([swarmMatch(3, 201)]);
    for (const index of [6, 7]) answers[node(index)] = answer([swarmMatch(7, 88)]);
    const result = await lookupOver(answers);
    expect(result.found).toBe(true);
    expect(result.entries).toHaveLength(1);
    const [entry] = result.entries;
    expect(entry).toMatchObject({
      registry: 'swarm',
      label: 'Swarm',
      keyType: 'binary',
      key: '<<"device-00042">>',
      replicated: true,
      disagree: true,
      missingOn: [],
      summary:
        'the copies disagree: 5 nodes say <0.201.0> on myapp@10.0.0.3, 2 say <0.88.0> on myapp@10.0.0.7',
    });
    expect(entry!.views).toEqual([
      {
        pid: pid(3, 201),
        host: { node: node(3), status: 'connected' },
        nodes: [1, 2, 3, 4, 5].map(node),
      },
      { pid: pid(7, 88), host: { node: node(7), status: 'connected' }, nodes: [6, 7].map(node) },
    ]);
    // Each node's own answer is still there.
    expect(result.nodes.map((entry_) => entry_.matches.length)).toEqual([1, 1, 1, 1, 1, 1, 1]);
  });

  it('says the copies agree, and names the host when it is down or no member', async () => {
    const agree = await lookupOver({
      [node(1)]: answer([swarmMatch(2, 5)]),
      [node(2)]: answer([swarmMatch(2, 5)]),
      [node(10)]: answer([swarmMatch(2, 5)]),
    });
    expect(agree.entries[0]!.summary).toBe('all 3 copies agree: <0.5.0> on myapp@10.0.0.2');
    expect(agree.nodes.map((entry) => entry.node)).toEqual([node(1), node(2), node(10)]);

    const ghost = await lookupOver({ [node(1)]: answer([swarmMatch(9, 5)]) }, (host) =>
      host === node(9) ? 'not_a_member' : 'connected',
    );
    expect(ghost.entries[0]!.summary).toBe('1 copy: <0.5.0> on myapp@10.0.0.9 (not a member)');
    const down = await lookupOver(
      { [node(1)]: answer([swarmMatch(2, 5)]), [node(3)]: answer([swarmMatch(2, 5)]) },
      () => 'disconnected',
    );
    expect(down.entries[0]!.views[0]!.host).toEqual({ node: node(2), status: 'disconnected' });
    expect(down.entries[0]!.summary).toBe(
      'all 2 copies agree: <0.5.0> on myapp@10.0.0.2 (not connected)',
    );
  });

  it('counts a copy that lacks the name as disagreeing, but not a node without a copy or one that failed', async () => {
    const result = await lookupOver({
      [node(1)]: answer([swarmMatch(1, 7)]),
      [node(2)]: answer([swarmMatch(1, 7)]),
      [node(3)]: answer([]),
      [node(4)]: answer([], []),
      [node(5)]: () => {
        throw new Error('connection lost');
      },
    });
    const [entry] = result.entries;
    expect(entry!.missingOn).toEqual([node(3)]);
    expect(entry!.disagree).toBe(true);
    expect(entry!.summary).toBe(
      'the copies disagree: 2 nodes say <0.7.0> on myapp@10.0.0.1, 1 has no such name',
    );
    expect(result.nodes.at(-1)).toEqual({
      node: node(5),
      atomExists: false,
      matches: [],
      errors: [{ registry: 'node', message: 'connection lost' }],
    });
  });

  it('keeps node-local registries apart: each node its own process, no disagreement', async () => {
    const local = (host: number, id: number): NameMatch => ({
      registry: 'local',
      keyType: 'atom',
      key: 'net_kernel',
      pid: pid(host, id),
    });
    const result = await lookupOver(
      {
        [node(1)]: answer([local(1, 20)], []),
        [node(2)]: answer([local(2, 21)], []),
      },
      undefined,
      'net_kernel',
    );
    expect(result.entries[0]).toMatchObject({
      label: 'local name',
      replicated: false,
      disagree: false,
      summary:
        'node-local, registered on 2 nodes: <0.20.0> on myapp@10.0.0.1, <0.21.0> on myapp@10.0.0.2',
    });
  });

  it('orders entries by registry, registry name and key, and says what was tried when nothing is found', async () => {
    const horde: NameMatch = {
      registry: 'horde',
      registryName: 'MyApp.Devices',
      keyType: 'tuple',
      key: '{device,42}',
      pid: pid(1, 3),
    };
    const { registryName: _registryName, ...unnamed } = horde;
    const global: NameMatch = { ...unnamed, registry: 'global' };
    const found = await lookupOver(
      {
        [node(1)]: answer(
          [horde, global],
          [{ registry: 'global' }, { registry: 'horde', registryName: 'MyApp.Devices' }],
        ),
      },
      undefined,
      '{:device, 42}',
    );
    expect(found.readAs).toBe('term');
    expect(found.entries.map((entry) => entry.label)).toEqual([':global', 'Horde MyApp.Devices']);

    const none = await lookupOver({ [node(1)]: answer([]) });
    expect(none).toMatchObject({ found: false, entries: [], readAs: 'text' });
    expect(none.keys).toEqual([
      { keyType: 'binary', key: '<<"device-00042">>' },
      { keyType: 'charlist', key: '"device-00042"' },
      { keyType: 'atom', key: "'device-00042'" },
    ]);
  });

  it('refuses a malformed name as a bad request saying why', () => {
    expect(() => checkLookupName('{:device, 42')).toThrow(
      expect.objectContaining({ code: 'bad_request', message: expect.stringMatching(/"}"/) }),
    );
    expect(() => checkLookupName('')).toThrow(expect.objectContaining({ code: 'bad_request' }));
  });
});
