import type { RegistryLookupResponse } from '@/lib/api';

/**
 * A lookup answer whose copies disagree: two views (one on a node beamscope is not connected to),
 * a copy lacking the name, and a node that could not be asked. For the CLI and page renderings.
 */
export const node = (index: number) => `myapp@10.0.0.${index}`;

export const DISAGREEING: RegistryLookupResponse = {
  clusterId: 'prod',
  name: 'device-00042',
  readAs: 'text',
  keys: [
    { keyType: 'binary', key: '<<"device-00042">>' },
    { keyType: 'charlist', key: '"device-00042"' },
  ],
  found: true,
  entries: [
    {
      registry: 'swarm',
      label: 'Swarm',
      keyType: 'binary',
      key: '<<"device-00042">>',
      replicated: true,
      views: [
        {
          pid: { node: node(3), id: 201, serial: 0 },
          host: { node: node(3), status: 'connected' },
          nodes: [node(1), node(2), node(3)],
        },
        {
          pid: { node: node(7), id: 88, serial: 0 },
          host: { node: node(7), status: 'disconnected' },
          nodes: [node(7)],
        },
      ],
      missingOn: [node(8)],
      disagree: true,
      summary:
        'the copies disagree: 3 nodes say <0.201.0> on myapp@10.0.0.3, 1 says <0.88.0> on myapp@10.0.0.7 (not connected), 1 has no such name',
    },
  ],
  nodes: [
    {
      node: node(9),
      atomExists: false,
      matches: [],
      errors: [{ registry: 'node', message: 'timed out' }],
    },
  ],
};
