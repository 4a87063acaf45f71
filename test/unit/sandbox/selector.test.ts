import { describe, expect, it } from 'vitest';

import {
  matchesFields,
  matchesLabels,
  parseFieldSelector,
  parseLabelSelector,
  SelectorParseError,
} from '@/server/sandbox/kube-api/selector';

const select = (selector: string, labels: Record<string, string>) =>
  matchesLabels(parseLabelSelector(selector), labels);

describe('parseLabelSelector', () => {
  it('parses every operator of labels.Parse', () => {
    expect(parseLabelSelector('a=1, b==2,c!=3,d in (x, y),e notin (z),f,!g,h>4,i<5')).toEqual([
      { key: 'a', operator: 'in', values: ['1'] },
      { key: 'b', operator: 'in', values: ['2'] },
      { key: 'c', operator: 'notin', values: ['3'] },
      { key: 'd', operator: 'in', values: ['x', 'y'] },
      { key: 'e', operator: 'notin', values: ['z'] },
      { key: 'f', operator: 'exists' },
      { key: 'g', operator: 'doesnotexist' },
      { key: 'h', operator: 'gt', value: 4 },
      { key: 'i', operator: 'lt', value: 5 },
    ]);
  });

  it('accepts prefixed keys and empty values, and selects everything when empty', () => {
    expect(parseLabelSelector('kubernetes.io/service-name=myapp,tier=')).toEqual([
      { key: 'kubernetes.io/service-name', operator: 'in', values: ['myapp'] },
      { key: 'tier', operator: 'in', values: [''] },
    ]);
    expect(parseLabelSelector('')).toEqual([]);
    expect(parseLabelSelector('  ')).toEqual([]);
  });

  it.each([
    ['a in b', /expected: '\('/],
    ['a in ()', /can't be empty/],
    ['a in (x', /expected: ',' or '\)'/],
    ['=x', /expected: !, identifier/],
    ['a=b=c', /expected: ',' or 'end of string'/],
    ['a,', /expected: !, identifier/],
    ['-bad=1', /invalid label key/],
    ['a=b c', /expected: ',' or 'end of string'/],
    ['a=' + 'x'.repeat(64), /invalid label value/],
    ['Bad.Prefix/a=1', /prefix part/],
    ['a>x', /integer/],
  ])('rejects %j', (selector, message) => {
    expect(() => parseLabelSelector(selector)).toThrow(SelectorParseError);
    expect(() => parseLabelSelector(selector)).toThrow(message);
  });
});

describe('matchesLabels', () => {
  const labels = { app: 'myapp', tier: 'web', version: '3' };

  it('matches equality and inequality; != also matches a missing key', () => {
    expect(select('app=myapp', labels)).toBe(true);
    expect(select('app==other', labels)).toBe(false);
    expect(select('app!=other', labels)).toBe(true);
    expect(select('missing!=x', labels)).toBe(true);
    expect(select('app=myapp,tier=db', labels)).toBe(false);
  });

  it('matches set-based requirements', () => {
    expect(select('tier in (web,db)', labels)).toBe(true);
    expect(select('tier notin (web)', labels)).toBe(false);
    expect(select('missing notin (web)', labels)).toBe(true);
    expect(select('missing in (web)', labels)).toBe(false);
    expect(select('tier', labels)).toBe(true);
    expect(select('!tier', labels)).toBe(false);
    expect(select('!missing', labels)).toBe(true);
    expect(select('version>2,version<4', labels)).toBe(true);
    expect(select('tier>2', labels)).toBe(false);
  });

  it('treats objects without labels as having none', () => {
    expect(matchesLabels(parseLabelSelector('!app'), undefined)).toBe(true);
    expect(matchesLabels(parseLabelSelector('app'), undefined)).toBe(false);
  });
});

describe('field selectors', () => {
  const fields = ['metadata.name', 'status.phase'];
  const read = (field: string) => ({ 'metadata.name': 'p1', 'status.phase': 'Running' })[field];

  it('parses =, == and != and matches them', () => {
    expect(matchesFields(parseFieldSelector('metadata.name=p1', fields), read)).toBe(true);
    expect(matchesFields(parseFieldSelector('metadata.name==p2', fields), read)).toBe(false);
    expect(matchesFields(parseFieldSelector('status.phase!=Running', fields), read)).toBe(false);
    expect(
      matchesFields(parseFieldSelector('metadata.name=p1,status.phase!=Pending', fields), read),
    ).toBe(true);
    expect(parseFieldSelector('', fields)).toEqual([]);
  });

  it('rejects unsupported fields and malformed clauses', () => {
    expect(() => parseFieldSelector('spec.foo=1', fields)).toThrow(
      'field label not supported: spec.foo',
    );
    expect(() => parseFieldSelector('metadata.name', fields)).toThrow(SelectorParseError);
  });
});
