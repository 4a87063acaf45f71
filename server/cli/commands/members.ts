import 'server-only';

import type { KubernetesMember } from '@/lib/members';

import { loadConfig } from '../../config';
import { integerOption, parseCommandArgs } from '../args';
import type { Command } from '../command';
import { pickCluster } from '../clusters';

const USAGE = 'beamscope members [--config FILE] [--cluster ID] [--json] [--timeout SECONDS]';

const yesNo = (value: boolean) => (value ? 'yes' : 'no');

/** A plain aligned table, the way kubectl prints one. */
export function formatMembersTable(members: readonly KubernetesMember[]): string {
  const header = [
    'POD',
    'IP',
    'READY',
    'SERVING',
    'TERMINATING',
    'PHASE',
    'RESTARTS',
    'K8S NODE',
    'NODE NAME',
  ];
  const rows = members.map((member) => [
    member.podName ?? '-',
    member.ip,
    yesNo(member.ready),
    yesNo(member.serving),
    yesNo(member.terminating),
    member.phase ?? '-',
    member.restarts === null ? '-' : String(member.restarts),
    member.k8sNode ?? '-',
    member.beamNode ?? '-',
  ]);
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column]!.length)),
  );
  return [header, ...rows]
    .map((row) =>
      row
        .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!)))
        .join('   '),
    )
    .join('\n');
}

/** `beamscope members`: the members Kubernetes lists for one cluster, printed once. */
export const membersCommand: Command = {
  name: 'members',
  summary: 'List the pods Kubernetes says belong to a cluster, with their BEAM node names',
  usage: USAGE,
  async run(argv, io) {
    const { values } = parseCommandArgs(argv, {
      config: { type: 'string' },
      cluster: { type: 'string' },
      json: { type: 'boolean' },
      timeout: { type: 'string' },
    });
    const timeoutSeconds = integerOption('timeout', values.timeout, 10, 1);
    const config = await loadConfig(values.config);
    const cluster = pickCluster(config, values.cluster);
    // Loaded only now: client-node is large, and a configuration error should not wait for it.
    const { KubernetesSource } = await import('../../kubernetes');
    const source = new KubernetesSource(cluster, { watchEvents: false });
    try {
      source.start();
      await source.waitForSync(timeoutSeconds * 1000);
      const members = source.members();
      if (values.json) {
        io.stdout(`${JSON.stringify(members, null, 2)}\n`);
      } else if (members.length === 0) {
        io.stdout(
          `cluster ${cluster.id}: Kubernetes lists no members in namespace ${source.namespace}\n`,
        );
      } else {
        io.stdout(`${formatMembersTable(members)}\n`);
      }
      return 0;
    } finally {
      await source.stop();
    }
  },
};
