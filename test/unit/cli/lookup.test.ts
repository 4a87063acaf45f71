import { describe, expect, it } from 'vitest';

import type { RegistryLookupResponse } from '@/lib/api';
import { formatLookup } from '@/server/cli/commands/lookup';

import { DISAGREEING } from '../../support/lookup-answer';

describe('beamscope lookup output', () => {
  it('prints each entry in one sentence, then its views with their nodes, then errors', () => {
    expect(formatLookup(DISAGREEING).split('\n')).toEqual([
      'Swarm <<"device-00042">>: the copies disagree: 3 nodes say <0.201.0> on myapp@10.0.0.3, 1 says <0.88.0> on myapp@10.0.0.7 (not connected), 1 has no such name',
      '  <0.201.0> on myapp@10.0.0.3 — held by myapp@10.0.0.1, myapp@10.0.0.2, myapp@10.0.0.3',
      '  <0.88.0> on myapp@10.0.0.7 (not connected) — held by myapp@10.0.0.7',
      '  no such name — in the copies of myapp@10.0.0.8',
      'error: myapp@10.0.0.9: node: timed out',
    ]);
  });

  it('says what was tried when the name is registered nowhere', () => {
    const none: RegistryLookupResponse = { ...DISAGREEING, found: false, entries: [], nodes: [] };
    expect(formatLookup(none)).toBe(
      'device-00042: registered nowhere (0 nodes asked; tried <<"device-00042">>, "device-00042")',
    );
  });
});
