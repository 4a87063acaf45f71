import { describe, expect, it } from 'vitest';

import {
  codeSkewHeadline,
  codeSkewOf,
  MAX_SKEW_NODES,
  MAX_SKEWED_MODULES,
  moduleSkewLine,
  type CodeSet,
  type NodeCode,
} from '@/lib/code-skew';
import { codeSkewFindings } from '@/lib/code-skew-findings';

const set = (entries: Record<string, string>): CodeSet => ({
  modules: Object.keys(entries).sort(),
  md5s: Object.keys(entries)
    .sort()
    .map((module) => entries[module]!),
});
const node = (index: number, signature: string, myapp = '0.1.0'): NodeCode => ({
  node: `myapp@10.0.0.${index}`,
  signature,
  applications: [
    { name: 'kernel', version: '8.5.3' },
    { name: 'myapp', version: myapp },
  ],
});

const OLD = set({ myapp_device: 'd1', myapp_app: 'a1', lists: 'l1' });
const NEW = set({ myapp_device: 'd2', myapp_app: 'a1', lists: 'l1', myapp_new: 'n1' });

describe('codeSkewOf', () => {
  it('is null when every node runs the same code', () => {
    const sets = new Map([['old', OLD]]);
    expect(
      codeSkewOf(
        [1, 2, 3].map((index) => node(index, 'old')),
        sets,
      ),
    ).toBeNull();
  });

  it('names the module that differs during a rolling deploy: 3 of 7 nodes, two versions', () => {
    const sets = new Map([
      ['old', OLD],
      ['new', NEW],
    ]);
    const nodes = [
      ...[1, 2, 3, 4].map((index) => node(index, 'old')),
      ...[5, 6, 7].map((index) => node(index, 'new', '0.2.0')),
    ];
    const skew = codeSkewOf(nodes, sets)!;
    expect(skew.scannedNodes).toBe(7);
    // myapp_new exists only in the new build: not loaded elsewhere is no difference.
    expect(skew.modules.map((entry) => entry.module)).toEqual(['myapp_device']);
    const device = skew.modules[0]!;
    expect(device.versions).toEqual([
      { id: 'd1', count: 4, nodes: [1, 2, 3, 4].map((index) => `myapp@10.0.0.${index}`) },
      { id: 'd2', count: 3, nodes: [5, 6, 7].map((index) => `myapp@10.0.0.${index}`) },
    ]);
    expect(moduleSkewLine(device)).toBe('myapp_device differs on 3 of 7 nodes (two versions)');
    expect(skew.applications).toEqual([
      expect.objectContaining({ application: 'myapp', nodes: 7 }),
    ]);
    expect(codeSkewHeadline(skew)).toBe('myapp_device differs on 3 of 7 nodes (two versions)');
  });

  it('ignores nodes whose code set is not held, and reports application skew alone', () => {
    const sets = new Map([['old', OLD]]);
    const skew = codeSkewOf([node(1, 'old'), node(2, 'old', '0.1.1'), node(3, 'unknown')], sets)!;
    expect(skew.modules).toEqual([]);
    expect(skew.scannedNodes).toBe(2);
    expect(codeSkewHeadline(skew)).toBe('myapp runs 0.1.0 on 2 nodes, 0.1.1 on 1');
  });

  it('caps the modules and the nodes it names, most nodes off the main version first', () => {
    const modules = Array.from({ length: MAX_SKEWED_MODULES + 10 }, (_, index) => `m${index}`);
    const a = set(Object.fromEntries(modules.map((module) => [module, 'x'])));
    const b = set(Object.fromEntries(modules.map((module) => [module, 'y'])));
    const c = set({ ...Object.fromEntries(modules.map((module) => [module, 'x'])), m7: 'z' });
    const sets = new Map([
      ['a', a],
      ['b', b],
      ['c', c],
    ]);
    const nodes = [
      ...Array.from({ length: 30 }, (_, index) => node(index, 'a')),
      ...Array.from({ length: 25 }, (_, index) => node(100 + index, 'b')),
      node(200, 'c'),
    ];
    const skew = codeSkewOf(nodes, sets)!;
    expect(skew.moduleCount).toBe(MAX_SKEWED_MODULES + 10);
    expect(skew.modules).toHaveLength(MAX_SKEWED_MODULES);
    // m7: 30 + 25 + 1 nodes in three versions, 26 off the main one; the others 25 off.
    expect(skew.modules[0]!.module).toBe('m7');
    expect(moduleSkewLine(skew.modules[0]!)).toBe('m7 differs on 26 of 56 nodes (three versions)');
    expect(skew.modules[0]!.versions[0]!.nodes).toHaveLength(MAX_SKEW_NODES);
    expect(skew.modules[0]!.versions[0]!.count).toBe(30);
  });
});

describe('codeSkewFindings', () => {
  it('warns per module and application, then counts the rest', () => {
    const sets = new Map([
      ['old', OLD],
      ['new', NEW],
    ]);
    const state = { codeSkew: codeSkewOf([node(1, 'old'), node(2, 'new', '0.2.0')], sets) };
    const findings = codeSkewFindings(state);
    expect(findings.map((finding) => [finding.verdict, finding.code, finding.reason])).toEqual([
      ['warn', 'code_skew', 'myapp_device differs on 1 of 2 nodes (two versions)'],
      ['warn', 'application_skew', 'myapp runs 0.1.0 on 1 node, 0.2.0 on 1'],
      ['warn', 'code_skew', expect.stringContaining('2 nodes compared')],
    ]);
    expect(codeSkewFindings({ codeSkew: null })).toEqual([]);
  });
});
