import 'server-only';

import { hostedNames } from '@/lib/registries';
import type { ClusterState } from '@/lib/cluster-state';

import { rebuildStateAt } from '../../history/rebuild';
import { outsideRetention } from '../../http/history-api';
import { integerOption, parseCommandArgs } from '../args';
import type { Command } from '../command';
import { cliMoment, openClusterHistory, openReadOnly, type HistoryOpener } from '../history';
import { collectOnce } from './collect';

const USAGE =
  'beamscope snapshot [--config FILE] [--cluster ID] [--json] [--timeout SECONDS] [--at WHEN]';

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows
    .map((row) =>
      row
        .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!)))
        .join('   ')
        .trimEnd(),
    )
    .join('\n');
}

const dash = (value: number | string | null | undefined) =>
  value === null || value === undefined ? '-' : String(value);

/** The state as an operator reads it: one row per member, then the derived facts. */
export function formatClusterState(state: ClusterState): string {
  const rows = [
    ['NODE', 'POD', 'IP', 'READY', 'CONNECTION', 'OTP', 'PROCESSES', 'REGISTERED', 'PARTITION'],
    ...state.members.map((member) => [
      member.node ?? '-',
      member.kubernetes?.podName ?? '-',
      member.kubernetes?.ip ?? '-',
      member.kubernetes ? (member.kubernetes.ready ? 'yes' : 'no') : '-',
      member.beam?.connection.status ?? '-',
      dash(member.beam?.otpRelease),
      dash(member.beam?.processCount),
      dash(member.beam ? hostedNames(member.beam) : null),
      member.partition === null ? '-' : String(member.partition + 1),
    ]),
  ];
  const lines = [table(rows), ''];
  lines.push(
    `partitions: ${state.partitions.length}${state.partitions.length > 1 ? ` — ${state.partitions.map((partition) => `[${partition.join(', ')}]`).join(' | ')}` : ''}`,
  );
  for (const entry of state.unclustered)
    lines.push(`unclustered: ${entry.podName ?? entry.ip} (${entry.reason}): ${entry.detail}`);
  if (state.ghosts.length > 0) lines.push(`ghosts (no pod): ${state.ghosts.join(', ')}`);
  for (const link of state.asymmetricLinks)
    lines.push(`asymmetric link: ${link.from} lists ${link.to}, not the other way`);
  if (state.otpSkew)
    lines.push(
      `OTP skew: ${state.otpSkew.releases.map((release) => `${release.otpRelease} on ${release.nodes.length}`).join(', ')}`,
    );
  for (const entry of state.registryDisagreements)
    lines.push(
      `registry ${entry.registry} disagrees: ${entry.counts.map((count) => `${count.node}=${count.count}`).join(', ')}`,
    );
  if (state.kubernetes.state === 'error') lines.push(`kubernetes: ${state.kubernetes.reason}`);
  if (state.distribution.state === 'error')
    lines.push(`distribution: ${state.distribution.reason}`);
  return lines.join('\n');
}

/**
 * The state recorded at `at` (`--at`): rebuilt from the configured history store, as the API's
 * `?at=` rebuilds it. A moment the history does not hold names the span it does.
 */
async function recordedState(
  values: { config?: string; cluster?: string },
  at: number,
  open: HistoryOpener,
): Promise<ClusterState> {
  const { cluster, store } = await openClusterHistory(values, open);
  try {
    const retained = await store.retained(cluster.id);
    const stored =
      retained && at >= retained.from && at <= retained.to
        ? await store.stateAt(cluster.id, at)
        : null;
    if (!stored) throw outsideRetention(cluster.id, at, retained);
    return rebuildStateAt(stored.keyframe, stored.deltas);
  } finally {
    await store.close();
  }
}

/**
 * `beamscope snapshot`: the cluster's state, collected once, as the API serves it; with `--at`,
 * the state recorded at that moment.
 */
export function snapshotCommandWith(open: HistoryOpener): Command {
  return {
    name: 'snapshot',
    summary: 'Collect a cluster once (or read its state at a past moment: --at)',
    usage: USAGE,
    async run(argv, io) {
      const { values } = parseCommandArgs(argv, {
        config: { type: 'string' },
        cluster: { type: 'string' },
        json: { type: 'boolean' },
        timeout: { type: 'string' },
        at: { type: 'string' },
      });
      const timeoutSeconds = integerOption('timeout', values.timeout, 10, 1);
      let state: ClusterState;
      if (values.at !== undefined) {
        state = await recordedState(values, cliMoment('at', values.at), open);
      } else {
        const collected = await collectOnce(values, timeoutSeconds * 1000);
        if (collected.kubernetesError) throw collected.kubernetesError;
        state = collected.state;
      }
      if (values.json) io.stdout(`${JSON.stringify(state, null, 2)}\n`);
      else io.stdout(`${formatClusterState(state)}\n`);
      return 0;
    },
  };
}

export const snapshotCommand = snapshotCommandWith(openReadOnly);
