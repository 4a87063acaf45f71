import { formatCount } from '@/lib/format';
import { barNote, type RegistryView } from '@/lib/registry-view';

/** Props of {@link RegistryTable}. */
export interface RegistryTableProps {
  view: RegistryView;
  mainPartition: number | null;
  /** Shown on screen (the "Table" view); otherwise there for screen readers only. */
  visible: boolean;
  onSelectNode(node: string): void;
}

function percent(part: number, whole: number | null): string {
  if (whole === null || whole <= 0) return '—';
  return `${((part / whole) * 100).toFixed(1)} %`;
}

/**
 * A registry's bars as a table: per node, what it hosts, its share of the hosted total and,
 * for a replicated registry, its copy's size. Screen readers always get it; sighted users when
 * they pick the table view. Node names are buttons that open the node.
 */
export function RegistryTable({ view, mainPartition, visible, onSelectNode }: RegistryTableProps) {
  return (
    <table
      className={visible ? 'w-full text-left text-xs' : 'sr-only'}
      data-testid="registry-table"
    >
      <caption className="sr-only">
        {view.label}: {view.unit} hosted per node
      </caption>
      <thead className="text-slate-500">
        <tr>
          <th scope="col" className="py-0.5 font-medium">
            node
          </th>
          <th scope="col" className="py-0.5 text-right font-medium">
            hosted {view.unit}
          </th>
          <th scope="col" className="py-0.5 text-right font-medium">
            share
          </th>
          {view.replicated ? (
            <th scope="col" className="py-0.5 text-right font-medium">
              node’s copy
            </th>
          ) : null}
          <th scope="col" className="py-0.5 pl-3 font-medium">
            note
          </th>
        </tr>
      </thead>
      <tbody>
        {view.bars.map((bar) => (
          <tr
            key={bar.node}
            data-testid="registry-row"
            data-node={bar.node}
            data-hosted={bar.hosted ?? ''}
            className="border-t border-slate-100 dark:border-slate-800"
          >
            <th scope="row" className="py-0.5 font-normal">
              <button
                type="button"
                onClick={() => onSelectNode(bar.node)}
                className="rounded font-mono hover:underline focus-visible:outline-2 focus-visible:outline-sky-500"
              >
                {bar.node}
              </button>
            </th>
            <td className="py-0.5 text-right tabular-nums">
              {bar.hosted === null ? 'unknown' : formatCount(bar.hosted)}
            </td>
            <td className="py-0.5 text-right tabular-nums">
              {bar.main && bar.hosted !== null ? percent(bar.hosted, view.hostedTotal) : '—'}
            </td>
            {view.replicated ? (
              <td className="py-0.5 text-right tabular-nums text-slate-500">
                {formatCount(bar.count)}
              </td>
            ) : null}
            <td
              className={`py-0.5 pl-3 ${bar.idle ? 'text-amber-700 dark:text-amber-400' : 'text-slate-500'}`}
            >
              {barNote(bar, mainPartition)}
              {bar.main ? '' : ', not in the totals'}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
