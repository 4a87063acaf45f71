'use client';

import { memo, type KeyboardEvent } from 'react';

import { formatBytes, formatCount, formatDuration } from '@/lib/format';
import type { MemberSides } from '@/lib/graph-model';
import { partitionLabel, type MembershipRow } from '@/lib/membership';

import { RegistryFigure } from './RegistryFigure';
import { StateMark } from './StateMark';

export const SIDE_LABELS: Record<MemberSides, string> = {
  both: 'pod + node',
  'kubernetes-only': 'Kubernetes only',
  'beam-only': 'BEAM only',
};

function dash(value: string | number | null): string {
  return value === null ? '—' : String(value);
}

/** Props of {@link MemberRow}: everything but `row` and the flags is the same for every row. */
export interface MemberRowProps {
  row: MembershipRow;
  index: number;
  selected: boolean;
  /** The row the Tab key lands on (roving tab index). */
  tabStop: boolean;
  onSelect(key: string): void;
  onFocusRow(id: string): void;
  onKeyDownRow(event: KeyboardEvent<HTMLTableRowElement>, row: MembershipRow, index: number): void;
  /** The virtualiser's measuring ref: rows differ in height (a reason under the state). */
  measure(element: HTMLTableRowElement | null): void;
}

/**
 * One member's row. Memoised: the table keeps a row object while its member is unchanged
 * (`lib/row-reuse.ts`) and passes stable callbacks, so a delta re-renders only the rows it touched.
 */
export const MemberRow = memo(function MemberRow({
  row,
  index,
  selected,
  tabStop,
  onSelect,
  onFocusRow,
  onKeyDownRow,
  measure,
}: MemberRowProps) {
  return (
    <tr
      ref={measure}
      data-index={index}
      data-id={row.id}
      data-testid="member-row"
      data-key={row.key}
      data-ip={row.ip ?? ''}
      data-node={row.node ?? ''}
      data-state={row.state}
      data-ready={row.ready === null ? '' : String(row.ready)}
      data-sides={row.sides}
      data-partition={row.partition === null ? '' : String(row.partition)}
      aria-rowindex={index + 2}
      aria-selected={selected}
      tabIndex={tabStop ? 0 : -1}
      onFocus={() => onFocusRow(row.id)}
      onClick={() => onSelect(row.key)}
      onKeyDown={(event) => onKeyDownRow(event, row, index)}
      className={`cursor-pointer border-b border-slate-100 outline-none hover:bg-slate-50 focus-visible:bg-sky-50 focus-visible:ring-2 focus-visible:ring-inset focus-visible:ring-sky-500 dark:border-slate-800 dark:hover:bg-slate-800/60 dark:focus-visible:bg-sky-950 ${
        selected ? 'bg-sky-50 dark:bg-sky-950/60' : ''
      }`}
    >
      <td className="px-2 py-1.5">
        <div className="flex items-center gap-1.5">
          <StateMark state={row.state} withLabel />
          {row.sides !== 'both' ? (
            <span className="rounded bg-slate-100 px-1 text-xs text-slate-600 dark:bg-slate-800 dark:text-slate-300">
              {SIDE_LABELS[row.sides]}
            </span>
          ) : null}
        </div>
        {row.reason && row.state !== 'clustered' ? (
          <div className="max-w-72 truncate text-xs text-slate-500" title={row.reason}>
            {row.reason}
          </div>
        ) : null}
      </td>
      <td className="px-2 py-1.5 font-mono text-xs">{dash(row.pod)}</td>
      <td className="px-2 py-1.5 font-mono text-xs">{dash(row.ip)}</td>
      <td className="px-2 py-1.5 text-xs">{dash(row.k8sNode)}</td>
      <td className="px-2 py-1.5 text-xs">
        {row.ready === null ? '—' : row.ready ? '✓ ready' : '✗ not ready'}
      </td>
      <td className="px-2 py-1.5 font-mono text-xs">{dash(row.node)}</td>
      <td className="px-2 py-1.5 text-xs" data-testid="member-partition">
        {dash(partitionLabel(row))}
      </td>
      <td className="px-2 py-1.5 text-right text-xs tabular-nums">
        {row.registries.length === 0
          ? '—'
          : row.registries.map((entry) => <RegistryFigure key={entry.registry} entry={entry} />)}
      </td>
      <td className="px-2 py-1.5 text-right tabular-nums">
        {row.processes === null ? '—' : formatCount(row.processes)}
      </td>
      <td className="px-2 py-1.5 text-right tabular-nums">
        {row.memoryBytes === null ? '—' : formatBytes(row.memoryBytes)}
      </td>
      <td className="px-2 py-1.5 text-right tabular-nums">{dash(row.runQueue)}</td>
      <td className="px-2 py-1.5 text-right tabular-nums">
        {row.uptimeMs === null ? '—' : formatDuration(row.uptimeMs)}
      </td>
      <td className="px-2 py-1.5">{dash(row.otp)}</td>
    </tr>
  );
});
