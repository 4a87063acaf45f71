'use client';

import { memo, useEffect, useRef, useState } from 'react';

import {
  MEMBER_VISUAL_STATES,
  STATE_STYLES,
  type GraphModel,
  type MemberVisualState,
} from '@/lib/graph-model';

import { GraphEngine } from './graph-engine';
import { BUSY_LINK_STYLE, LINK_STYLES, TRAFFIC_STYLE, trafficStroke } from './graph-style';
import { StateMark } from './StateMark';

/** Links the legend explains: an agreed link needs no words, the trouble kinds do. */
const LEGEND_LINK_KINDS = ['asymmetric', 'missing'] as const;

/** Props of {@link TopologyGraph}. */
export interface TopologyGraphProps {
  model: GraphModel;
  /** The selected member's key, highlighted in the drawing. */
  selectedKey: string | null;
  /** A mark (or the background: null) was clicked. */
  onSelect(key: string | null): void;
}

/**
 * The live topology: React renders the frame, legend and the accessible list of marks; the
 * `<canvas>` belongs to {@link GraphEngine} (d3-force, d3-zoom), which draws the models it is
 * handed and touches nothing else. Canvas keeps a thousand members fluid where SVG would not.
 * Memoised: a delta that left the model as it was (`GraphModelBuilder` hands back the same
 * object) renders nothing, not the accessible list of every mark.
 */
export const TopologyGraph = memo(function TopologyGraph({
  model,
  selectedKey,
  onSelect,
}: TopologyGraphProps) {
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const engineRef = useRef<GraphEngine | null>(null);
  const onSelectRef = useRef(onSelect);
  const [viewMoved, setViewMoved] = useState(false);

  useEffect(() => {
    onSelectRef.current = onSelect;
  });

  useEffect(() => {
    const engine = new GraphEngine(canvasRef.current!, {
      onSelect: (key) => onSelectRef.current(key),
      onViewMoved: setViewMoved,
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

  const counts = new Map<MemberVisualState, number>();
  for (const node of model.nodes) counts.set(node.state, (counts.get(node.state) ?? 0) + 1);
  const summary = `${model.nodes.length} members in ${model.partitions} ${
    model.partitions === 1 ? 'partition' : 'partitions'
  }: ${MEMBER_VISUAL_STATES.filter((state) => counts.get(state))
    .map((state) => `${counts.get(state)} ${STATE_STYLES[state].label}`)
    .join(', ')}`;

  return (
    <section
      aria-label="Topology"
      className="relative flex h-full min-h-[420px] flex-col overflow-hidden rounded-lg border border-slate-200 bg-white dark:border-slate-800 dark:bg-slate-900"
      data-testid="topology"
      data-partitions={model.partitions}
      data-mode={model.mode}
    >
      <canvas
        ref={canvasRef}
        className="block min-h-0 w-full flex-1 touch-none"
        role="img"
        aria-label={`Topology graph. ${summary}. The membership table lists the same members.`}
        data-testid="topology-canvas"
      />
      <div className="absolute right-3 top-3 flex items-center gap-2 text-xs">
        <span className="rounded bg-slate-100 px-2 py-1 text-slate-600 dark:bg-slate-800 dark:text-slate-300">
          {model.mode === 'links' ? 'all links' : 'groups · problem links only'}
        </span>
        {viewMoved ? (
          <button
            type="button"
            onClick={() => engineRef.current?.resetView()}
            className="rounded border border-slate-300 bg-white px-2 py-1 hover:bg-slate-50 dark:border-slate-700 dark:bg-slate-900 dark:hover:bg-slate-800"
          >
            Fit view
          </button>
        ) : null}
      </div>
      <div
        className="flex flex-wrap items-center gap-x-4 gap-y-1 border-t border-slate-200 px-3 py-2 text-xs dark:border-slate-800"
        data-testid="legend"
      >
        <span className="sr-only">Legend</span>
        {MEMBER_VISUAL_STATES.map((state) => (
          <span
            key={state}
            title={STATE_STYLES[state].description}
            className="flex items-center gap-1"
          >
            <StateMark state={state} size={12} withLabel />
            <span className="text-slate-500">{counts.get(state) ?? 0}</span>
          </span>
        ))}
        {LEGEND_LINK_KINDS.map((kind) => {
          const style = LINK_STYLES[kind];
          return (
            <span key={kind} className="flex items-center gap-1 text-slate-500">
              <svg width="18" height="6" aria-hidden>
                <line
                  x1="0"
                  y1="3"
                  x2="18"
                  y2="3"
                  stroke={style.stroke}
                  strokeWidth={style.width}
                  strokeDasharray={style.dash.join(' ')}
                />
              </svg>
              {style.label}
            </span>
          );
        })}
        <span className="flex items-center gap-1 text-slate-500" data-testid="legend-traffic">
          <svg width="18" height="8" aria-hidden>
            <line
              x1="0"
              y1="4"
              x2="18"
              y2="4"
              stroke={trafficStroke(1, false).colour}
              strokeWidth={trafficStroke(1, false).width}
            />
          </svg>
          {TRAFFIC_STYLE.label}
        </span>
        <span className="flex items-center gap-1 text-slate-500" data-testid="legend-busy">
          <svg width="18" height="8" aria-hidden>
            <line
              x1="0"
              y1="4"
              x2="18"
              y2="4"
              stroke={BUSY_LINK_STYLE.stroke}
              strokeWidth={BUSY_LINK_STYLE.width}
              strokeDasharray={BUSY_LINK_STYLE.dash.join(' ')}
            />
          </svg>
          {BUSY_LINK_STYLE.label}
        </span>
        <span className="text-slate-500">size: registrations hosted on the node</span>
      </div>
      <ul className="sr-only" aria-label="Members in the graph" data-testid="graph-members">
        {model.nodes.map((node) => (
          <li
            key={node.id}
            data-testid="graph-member"
            data-key={node.key}
            data-state={node.state}
            data-group={node.group}
          >
            <button type="button" onClick={() => onSelect(node.key)}>
              {/* One string, one text node: a thousand buttons of five text nodes each were a
                  large share of the page's first layout. */}
              {`${node.label}: ${STATE_STYLES[node.state].label}, ${
                node.hosted === null
                  ? 'hosted registrations unknown'
                  : `${node.hosted} hosted registrations`
              }, ${model.groups[node.group]?.label ?? 'no group'}`}
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
});
