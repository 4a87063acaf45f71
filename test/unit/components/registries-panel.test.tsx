import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';

import { RegistriesPanel } from '@/components/RegistriesPanel';
import type { ClusterState } from '@/lib/cluster-state';

import { fullMesh, ip, n, pod, stateOf, swarm } from '../lib/fixtures';
import { divergenceOf, rebalanceOf } from '../lib/registry-fixtures';

/** The demo of the issue: 10,000 devices on 7 nodes, each node's Swarm copy holding all of them. */
function demo(hosted: number[], extra: Partial<ClusterState> = {}): ClusterState {
  const indexes = hosted.map((_, index) => index + 1);
  const state = stateOf(
    indexes.map((index) => pod(ip(index))),
    fullMesh(indexes).map((entry, index) => ({
      ...entry,
      registries: [
        swarm(10_000, hosted[index]!),
        { registry: 'registry:MyApp.Sessions', count: index, hosted: null, replicated: false },
      ],
    })),
  );
  return { ...state, ...extra };
}

const render = (state: ClusterState) =>
  renderToStaticMarkup(<RegistriesPanel state={state} onSelectNode={() => undefined} />);

/** The values of `attribute` on elements of `testId`, in document order. */
function attributes(html: string, testId: string, attribute: string): string[] {
  const found: string[] = [];
  for (const match of html.matchAll(new RegExp(`<[^>]*data-testid="${testId}"[^>]*>`, 'g'))) {
    const value = new RegExp(`${attribute}="([^"]*)"`).exec(match[0]);
    if (value) found.push(value[1]!);
  }
  return found;
}

describe('RegistriesPanel', () => {
  const even = [1430, 1428, 1429, 1428, 1430, 1427, 1428];

  it('draws a card per registry and a bar per node of what it hosts, adding up to the total', () => {
    const html = render(demo(even));
    expect(attributes(html, 'registry', 'data-registry')).toEqual([
      'registry:MyApp.Sessions',
      'swarm',
    ]);
    const hosted = attributes(html, 'registry-bar', 'data-hosted').map(Number);
    // Both registries' bars: the Sessions keys (0 … 6), then Swarm's seven shares.
    expect(hosted.slice(7)).toEqual(even);
    expect(hosted.slice(7).reduce((sum, value) => sum + value, 0)).toBe(10_000);
    expect(html).toContain('hosted adds up to 10,000 of 10,000');
    expect(html).toContain('each node’s copy holds 10,000');
  });

  it('never shows the copy’s size as a node’s figure', () => {
    const html = render(demo(even));
    const figures = [...html.matchAll(/data-testid="registry-bar-value"[^>]*>([^<]*)</g)].map(
      (match) => match[1],
    );
    expect(figures).toHaveLength(14);
    expect(figures).not.toContain('10,000');
    expect(figures).toContain('1,430');
  });

  it('states a broken invariant plainly and names the node that hosts nothing yet', () => {
    const html = render(demo([1700, 1650, 1650, 1650, 1650, 1650, 0]));
    expect(html).toContain('hosted adds up to 9,950 of 10,000');
    expect(html).toContain('(50 short)');
    expect(html).toContain('joined, hosts nothing yet');
    expect(attributes(html, 'registry', 'data-invariant')).toEqual(['unchecked', 'broken']);
  });

  it('reads a node-local registry without a copy', () => {
    const html = render(demo(even));
    const local = html.slice(0, html.indexOf('data-registry="swarm"'));
    expect(local).toContain('node-local');
    expect(local).toContain('across 7 nodes');
    expect(local).not.toContain('node’s copy');
  });

  it('keeps a table of the same figures for screen readers, with buttons to open each node', () => {
    const html = render(demo(even));
    expect(attributes(html, 'registry-table', 'class')).toEqual(['sr-only', 'sr-only']);
    expect(attributes(html, 'registry-row', 'data-hosted').slice(7).map(Number)).toEqual(even);
    expect(html).toContain(`<button type="button"`);
    expect(html).toMatch(/aria-hidden="true" data-testid="registry-bars"/);
  });

  it('shows a rebalance under way and copies that disagree, with pids and who holds each', () => {
    const rebalance = rebalanceOf();
    const divergence = divergenceOf({
      missing: {
        count: 12,
        sample: [{ name: 'device-00042', heldBy: [n(1), n(2)], missingOn: [n(3)] }],
      },
      duplicates: {
        count: 1,
        sample: [
          {
            name: 'device-00007',
            views: [
              { pid: '<12345.201.0>', pidNode: n(2), heldBy: [n(1), n(2)] },
              { pid: '<23456.310.0>', pidNode: n(4), heldBy: [n(4)] },
            ],
          },
        ],
      },
    });
    const html = render(demo(even, { rebalances: [rebalance], divergences: [divergence] }));
    expect(html).toContain('1,200 names moved so far · 240 names/s · balanced in about 1s');
    expect(html).toContain('aria-valuenow="83"');
    expect(html).toContain('12 names missing on some copies');
    expect(html).toContain('and 11 more');
    expect(html).toContain('device-00042');
    expect(html).toContain('&lt;23456.310.0&gt;');
    expect(attributes(html, 'registry', 'data-flags')).toEqual(['', 'diverged rebalancing']);
  });

  it('draws columns past 24 nodes, busiest first, and says what they show', () => {
    const hosted = Array.from({ length: 30 }, (_, index) => (index === 29 ? 0 : 300 + index));
    const html = render(demo(hosted));
    expect(attributes(html, 'registry-bars', 'data-mode')).toEqual(['columns', 'columns']);
    const swarm = html.slice(html.indexOf('data-registry="swarm"'));
    expect(attributes(swarm, 'registry-bar', 'data-hosted').slice(0, 2)).toEqual(['328', '327']);
    expect(swarm).toContain('30 nodes, busiest first: 328 at the most');
    expect(swarm).toContain('1 hosting nothing (amber)');
  });

  it('says so when no registry answered', () => {
    const state = stateOf([pod(ip(1))], fullMesh([1]));
    expect(render(state)).toContain('No registry reported yet');
  });
});
