'use client';

import { memo, useEffect, useRef, useState } from 'react';

import type { AdjacencyModel } from '@/lib/adjacency';
import { formatCount } from '@/lib/format';

import { AdjacencyCanvas, type AdjacencyHover } from './adjacency-canvas';
import { legendCounts } from './adjacency-draw';
import { blockStroke, CELL_STYLES } from './adjacency-style';
import { paint } from './graph-style';

/** Props of {@link AdjacencyView}. */
export interface AdjacencyViewProps {
  model: AdjacencyModel;
  /** The selected member's key: its row and column are outlined. */
  selectedKey: string | null;
  /** A cell (its row's member) or the background (null) was clicked. */
  onSelect(key: string | null): void;
}

/**
 * The mesh as an N×N matrix: members sorted by partition and name, a cell per ordered pair, the
 * partitions as blocks along the diagonal and one-sided or missing links marked. It reads at
 * 2,000 members where a node-link drawing is a cloud; the canvas belongs to
 * {@link AdjacencyCanvas}, React renders the frame, the hover line and the legend. Memoised: a
 * delta that left the model as it was (the builder hands back the same object) renders nothing.
 */
export const AdjacencyView = memo(function AdjacencyView({
  model,
  selectedKey,
  onSelect,
}: AdjacencyViewProps) {
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const engineRef = useRef<AdjacencyCanvas | null>(null);
  const onSelectRef = useRef(onSelect);
  const [hover, setHover] = useState<AdjacencyHover | null>(null);

  useEffect(() => {
    onSelectRef.current = onSelect;
  });

  useEffect(() => {
    const engine = new AdjacencyCanvas(canvasRef.current!, {
      onSelect: (key) => onSelectRef.current(key),
      onHover: setHover,
    });
    engineRef.current = engine;
    return () => {
      engine.destroy();
      engineRef.current = null;
    };
  }, []);

  useEffect(() => {
    engineRef.current?.update(model);
  }, [model]);

  useEffect(() => {
    engineRef.current?.select(selectedKey);
  }, [selectedKey]);

  const partitions = model.blocks.filter((block) => block.kind === 'partition').length;
  const oneSided = model.counts['one-sided-out'];
  const summary = `Adjacency of ${model.size} members in ${partitions} ${
    partitions === 1 ? 'partition' : 'partitions'
  }: ${oneSided} one-sided links, ${model.counts.missing / 2} missing links inside partitions`;

  return (
    <section
      aria-label="Adjacency"
      className="relative flex h-full min-h-[420px] flex-col overflow-hidden rounded-lg border border-slate-200 bg-white dark:border-slate-800 dark:bg-slate-900"
      data-testid="adjacency"
      data-size={model.size}
      data-blocks={model.blocks.length}
      data-partitions={partitions}
    >
      <canvas
        ref={canvasRef}
        className="block min-h-0 w-full flex-1"
        role="img"
        aria-label={`${summary}. The membership table lists the same members.`}
        data-testid="adjacency-canvas"
      />
      {hover ? (
        <div
          role="status"
          data-testid="adjacency-hover"
          className="pointer-events-none absolute z-10 max-w-md rounded bg-slate-900/90 px-2 py-1 text-xs text-white dark:bg-slate-100/95 dark:text-slate-900"
          // Beside the pointer, on the side with room.
          style={
            hover.x < hover.width / 2
              ? { left: hover.x + 12, top: hover.y + 12 }
              : { right: hover.width - hover.x + 12, top: hover.y + 12 }
          }
        >
          {hover.text}
        </div>
      ) : null}
      <div
        className="flex flex-wrap items-center gap-x-4 gap-y-1 border-t border-slate-200 px-3 py-2 text-xs dark:border-slate-800"
        data-testid="adjacency-legend"
      >
        <span className="sr-only">Legend</span>
        {legendCounts(model).map(({ cell, count }) => {
          const style = CELL_STYLES[cell as keyof typeof CELL_STYLES];
          return (
            <span
              key={cell}
              className="flex items-center gap-1 text-slate-500"
              data-testid="adjacency-count"
              data-cell={cell}
              data-count={count}
            >
              <span
                aria-hidden
                className="inline-block h-3 w-3 rounded-sm border border-slate-300 dark:border-slate-700"
                style={{ background: paint(style.fill, false) }}
              />
              {style.label} {formatCount(count)}
            </span>
          );
        })}
      </div>
      <ul
        className="flex flex-wrap gap-x-4 gap-y-1 border-t border-slate-200 px-3 py-2 text-xs dark:border-slate-800"
        aria-label="Blocks along the diagonal"
      >
        {model.blocks.map((block) => (
          <li
            key={`${block.kind}-${block.start}`}
            data-testid="adjacency-block"
            data-kind={block.kind}
            data-main={block.main}
            data-size={block.size}
            className="flex items-center gap-1"
          >
            <span
              aria-hidden
              className="inline-block h-3 w-3 rounded-sm border-2 border-dashed"
              style={{ borderColor: paint(blockStroke(block), false) }}
            />
            {block.label}
          </li>
        ))}
      </ul>
    </section>
  );
});
