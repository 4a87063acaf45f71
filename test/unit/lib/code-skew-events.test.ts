import { describe, expect, it } from 'vitest';

import { diffClusterStates } from '@/lib/cluster-diff';
import { codeSkewOf, type CodeSet, type CodeSkew, type NodeCode } from '@/lib/code-skew';
import { CODE_SKEW_EVENT_SAMPLE, codeSkewEvents } from '@/lib/code-skew-events';

import { fullMesh, ip, pod, stateOf } from './fixtures';

const setOf = (entries: Record<string, string>): CodeSet => {
  const modules = Object.keys(entries).sort();
  return { modules, md5s: modules.map((module) => entries[module]!) };
};
const node = (index: number, signature: string, myapp = '0.1.0'): NodeCode => ({
  node: `myapp@10.0.0.${index}`,
  signature,
  applications: [{ name: 'myapp', version: myapp }],
});

const OLD = setOf({ myapp_device: 'd1', myapp_app: 'a1', lists: 'l1' });
const NEW = setOf({ myapp_device: 'd2', myapp_app: 'a1', lists: 'l1' });
const NEWER = setOf({ myapp_device: 'd3', myapp_app: 'a2', lists: 'l1' });
const SETS = new Map([
  ['old', OLD],
  ['new', NEW],
  ['newer', NEWER],
]);

/** Seven nodes, the first `upgraded` of them on `to`, the rest on the old build. */
function deploy(upgraded: number, to = 'new', version = '0.1.0'): CodeSkew | null {
  const nodes = [1, 2, 3, 4, 5, 6, 7].map((index) =>
    index <= upgraded ? node(index, to, version) : node(index, 'old'),
  );
  return codeSkewOf(nodes, SETS);
}

describe('codeSkewEvents', () => {
  it('tells of skew appearing, with the headline and a bounded sample', () => {
    const events = codeSkewEvents(null, deploy(3));
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      kind: 'code_skew_detected',
      severity: 'warning',
      message: 'code skew: myapp_device differs on 3 of 7 nodes (two versions)',
      codeSkew: {
        scannedNodes: 7,
        modules: { count: 1, sample: ['myapp_device'] },
        applications: { count: 0, sample: [] },
      },
    });
  });

  it('says nothing while a rolling deploy moves on with the same versions', () => {
    for (let upgraded = 1; upgraded < 6; upgraded += 1)
      expect(codeSkewEvents(deploy(upgraded), deploy(upgraded + 1))).toEqual([]);
    expect(codeSkewEvents(deploy(3), deploy(3))).toEqual([]);
  });

  it('tells of a change when other modules or versions differ', () => {
    const [changed] = codeSkewEvents(deploy(3), deploy(3, 'newer'));
    expect(changed).toMatchObject({
      kind: 'code_skew_changed',
      severity: 'warning',
      message: expect.stringMatching(/^code skew changed: /),
      codeSkew: { modules: { count: 2 } },
    });
    // An application version differing is a change too.
    expect(kinds(codeSkewEvents(deploy(3), deploy(3, 'new', '0.2.0')))).toEqual([
      'code_skew_changed',
    ]);
  });

  it('tells of the skew clearing once', () => {
    expect(codeSkewEvents(deploy(6), deploy(7))).toEqual([
      {
        kind: 'code_skew_cleared',
        severity: 'info',
        message: 'code skew cleared: every node runs the same code',
      },
    ]);
    expect(codeSkewEvents(null, null)).toEqual([]);
  });

  it('stays one small event whatever the number of modules', () => {
    const many = (md5: string): CodeSet =>
      setOf(
        Object.fromEntries(
          Array.from({ length: 5000 }, (_, index) => [
            `mod_${String(index).padStart(4, '0')}`,
            md5,
          ]),
        ),
      );
    const sets = new Map([
      ['a', many('x')],
      ['b', many('y')],
    ]);
    const skew = codeSkewOf([node(1, 'a'), node(2, 'a'), node(3, 'b')], sets)!;
    const events = codeSkewEvents(null, skew);
    expect(events).toHaveLength(1);
    expect(events[0]!.codeSkew!.modules.count).toBe(5000);
    expect(events[0]!.codeSkew!.modules.sample).toHaveLength(CODE_SKEW_EVENT_SAMPLE);
    expect(events[0]!.message).toBe(
      'code skew: mod_0000 differs on 1 of 3 nodes (two versions) and 4999 more modules',
    );
    expect(JSON.stringify(events[0]).length).toBeLessThan(600);
  });
});

const kinds = (events: Array<{ kind: string }>) => events.map((event) => event.kind);

describe('diffClusterStates and code skew', () => {
  it('puts one code skew event among the timeline when the skew changes', () => {
    const pods = [pod(ip(1)), pod(ip(2))];
    const base = stateOf(pods, fullMesh([1, 2]), 1);
    const skewed = { ...base, at: 2, codeSkew: deploy(3) };
    expect(kinds(diffClusterStates(base, skewed))).toEqual(['code_skew_detected']);
    expect(kinds(diffClusterStates(skewed, { ...skewed, at: 3, codeSkew: deploy(4) }))).toEqual([]);
    expect(kinds(diffClusterStates(skewed, { ...base, at: 4 }))).toEqual(['code_skew_cleared']);
  });
});
