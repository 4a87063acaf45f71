import { describe, expect, it } from 'vitest';

import type { CodeScanSummary } from '@/lib/code-skew';
import { CodeScans, DEFAULT_CODE_SCAN } from '@/server/collector/code-scans';
import type { CodeScanResult } from '@/server/erlang/probes';

const result = (md5: string, version = '0.1.0'): CodeScanResult => ({
  applications: [{ name: 'myapp', version }],
  modules: ['myapp_device'],
  md5s: [md5],
  signature: `sig-${md5}`,
  skipped: 0,
  error: null,
});

/** Scans that finish when the test says, on a clock the test moves. */
function harness(settings: Partial<typeof DEFAULT_CODE_SCAN> = {}, held = () => false) {
  let now = 1_000_000;
  const code = new Map<string, string>();
  const asked: string[] = [];
  const waiting: Array<() => void> = [];
  const outcomes: Array<{ node: string; summary: CodeScanSummary }> = [];
  const scans = new CodeScans(
    { ...DEFAULT_CODE_SCAN, ...settings },
    (node) => {
      asked.push(node);
      return new Promise((resolve, reject) =>
        waiting.push(() => {
          const md5 = code.get(node);
          if (md5 === undefined) reject(new Error('nodedown'));
          else resolve(result(md5, md5 === 'new' ? '0.2.0' : '0.1.0'));
        }),
      );
    },
    (node, summary) => outcomes.push({ node, summary }),
    () => now,
    held,
  );
  const settle = async () => {
    while (waiting.length > 0) {
      waiting.splice(0).forEach((finish) => finish());
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  return {
    scans,
    code,
    asked,
    outcomes,
    settle,
    advance: (ms: number) => (now += ms),
  };
}

describe('CodeScans', () => {
  it('holds the scans while told to, and starts them, a few at a time, once resumed', async () => {
    let held = true;
    const { scans, code, asked, outcomes, settle } = harness({ concurrency: 2 }, () => held);
    for (const node of ['a', 'b', 'c']) {
      code.set(node, 'old');
      scans.observe(node, 100);
    }
    await settle();
    expect(asked).toEqual([]);
    expect(scans.pending()).toBe(3);
    // Resumed while still held: nothing starts.
    scans.resume();
    expect(asked).toEqual([]);
    held = false;
    scans.resume();
    expect(asked).toEqual(['a', 'b']);
    await settle();
    expect(asked).toEqual(['a', 'b', 'c']);
    expect(outcomes.map(({ node }) => node).sort()).toEqual(['a', 'b', 'c']);
    expect(scans.pending()).toBe(0);
  });

  it('scans a node once when first seen, not at every probe', async () => {
    const { scans, code, asked, settle } = harness();
    code.set('a', 'old');
    scans.observe('a', 100);
    scans.observe('a', 100);
    expect(scans.pending()).toBe(1);
    await settle();
    scans.observe('a', 100);
    expect(asked).toEqual(['a']);
    expect(scans.pending()).toBe(0);
  });

  it('scans again when the code size moves, no sooner than the minimum interval', async () => {
    const { scans, code, asked, settle, advance } = harness({ minIntervalMs: 30_000 });
    code.set('a', 'old');
    scans.observe('a', 100);
    await settle();
    advance(10_000);
    scans.observe('a', 200);
    expect(asked).toHaveLength(1);
    advance(25_000);
    scans.observe('a', 200);
    expect(asked).toHaveLength(2);
  });

  it('scans again after the maximum age even when nothing moved, and after a reconnect', async () => {
    const { scans, code, asked, settle, advance } = harness({ maxAgeMs: 60_000 });
    code.set('a', 'old');
    scans.observe('a', 100);
    await settle();
    advance(61_000);
    scans.observe('a', 100);
    await settle();
    expect(asked).toHaveLength(2);
    scans.reconnected('a');
    scans.observe('a', 100);
    expect(asked).toHaveLength(3);
  });

  it('runs at most `concurrency` scans at once', () => {
    const { scans, code, asked } = harness({ concurrency: 2 });
    for (const node of ['a', 'b', 'c']) {
      code.set(node, 'old');
      scans.observe(node, 1);
    }
    expect(asked).toEqual(['a', 'b']);
    expect(scans.pending()).toBe(3);
  });

  it('shows the skew while nodes differ and drops a forgotten node', async () => {
    const { scans, code, settle, outcomes } = harness();
    code.set('a', 'old');
    code.set('b', 'new');
    scans.observe('a', 1);
    scans.observe('b', 1);
    await settle();
    const skew = scans.skew(['a', 'b']);
    expect(skew?.modules[0]?.module).toBe('myapp_device');
    // The same answer, the same object: no delta for a state that did not change.
    expect(scans.skew(['a', 'b'])).toBe(skew);
    scans.forget('b');
    expect(scans.skew(['a'])).toBeNull();
    expect(outcomes.map((entry) => entry.summary.error)).toEqual([null, null]);
  });

  it('reports a failed scan on the node and keeps what the last good one found', async () => {
    const { scans, code, settle, outcomes, advance } = harness({ maxAgeMs: 1000 });
    code.set('a', 'old');
    code.set('b', 'new');
    scans.observe('a', 1);
    scans.observe('b', 1);
    await settle();
    code.delete('b');
    advance(2000);
    scans.observe('b', 1);
    await settle();
    expect(outcomes.at(-1)?.summary.error).toContain('nodedown');
    expect(scans.skew(['a', 'b'])?.modules).toHaveLength(1);
  });

  it('tries a failed scan again after the minimum interval, not the maximum age', async () => {
    const { scans, asked, settle, advance } = harness({ minIntervalMs: 1000, maxAgeMs: 60_000 });
    scans.observe('gone', 1);
    await settle();
    advance(500);
    scans.observe('gone', 1);
    expect(asked).toHaveLength(1);
    advance(600);
    scans.observe('gone', 1);
    expect(asked).toHaveLength(2);
  });
});
