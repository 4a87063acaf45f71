import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';

import { LookupAnswer } from '@/components/RegistryLookup';

import { DISAGREEING as answer, node } from '../../support/lookup-answer';

describe('registry lookup answer', () => {
  it('shows one line per view, with its host and the nodes holding it, and flags a disagreement', () => {
    const html = renderToStaticMarkup(
      <LookupAnswer answer={answer} onSelectNode={() => undefined} />,
    );
    expect(html).toContain('data-disagree="true"');
    expect(html).toContain('the copies disagree: 3 nodes say');
    expect(html.match(/data-testid="lookup-match"/g)).toHaveLength(2);
    expect(html).toContain(`data-node="${node(3)}"`);
    expect(html).toContain('&lt;0.88.0&gt; on myapp@10.0.0.7');
    expect(html).toContain('(not connected)');
    expect(html).toContain('held by 3 nodes: myapp@10.0.0.1, myapp@10.0.0.2, myapp@10.0.0.3');
    expect(html).toContain('no such name in the copy of myapp@10.0.0.8');
    expect(html).toContain('myapp@10.0.0.9: node — timed out');
  });

  it('says what was tried when the name is registered nowhere', () => {
    const html = renderToStaticMarkup(
      <LookupAnswer
        answer={{ ...answer, found: false, entries: [] }}
        onSelectNode={() => undefined}
      />,
    );
    expect(html).toContain('data-testid="lookup-none"');
    expect(html).toContain('is registered nowhere (1 node asked; tried');
    expect(html).toContain('&lt;&lt;&quot;device-00042&quot;&gt;&gt;, &quot;device-00042&quot;');
  });
});
