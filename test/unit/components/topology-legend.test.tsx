import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';

import { LINK_STYLES } from '@/components/graph-style';
import { TopologyGraph } from '@/components/TopologyGraph';
import type { GraphModel } from '@/lib/graph-model';

const model: GraphModel = { nodes: [], links: [], groups: [], mode: 'groups', partitions: 0 };

describe('topology legend', () => {
  it('draws each trouble link as the canvas strokes it', () => {
    const html = renderToStaticMarkup(
      <TopologyGraph model={model} selectedKey={null} onSelect={() => undefined} />,
    );
    for (const kind of ['asymmetric', 'missing'] as const) {
      const { stroke, width, dash, label } = LINK_STYLES[kind];
      expect(html).toContain(
        `stroke="${stroke}" stroke-width="${width}" stroke-dasharray="${dash.join(' ')}"`,
      );
      expect(html).toContain(label);
    }
    expect(html).toContain('stroke-dasharray="6 3"');
  });
});
