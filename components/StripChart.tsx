'use client';

import { extent, line, max, scaleLinear, scaleTime, timeFormat } from 'd3';

import type { ClusterSample } from '@/lib/dashboard';
import { formatCount } from '@/lib/format';

const WIDTH = 560;
const clock = timeFormat('%H:%M');
const ROW = 56;

/**
 * Members and hosted registrations over the hour to `now` (recorded moments and live samples), as two strips sharing a time axis. They are
 * what the nodes host, each counted once where it lives (never a sum of replicas). d3 computes
 * the scales and paths; React renders the SVG.
 */
export function StripChart({
  samples,
  now,
  recorded = false,
}: {
  samples: ClusterSample[];
  /** The chart's right end: now, or the past moment shown. */
  now: number;
  /** Some samples come from the recorded history (the caption says where the line comes from). */
  recorded?: boolean;
}) {
  const from = now - 3_600_000;
  const points = samples.filter((sample) => sample.at >= from);
  const [first] = extent(points, (sample) => sample.at);
  // At least five minutes wide, so a fresh page does not stretch a few seconds over the axis.
  const start = Math.min(now - 300_000, Math.max(from, first ?? from));
  const x = scaleTime()
    .domain([start, now])
    .range([40, WIDTH - 8]);
  const strips: Array<{
    label: string;
    color: string;
    value: (sample: ClusterSample) => number;
    second?: { label: string; color: string; value: (sample: ClusterSample) => number };
  }> = [
    {
      label: 'members',
      color: '#0369a1',
      value: (sample) => sample.members,
      second: { label: 'clustered', color: '#16a34a', value: (sample) => sample.clustered },
    },
    { label: 'hosted registrations', color: '#9333ea', value: (sample) => sample.hostedNames },
  ];
  const ticks = x.ticks(4);
  return (
    <figure className="px-3 py-2" data-testid="strip-chart" data-recorded={recorded}>
      <figcaption className="text-xs text-slate-500">
        {recorded
          ? 'The hour to this moment, recorded: members, clustered nodes and hosted registrations'
          : 'Since this page opened (up to an hour): members, clustered nodes and hosted registrations'}
      </figcaption>
      <svg
        viewBox={`0 0 ${WIDTH} ${ROW * strips.length + 16}`}
        className="w-full"
        role="img"
        aria-label={
          points.length === 0
            ? 'No samples yet'
            : `Now ${points[points.length - 1]!.members} members, ${points[points.length - 1]!.hostedNames} hosted registrations`
        }
      >
        {strips.map((strip, index) => {
          const top = index * ROW + 4;
          const highest = Math.max(
            1,
            max(points, (sample) =>
              Math.max(strip.value(sample), strip.second?.value(sample) ?? 0),
            ) ?? 1,
          );
          const y = scaleLinear()
            .domain([0, highest])
            .nice(3)
            .range([top + ROW - 10, top + 6]);
          // A step line: counts hold until the next sample.
          const path = (value: (sample: ClusterSample) => number) =>
            line<ClusterSample>()
              .x((sample) => x(sample.at))
              .y((sample) => y(value(sample)))(
              points.length > 0 ? [...points, { ...points[points.length - 1]!, at: now }] : [],
            ) ?? '';
          return (
            <g key={strip.label}>
              <line
                x1={40}
                x2={WIDTH - 8}
                y1={y(0)}
                y2={y(0)}
                className="stroke-slate-300 dark:stroke-slate-700"
              />
              <text
                x={36}
                y={y(y.domain()[1]!) + 4}
                textAnchor="end"
                className="fill-slate-500 text-[10px]"
              >
                {formatCount(y.domain()[1]!)}
              </text>
              <text x={36} y={y(0)} textAnchor="end" className="fill-slate-500 text-[10px]">
                0
              </text>
              <path d={path(strip.value)} fill="none" stroke={strip.color} strokeWidth={1.75} />
              {strip.second ? (
                <path
                  d={path(strip.second.value)}
                  fill="none"
                  stroke={strip.second.color}
                  strokeWidth={1.5}
                  strokeDasharray="4 2"
                />
              ) : null}
              <text x={44} y={top + 10} className="text-[10px]" fill={strip.color}>
                — {strip.label}
                {strip.second ? (
                  <tspan fill={strip.second.color}> ‑ ‑ {strip.second.label}</tspan>
                ) : null}
              </text>
            </g>
          );
        })}
        {ticks.map((tick) => (
          <text
            key={tick.getTime()}
            x={x(tick)}
            y={ROW * strips.length + 12}
            textAnchor="middle"
            className="fill-slate-500 text-[10px]"
          >
            {clock(tick)}
          </text>
        ))}
      </svg>
    </figure>
  );
}
