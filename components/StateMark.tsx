'use client';

import { symbol } from 'd3';

import { STATE_STYLES, type MemberVisualState } from '@/lib/graph-model';

import { SYMBOL_TYPES, symbolArea } from './graph-style';

/** A member state as the graph draws it (same colour and shape), with its name beside it. */
export function StateMark({
  state,
  size = 12,
  withLabel = false,
}: {
  state: MemberVisualState;
  /** The mark's box, px. */
  size?: number;
  /** Show the state's name beside the mark (else it is only the accessible name). */
  withLabel?: boolean;
}) {
  const style = STATE_STYLES[state];
  const d = symbol(SYMBOL_TYPES[style.shape], symbolArea(size / 2 - 1))() ?? '';
  return (
    <span className="inline-flex items-center gap-1.5" data-state={state}>
      <svg
        width={size}
        height={size}
        viewBox={`${-size / 2} ${-size / 2} ${size} ${size}`}
        role="img"
        aria-label={withLabel ? undefined : style.label}
        aria-hidden={withLabel ? true : undefined}
        className="shrink-0"
      >
        <path d={d} fill={style.color} />
      </svg>
      {withLabel ? <span>{style.label}</span> : null}
    </span>
  );
}
