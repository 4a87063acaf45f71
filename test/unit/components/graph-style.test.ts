import { describe, expect, it } from 'vitest';

import {
  fontAt,
  groupStroke,
  GROUP_STYLE,
  LINK_STYLES,
  MARK_FILLS,
  paint,
  SYMBOL_TYPES,
} from '@/components/graph-style';
import { MEMBER_VISUAL_STATES, STATE_STYLES } from '@/lib/graph-model';

describe('graph style table', () => {
  it('paints a themed colour per page and a plain one on both', () => {
    const themed = { light: '#fff', dark: '#000' };
    expect([paint(themed, false), paint(themed, true)]).toEqual(['#fff', '#000']);
    expect([paint('#d97706', false), paint('#d97706', true)]).toEqual(['#d97706', '#d97706']);
  });

  it('keeps text at its screen size whatever the zoom', () => {
    expect(fontAt(12, 2)).toBe('6px ui-sans-serif, system-ui, sans-serif');
    expect(fontAt(11, 0.5)).toBe('22px ui-sans-serif, system-ui, sans-serif');
  });

  it('fills each state with the colour and shape the rest of the page shows for it', () => {
    for (const state of MEMBER_VISUAL_STATES) {
      expect(MARK_FILLS[state].fill).toBe(STATE_STYLES[state].color);
      expect(MARK_FILLS[state].symbol).toBe(SYMBOL_TYPES[STATE_STYLES[state].shape]);
    }
  });

  it('rings the main partition green, the others amber, the members outside faintly', () => {
    const group = { id: 'g', label: 'g', size: 1 };
    expect(groupStroke({ ...group, kind: 'partition', main: true })).toBe('#16a34a');
    expect(groupStroke({ ...group, kind: 'partition', main: false })).toBe('#d97706');
    expect(groupStroke({ ...group, kind: 'outside', main: false })).toBe(
      GROUP_STYLE.stroke.outside,
    );
  });

  it('dashes a one-sided link 6 3 and a missing one 2 3', () => {
    expect(LINK_STYLES.asymmetric.dash).toEqual([6, 3]);
    expect(LINK_STYLES.missing.dash).toEqual([2, 3]);
  });
});
