'use client';

import { useVirtualizer } from '@tanstack/react-virtual';
import { useCallback, useEffect, useMemo, useRef, useState, type KeyboardEvent } from 'react';

import {
  filterRows,
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
import { MemberRowCache, RowKeeper } from '@/lib/row-reuse';

import { MemberRow, SIDE_LABELS } from './MemberRow';

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
    column: 'partition',
    label: 'Partition',
    title: 'The mesh partition the node is in (1 is the largest)',
  },
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

/** A row's height before it is measured (a row with a reason line is taller). */
const ROW_ESTIMATE_PX = 33;

/** Props of {@link MembershipTable}. */
export interface MembershipTableProps {
  state: ClusterState;
  selectedKey: string | null;
  onSelect(key: string): void;
}

/**
 * Every member, one row each keyed by pod uid / node name: sortable (click a header), filtered
 * by text, state and kind (Kubernetes-only and BEAM-only rows are marked), and keyboard
 * navigable (arrows, Home/End, Enter opens the node). Virtualised: only the rows in view (and a
 * few around) are in the DOM, so 2,000 members cost one screen of rows; each row is memoised.
 */
export function MembershipTable({ state, selectedKey, onSelect }: MembershipTableProps) {
  const [order, setOrder] = useState<SortOrder>({ column: 'node', direction: 'ascending' });
  const [text, setText] = useState('');
  const [stateFilter, setStateFilter] = useState<MemberVisualState | ''>('');
  const [sideFilter, setSideFilter] = useState<MemberSides | ''>('');
  const [focusedId, setFocusedId] = useState<string | null>(null);
  const scroller = useRef<HTMLDivElement>(null);
  const body = useRef<HTMLTableSectionElement>(null);
  /** A row to focus once the virtualiser has rendered it (keyboard moves past the screen). */
  const pendingFocus = useRef<string | null>(null);

  // A row is built only for a member the delta replaced, and keeps its identity while it reads
  // the same, so the memoised rows skip it.
  const [keeper] = useState(() => new RowKeeper());
  const [cache] = useState(() => new MemberRowCache());
  const rows = useMemo(() => keeper.keep(cache.rowsOf(state)), [keeper, cache, state]);
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
  const shownRef = useRef(shown);
  useEffect(() => {
    shownRef.current = shown;
  });

  // The build does not run the React Compiler, so nothing memoises around the virtualiser's
  // functions; the rows get `measureElement`, which the virtualiser keeps stable itself.
  // eslint-disable-next-line react-hooks/incompatible-library
  const virtualizer = useVirtualizer({
    count: shown.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW_ESTIMATE_PX,
    getItemKey: (index) => shown[index]?.id ?? index,
    overscan: 8,
  });
  const items = virtualizer.getVirtualItems();
  const paddingTop = items[0]?.start ?? 0;
  const paddingBottom = items.length
    ? virtualizer.getTotalSize() - items[items.length - 1]!.end
    : 0;

  const tabStop = shown.some((row) => row.id === focusedId) ? focusedId : (shown[0]?.id ?? null);

  useEffect(() => {
    const id = pendingFocus.current;
    if (id === null) return;
    const element = body.current?.querySelector<HTMLElement>(`tr[data-id="${CSS.escape(id)}"]`);
    if (element) {
      pendingFocus.current = null;
      element.focus();
    }
  });

  const sortBy = (column: SortColumn) =>
    setOrder((current) =>
      current.column === column
        ? { column, direction: current.direction === 'ascending' ? 'descending' : 'ascending' }
        : { column, direction: 'ascending' },
    );

  const onSelectRef = useRef(onSelect);
  useEffect(() => {
    onSelectRef.current = onSelect;
  });
  const onKeyDownRow = useCallback(
    (event: KeyboardEvent<HTMLTableRowElement>, row: MembershipRow, index: number) => {
      const list = shownRef.current;
      const move = (to: number) => {
        const targetIndex = Math.max(0, Math.min(list.length - 1, to));
        const target = list[targetIndex];
        if (!target) return;
        event.preventDefault();
        setFocusedId(target.id);
        pendingFocus.current = target.id;
        virtualizer.scrollToIndex(targetIndex, { align: 'auto' });
        body.current?.querySelector<HTMLElement>(`tr[data-id="${CSS.escape(target.id)}"]`)?.focus();
      };
      const page = Math.max(1, Math.floor((scroller.current?.clientHeight ?? 0) / ROW_ESTIMATE_PX));
      if (event.key === 'ArrowDown') move(index + 1);
      else if (event.key === 'ArrowUp') move(index - 1);
      else if (event.key === 'PageDown') move(index + page);
      else if (event.key === 'PageUp') move(index - page);
      else if (event.key === 'Home') move(0);
      else if (event.key === 'End') move(list.length - 1);
      else if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        onSelectRef.current(row.key);
      }
    },
    [virtualizer],
  );
  const selectRow = useCallback((key: string) => onSelectRef.current(key), []);

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
      <div ref={scroller} className="max-h-[70vh] overflow-auto" data-testid="members-scroller">
        <table
          className="w-full border-collapse text-left text-sm"
          data-testid="members-table"
          aria-rowcount={shown.length + 1}
        >
          <thead className="sticky top-0 z-10 border-b bg-white dark:bg-slate-900 border-slate-300 text-xs uppercase text-slate-500 dark:border-slate-700">
            <tr aria-rowindex={1}>
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
            {paddingTop > 0 ? (
              <tr aria-hidden style={{ height: paddingTop }}>
                <td colSpan={COLUMNS.length} />
              </tr>
            ) : null}
            {items.map((item) => {
              const row = shown[item.index]!;
              return (
                <MemberRow
                  key={row.id}
                  row={row}
                  index={item.index}
                  selected={row.key === selectedKey}
                  tabStop={row.id === tabStop}
                  onSelect={selectRow}
                  onFocusRow={setFocusedId}
                  onKeyDownRow={onKeyDownRow}
                  measure={virtualizer.measureElement}
                />
              );
            })}
            {paddingBottom > 0 ? (
              <tr aria-hidden style={{ height: paddingBottom }}>
                <td colSpan={COLUMNS.length} />
              </tr>
            ) : null}
          </tbody>
        </table>
      </div>
      {rows.length > 0 && shown.length === 0 ? (
        <p className="p-4 text-sm text-slate-500">No member matches the filter.</p>
      ) : null}
    </section>
  );
}
