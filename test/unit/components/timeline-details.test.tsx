import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';

import { Timeline } from '@/components/Timeline';
import { TimelineDetailsView } from '@/components/TimelineDetails';
import type { TimelineEventDetailsResponse } from '@/lib/api';
import type { TimelineEvent } from '@/lib/cluster-state';

const node = (index: number) => `myapp@10.0.0.${index}`;

const partition: TimelineEvent = {
  seq: 7,
  at: 0,
  kind: 'partition_detected',
  severity: 'error',
  message: 'partition detected: 3 | 1 nodes, 3 links down',
  sides: [
    { count: 3, sample: [node(1), node(2), node(3)] },
    { count: 1, sample: [node(4)] },
  ],
  sideCount: 2,
  links: { count: 3, sample: [[node(1), node(4)]] },
  expandable: true,
};

describe('a summary event on the timeline', () => {
  it('offers its list only where there is one, closed until asked', () => {
    const single: TimelineEvent = {
      seq: 6,
      at: 0,
      kind: 'link_down',
      severity: 'warning',
      message: `link ${node(1)} — ${node(2)} is down`,
      link: [node(1), node(2)],
    };
    const html = renderToStaticMarkup(
      <Timeline
        clusterId="test"
        events={[single, partition]}
        samples={[]}
        now={0}
        onSelect={() => undefined}
      />,
    );
    expect(html.match(/data-testid="timeline-expand"/g)).toHaveLength(1);
    expect(html).toContain('aria-expanded="false"');
    expect(html).not.toContain('data-testid="event-details"');
  });

  it('lists every side, and a page of the links saying how many there are', () => {
    const details: TimelineEventDetailsResponse = {
      clusterId: 'test',
      event: partition,
      sides: [[node(1), node(2), node(3)], [node(4)]],
      links: {
        total: 3,
        offset: 0,
        items: [
          [node(1), node(4)],
          [node(2), node(4)],
        ],
      },
    };
    const html = renderToStaticMarkup(
      <TimelineDetailsView details={details} onMore={() => undefined} />,
    );
    expect(html.match(/data-testid="event-side"/g)).toHaveLength(2);
    expect(html).toContain(`Side 1 (3 nodes):</span> <span`);
    expect(html).toContain(`${node(1)}, ${node(2)}, ${node(3)}`);
    expect(html).toContain('Links down: 3 (the first 2 shown)');
    expect(html.match(/data-testid="event-link"/g)).toHaveLength(2);
    expect(html).toContain(`${node(2)} — ${node(4)}`);
    expect(html).toContain('show more');

    const whole = renderToStaticMarkup(
      <TimelineDetailsView
        details={{ ...details, links: { total: 2, offset: 0, items: details.links!.items } }}
      />,
    );
    expect(whole).toContain('Links down: 2</p>');
    expect(whole).not.toContain('show more');
  });
});
