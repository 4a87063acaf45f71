'use client';

import { formatCount } from '@/lib/format';
import { barNote, type RegistryBar, type RegistryView } from '@/lib/registry-view';

import { layoutBars, nodeLabel, valueMargin } from './registry-bars';
import { useElementWidth } from './use-element-width';

function titleOf(bar: RegistryBar, view: RegistryView): string {
  const hosted = bar.hosted === null ? 'unknown' : formatCount(bar.hosted);
  const copy = view.replicated ? `; its copy holds ${formatCount(bar.count)}` : '';
  return `${bar.node}: ${hosted} ${view.unit} hosted${copy}`;
}

function fillOf(bar: RegistryBar): string {
  if (!bar.main) return 'fill-slate-300 dark:fill-slate-600';
  return 'fill-sky-600 dark:fill-sky-500';
}

/** Props of {@link RegistryBars}. */
export interface RegistryBarsProps {
  view: RegistryView;
  mainPartition: number | null;
  onSelectNode(node: string): void;
}

/**
 * A registry's hosted entries, one bar per node, with the mean's line: d3 scales place them
 * (`layoutBars`), React draws the SVG. Hidden from screen readers: `RegistryTable` says the same.
 */
export function RegistryBars({ view, mainPartition, onSelectNode }: RegistryBarsProps) {
  const [ref, width] = useElementWidth<HTMLDivElement>(640);
  // What follows each bar: its figure, and a note when it is not like the others.
  const labels = new Map(
    view.bars.map((bar) => [
      bar.node,
      {
        figure: bar.hosted === null ? '?' : formatCount(bar.hosted),
        note: barNote(bar, mainPartition),
      },
    ]),
  );
  const texts = [...labels.values()].map(
    ({ figure, note }) => `${figure}${note === null ? '' : ` · ${note}`}`,
  );
  const layout = layoutBars(view.bars, view.mean, width, {
    label: 128,
    value: valueMargin(texts, width),
  });
  // Under row bars the mean shows through the gaps between them; over columns, which touch.
  const mean =
    layout.mean === null ? null : (
      <line
        {...(layout.mode === 'rows'
          ? { x1: layout.mean, x2: layout.mean, y1: 0, y2: layout.height }
          : { x1: 0, x2: width, y1: layout.mean, y2: layout.mean })}
        strokeDasharray="3 3"
        className="stroke-slate-500 dark:stroke-slate-400"
      />
    );
  return (
    <div ref={ref} aria-hidden data-testid="registry-bars" data-mode={layout.mode}>
      <svg width="100%" height={layout.height} viewBox={`0 0 ${width} ${layout.height}`}>
        {layout.mode === 'rows' ? mean : null}
        {layout.bars.map((bar) => {
          const { figure, note } = labels.get(bar.node)!;
          return (
            <g
              key={bar.node}
              data-testid="registry-bar"
              data-node={bar.node}
              data-hosted={bar.hosted ?? ''}
              data-count={bar.count}
              data-main={bar.main}
              data-idle={bar.idle}
              onClick={() => onSelectNode(bar.node)}
              className="cursor-pointer"
            >
              <title>{titleOf(bar, view)}</title>
              {layout.mode === 'rows' ? (
                <>
                  <text
                    x={layout.base - 6}
                    y={bar.middle}
                    dominantBaseline="central"
                    textAnchor="end"
                    className={`font-mono text-[11px] ${
                      bar.main ? 'fill-slate-700 dark:fill-slate-300' : 'fill-slate-400'
                    }`}
                  >
                    {nodeLabel(bar.node)}
                  </text>
                  <rect
                    x={bar.x}
                    y={bar.y}
                    width={Math.max(0, bar.width)}
                    height={bar.height}
                    rx={2}
                    className={fillOf(bar)}
                  />
                  {bar.idle ? (
                    <rect
                      x={bar.x}
                      y={bar.y}
                      width={3}
                      height={bar.height}
                      className="fill-amber-500"
                    />
                  ) : null}
                  <text
                    x={bar.valueX}
                    y={bar.middle}
                    dominantBaseline="central"
                    className="text-[11px] tabular-nums"
                  >
                    <tspan
                      data-testid="registry-bar-value"
                      className="fill-slate-800 font-medium dark:fill-slate-100"
                    >
                      {figure}
                    </tspan>
                    <tspan
                      className={
                        bar.idle
                          ? 'fill-amber-700 dark:fill-amber-400'
                          : 'fill-slate-500 dark:fill-slate-400'
                      }
                    >
                      {note === null ? '' : ` · ${note}`}
                    </tspan>
                  </text>
                </>
              ) : (
                <rect
                  x={bar.x}
                  y={bar.idle || bar.hosted === null ? layout.base + 1 : bar.y}
                  width={bar.width}
                  height={bar.idle || bar.hosted === null ? 4 : Math.max(0, bar.height)}
                  className={
                    bar.idle
                      ? 'fill-amber-500'
                      : bar.hosted === null
                        ? 'fill-slate-400'
                        : fillOf(bar)
                  }
                />
              )}
            </g>
          );
        })}
        {layout.mode === 'columns' ? mean : null}
      </svg>
      {layout.mode === 'columns' ? (
        <p className="text-xs text-slate-500 dark:text-slate-400">
          {layout.bars.length} nodes, busiest first: {formatCount(layout.domainMax)} at the most
          {view.mean !== null ? `, ${formatCount(Math.round(view.mean))} on average` : ''}
          {view.idle.length > 0 ? `, ${view.idle.length} hosting nothing (amber)` : ''} — hover a
          column, or see the table
        </p>
      ) : null}
    </div>
  );
}
