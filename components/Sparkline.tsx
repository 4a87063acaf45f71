'use client';

import { line, max, min, scaleLinear } from 'd3';

import { formatCount } from '@/lib/format';

/** A small line of one series over time, with its latest value; blanks (null) break the line. */
export function Sparkline({
  label,
  points,
  format = formatCount,
}: {
  label: string;
  points: Array<{ at: number; value: number | null }>;
  format?: (value: number) => string;
}) {
  const width = 220;
  const height = 36;
  const known = points.filter(
    (point): point is { at: number; value: number } => point.value !== null,
  );
  const last = known[known.length - 1];
  const x = scaleLinear()
    .domain([min(points, (point) => point.at) ?? 0, max(points, (point) => point.at) ?? 1])
    .range([2, width - 2]);
  const low = min(known, (point) => point.value) ?? 0;
  const high = max(known, (point) => point.value) ?? 1;
  const y = scaleLinear()
    .domain(low === high ? [low - 1, high + 1] : [low, high])
    .range([height - 3, 3]);
  const d =
    line<{ at: number; value: number | null }>()
      .defined((point) => point.value !== null)
      .x((point) => x(point.at))
      .y((point) => y(point.value ?? 0))(points) ?? '';
  return (
    <div className="flex items-center justify-between gap-3" data-testid="sparkline">
      <div className="text-xs">
        <div className="text-slate-500">{label}</div>
        <div className="font-semibold tabular-nums">{last ? format(last.value) : '—'}</div>
      </div>
      <svg width={width} height={height} role="img" aria-label={`${label} over the last hour`}>
        {known.length > 1 ? (
          <path
            d={d}
            fill="none"
            strokeWidth={1.5}
            className="stroke-sky-600 dark:stroke-sky-400"
          />
        ) : (
          <text
            x={width / 2}
            y={height / 2 + 4}
            textAnchor="middle"
            className="fill-slate-400 text-[10px]"
          >
            not enough samples yet
          </text>
        )}
      </svg>
    </div>
  );
}
