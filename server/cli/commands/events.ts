import 'server-only';

import { stringify } from 'csv-stringify/sync';

import type { TimelineEvent } from '@/lib/cluster-state';

import { kindsParam, optionalNode } from '../../http/history-params';
import { parseCommandArgs } from '../args';
import { UsageError, type Command } from '../command';
import { cliMoment, openClusterHistory, openReadOnly, type HistoryOpener } from '../history';

const USAGE =
  'beamscope events --since WHEN [--until WHEN] [--kind KIND,…] [--node NODE] [--json|--csv] [--config FILE] [--cluster ID]';

/** Events read from the store per page while exporting. */
const PAGE = 1000;

/** The columns of the table and of the CSV export. */
function row(event: TimelineEvent): string[] {
  return [
    new Date(event.at).toISOString(),
    event.kind,
    event.severity,
    event.node ?? event.link?.join(' ↔ ') ?? '',
    event.message,
  ];
}

/**
 * `beamscope events`: the recorded timeline of a span, oldest first, for a postmortem — as text,
 * one JSON array, or CSV. Reads the configured history store; no server needs to run.
 */
export function eventsCommandWith(open: HistoryOpener): Command {
  return {
    name: 'events',
    summary: 'Export the recorded timeline of a span (for a postmortem)',
    usage: USAGE,
    async run(argv, io) {
      const { values } = parseCommandArgs(argv, {
        config: { type: 'string' },
        cluster: { type: 'string' },
        since: { type: 'string' },
        until: { type: 'string' },
        kind: { type: 'string', multiple: true },
        node: { type: 'string' },
        json: { type: 'boolean' },
        csv: { type: 'boolean' },
      });
      if (values.since === undefined) throw new UsageError('--since is required (e.g. --since 2h)');
      if (values.json && values.csv) throw new UsageError('choose one of --json and --csv');
      const now = Date.now();
      const from = cliMoment('since', values.since, now);
      const to = values.until === undefined ? now : cliMoment('until', values.until, now);
      if (from > to) throw new UsageError('--since must be before --until');
      const kinds = asUsage(() => kindsParam(values.kind ?? [], 'kind')) ?? [];
      const node = asUsage(() =>
        optionalNode(values.node === undefined ? [] : [values.node], 'node'),
      );
      const { cluster, store } = await openClusterHistory(values, open);
      const events: TimelineEvent[] = [];
      try {
        let cursor: string | undefined;
        do {
          const page = await store.timeline(cluster.id, {
            from,
            to,
            ...(kinds.length > 0 ? { kinds } : {}),
            ...(node !== undefined ? { node } : {}),
            ...(cursor !== undefined ? { cursor } : {}),
            limit: PAGE,
            order: 'oldest',
          });
          events.push(...page.events.map(({ event }) => event));
          cursor = page.next ?? undefined;
        } while (cursor !== undefined);
      } finally {
        await store.close();
      }
      if (values.json) io.stdout(`${JSON.stringify(events, null, 2)}\n`);
      else if (values.csv)
        io.stdout(
          stringify([
            ['time', 'kind', 'severity', 'node', 'message', 'seq'],
            ...events.map((event) => [...row(event), String(event.seq)]),
          ]),
        );
      else {
        for (const event of events) io.stdout(`${row(event).filter(Boolean).join('  ')}\n`);
        io.stdout(
          `${events.length} events from ${new Date(from).toISOString()} to ${new Date(to).toISOString()}\n`,
        );
      }
      return 0;
    },
  };
}

/** A bad --kind or --node is a usage error (exit 64), as the API's is a 400. */
function asUsage<T>(read: () => T): T {
  try {
    return read();
  } catch (error) {
    throw new UsageError((error as Error).message.replace(/\?(\w+)=/g, '--$1'));
  }
}

export const eventsCommand = eventsCommandWith(openReadOnly);
