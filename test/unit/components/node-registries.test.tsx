import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';

import { NodeRegistries } from '@/components/NodeRegistries';

describe('the drawer’s registries', () => {
  it('shows what the node hosts beside its copy, and no copy for a node-local registry', () => {
    const html = renderToStaticMarkup(
      <NodeRegistries
        registries={[
          { registry: 'swarm', count: 10_000, hosted: 1_430, replicated: true },
          { registry: 'pg', count: 10_000, hosted: 1_430, replicated: true, groups: 10 },
          { registry: 'global', count: 100, hosted: null, replicated: true },
          { registry: 'horde_supervisor:MyApp.Sup', count: 2, hosted: null, replicated: false },
        ]}
      />,
    );
    expect(html).toContain('1,430 names</td>');
    expect(html).toContain('10,000 names</td>');
    expect(html).toContain('10,000 members, 10 groups</td>');
    // :global's copy without a hosted count: unknown, never its 100.
    expect(html).toMatch(/data-registry="global" data-hosted=""[\s\S]*?>unknown</);
    expect(html).toContain('2 children</td>');
    expect(html).toContain('none: node-local');
  });
});
