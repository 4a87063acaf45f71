'use client';

import { useMemo, useRef, useState, type KeyboardEvent } from 'react';

import { formatBytes, formatCount, formatDuration } from '@/lib/format';
import {
  filterRows,
  membershipRows,
  sortRows,
  type MembershipRow,
  type SortColumn,
  type SortOrder,
} from '@/lib/membership';
import type { ClusterState } from '@/lib/cluster-state';
import {
  MEMBER_VISUAL_STATES,
  STATE_STYLES,
  type MemberSides,
  type MemberVisualState,
} from '@/lib/graph-model';

import { RegistryFigure } from './RegistryFigure';
import { StateMark } from './StateMark';

const COLUMNS: Array<{
  column: SortColumn | null;
  label: string;
  numeric?: boolean;
  title?: string;
}> = [
  { column: 'state', label: 'BEAM state' },
  { column: 'pod', label: 'Pod' },
  { column: 'ip', label: 'IP' },
  { column: 'k8sNode', label: 'k8s node' },
  { column: 'ready', label: 'Ready' },
  { column: 'node', label: 'Node name' },
  {
    column: 'hosted',
    label: 'Hosted',
    numeric: true,
    title:
      'Entries whose process lives on the node, per registry; hover one for the size of the node’s copy',
  },
  { column: 'processes', label: 'Processes', numeric: true },
  { column: 'memoryBytes', label: 'Memory', numeric: true },
  { column: 'runQueue', label: 'Run queue', numeric: true },
  { column: 'uptimeMs', label: 'Uptime', numeric: true },
  { column: 'otp', label: 'OTP' },
];

const SIDE_LABELS: Record<MemberSides, string> = {
  both: 'pod + node',
  'kubernetes-only': 'Kubernetes only',
  'beam-only': 'BEAM only',
};

const PAGE = 200;

function dash(value: string | number | null): string {
  return value === null ? '—' : String(value);
}

/** Props of {@link MembershipTable}. */
export interface MembershipTableProps {
  state: ClusterState;
  selectedKey: string | null;
  onSelect(key: string): void;
}

/**
 * Every member, one row each keyed by pod uid / node name: sortable (click a header), filtered
 * by text, state and kind (Kubernetes-only and BEAM-only rows are marked), and keyboard
 * navigable (arrows, Home/End, Enter opens the node).
 */
export function MembershipTable({ state, selectedKey, onSelect }: MembershipTableProps) {
  const [order, setOrder] = useState<SortOrder>({ column: 'node', direction: 'ascending' });
  const [text, setText] = useState('');
  const [stateFilter, setStateFilter] = useState<MemberVisualState | ''>('');
  const [sideFilter, setSideFilter] = useState<MemberSides | ''>('');
  const [limit, setLimit] = useState(PAGE);
  const [focusedId, setFocusedId] = useState<string | null>(null);
  const body = useRef<HTMLTableSectionElement>(null);

  const rows = useMemo(() => membershipRows(state), [state]);
  const shown = useMemo(
    () =>
      sortRows(
        filterRows(rows, {
          text,
          states: stateFilter ? [stateFilter] : [],
          sides: sideFilter ? [sideFilter] : [],
        }),
        order,
      ),
    [rows, text, stateFilter, sideFilter, order],
  );
  const visible = shown.slice(0, limit);
  const tabStop = visible.some((row) => row.id === focusedId)
    ? focusedId
    : (visible[0]?.id ?? null);

  const sortBy = (column: SortColumn) =>
    setOrder((current) =>
      current.column === column
        ? { column, direction: current.direction === 'ascending' ? 'descending' : 'ascending' }
        : { column, direction: 'ascending' },
    );

  const onKeyDown = (
    event: KeyboardEvent<HTMLTableRowElement>,
    row: MembershipRow,
    index: number,
  ) => {
    const move = (to: number) => {
      const target = visible[Math.max(0, Math.min(visible.length - 1, to))];
      if (!target) return;
      event.preventDefault();
      setFocusedId(target.id);
      body.current?.querySelector<HTMLElement>(`tr[data-id="${CSS.escape(target.id)}"]`)?.focus();
    };
    if (event.key === 'ArrowDown') move(index + 1);
    else if (event.key === 'ArrowUp') move(index - 1);
    else if (event.key === 'Home') move(0);
    else if (event.key === 'End') move(visible.length - 1);
    else if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      onSelect(row.key);
    }
  };

  return (
    <section
      aria-label="Membership"
      className="rounded-lg border border-slate-200 bg-white dark:border-slate-800 dark:bg-slate-900"
    >
      <div className="flex flex-wrap items-center gap-3 border-b border-slate-200 px-3 py-2 dark:border-slate-800">
        <h2 className="font-semibold">Members</h2>
        <span className="text-sm text-slate-500" data-testid="members-count">
          {shown.length === rows.length ? `${rows.length}` : `${shown.length} of ${rows.length}`}
        </span>
        <input
          type="search"
          value={text}
          onChange={(event) => setText(event.target.value)}
          placeholder="Filter pod, IP, node, reason…"
          aria-label="Filter members"
          data-testid="members-filter"
          className="ml-auto w-60 rounded border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-950"
        />
        <select
          aria-label="Only members in state"
          value={stateFilter}
          onChange={(event) => setStateFilter(event.target.value as MemberVisualState | '')}
          className="rounded border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-950"
        >
          <option value="">every state</option>
          {MEMBER_VISUAL_STATES.map((visual) => (
            <option key={visual} value={visual}>
              {STATE_STYLES[visual].label}
            </option>
          ))}
        </select>
        <select
          aria-label="Only rows of kind"
          value={sideFilter}
          onChange={(event) => setSideFilter(event.target.value as MemberSides | '')}
          className="rounded border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-950"
        >
          <option value="">every kind</option>
          {(Object.keys(SIDE_LABELS) as MemberSides[]).map((side) => (
            <option key={side} value={side}>
              {SIDE_LABELS[side]}
            </option>
          ))}
        </select>
      </div>
      <div className="overflow-x-auto">
        <table className="w-full border-collapse text-left text-sm" data-testid="members-table">
          <thead className="border-b border-slate-300 text-xs uppercase text-slate-500 dark:border-slate-700">
            <tr>
              {COLUMNS.map(({ column, label, numeric, title }) => (
                <th
                  key={label}
                  scope="col"
                  title={title}
                  aria-sort={order.column === column ? order.direction : undefined}
                  className={`px-2 py-1.5 font-medium ${numeric ? 'text-right' : ''}`}
                >
                  {column ? (
                    <button
                      type="button"
                      onClick={() => sortBy(column)}
                      className="inline-flex items-center gap-1 uppercase hover:text-slate-900 dark:hover:text-slate-100"
                    >
                      {label}
                      <span aria-hidden className="w-2">
                        {order.column === column
                          ? order.direction === 'ascending'
                            ? '▲'
                            : '▼'
                          : ''}
                      </span>
                    </button>
                  ) : (
                    label
                  )}
                </th>
              ))}
            </tr>
          </thead>
          <tbody ref={body}>
            {visible.map((row, index) => (
              <tr
                key={row.id}
                data-id={row.id}
                data-testid="member-row"
                data-key={row.key}
                data-ip={row.ip ?? ''}
                data-node={row.node ?? ''}
                data-state={row.state}
                data-ready={row.ready === null ? '' : String(row.ready)}
                data-sides={row.sides}
                aria-selected={row.key === selectedKey}
                tabIndex={row.id === tabStop ? 0 : -1}
                onFocus={() => setFocusedId(row.id)}
                onClick={() => onSelect(row.key)}
                onKeyDown={(event) => onKeyDown(event, row, index)}
                className={`cursor-pointer border-b border-slate-100 outline-none hover:bg-slate-50 focus-visible:bg-sky-50 focus-visible:ring-2 focus-visible:ring-inset focus-visible:ring-sky-500 dark:border-slate-800 dark:hover:bg-slate-800/60 dark:focus-visible:bg-sky-950 ${
                  row.key === selectedKey ? 'bg-sky-50 dark:bg-sky-950/60' : ''
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
                <td className="px-2 py-1.5 text-right text-xs tabular-nums">
                  {row.registries.length === 0
                    ? '—'
                    : row.registries.map((entry) => (
                        <RegistryFigure key={entry.registry} entry={entry} />
                      ))}
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
            ))}
          </tbody>
        </table>
      </div>
      {shown.length > limit ? (
        <button
          type="button"
          onClick={() => setLimit((current) => current + PAGE * 5)}
          className="w-full py-2 text-sm text-sky-700 hover:underline dark:text-sky-400"
        >
          Show more ({shown.length - limit} hidden)
        </button>
      ) : null}
      {rows.length > 0 && shown.length === 0 ? (
        <p className="p-4 text-sm text-slate-500">No member matches the filter.</p>
      ) : null}
    </section>
  );
}
