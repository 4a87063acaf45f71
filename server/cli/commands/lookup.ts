import 'server-only';

import type { RegistryLookupResponse } from '@/lib/api';
import { namedFew } from '@/lib/names';

import { isBeamscopeError } from '../../errors';
import { describeView } from '../../collector/lookup';
import { readLookupName } from '../../erlang/probes';
import { integerOption, parseCommandArgs } from '../args';
import { UsageError, type Command } from '../command';
import { collectOnce } from './collect';

const USAGE = 'beamscope lookup NAME [--config FILE] [--cluster ID] [--json] [--timeout SECONDS]';

/**
 * The answer as an operator reads it: per registry and key, one sentence (agreeing copies, or
 * how they disagree), then each distinct view with the nodes holding it; per-node errors last.
 */
export function formatLookup(answer: RegistryLookupResponse): string {
  const lines: string[] = [];
  const asked = `${answer.nodes.length} ${answer.nodes.length === 1 ? 'node' : 'nodes'} asked`;
  if (!answer.found) {
    const tried = answer.keys.map((key) => key.key).join(', ');
    lines.push(`${answer.name}: registered nowhere (${asked}; tried ${tried})`);
  }
  for (const entry of answer.entries) {
    lines.push(`${entry.label} ${entry.key}: ${entry.summary}`);
    for (const view of entry.views) {
      const holders = entry.replicated ? 'held by' : 'registered on';
      lines.push(`  ${describeView(view)} — ${holders} ${namedFew(view.nodes, 10)}`);
    }
    if (entry.missingOn.length > 0) {
      lines.push(`  no such name — in the copies of ${namedFew(entry.missingOn, 10)}`);
    }
  }
  for (const node of answer.nodes) {
    for (const error of node.errors) {
      lines.push(`error: ${node.node}: ${error.registry}: ${error.message}`);
    }
  }
  return lines.join('\n');
}

/**
 * `beamscope lookup NAME`: where a name is registered across the cluster, asked of every
 * connected node after one collection (as `snapshot` collects). Exit 0 when found, 1 when not.
 */
export const lookupCommand: Command = {
  name: 'lookup',
  summary: 'Find where a name is registered (plain text or Elixir/Erlang term syntax)',
  usage: USAGE,
  async run(argv, io) {
    const { values, positionals } = parseCommandArgs(
      argv,
      {
        config: { type: 'string' },
        cluster: { type: 'string' },
        json: { type: 'boolean' },
        timeout: { type: 'string' },
      },
      true,
    );
    if (positionals.length !== 1) {
      throw new UsageError(
        positionals.length === 0 ? 'give the name to look up' : 'give exactly one name',
      );
    }
    const name = positionals[0]!;
    // A malformed name fails at once, before any connection.
    try {
      readLookupName(name);
    } catch (error) {
      if (isBeamscopeError(error, 'erlang')) throw new UsageError(error.message);
      throw error;
    }
    const timeoutSeconds = integerOption('timeout', values.timeout, 10, 1);
    let answer: RegistryLookupResponse | undefined;
    const collected = await collectOnce(values, timeoutSeconds * 1000, async (collector) => {
      answer = await collector.lookup(name);
    });
    if (collected.kubernetesError) throw collected.kubernetesError;
    if (!answer) throw new Error('the lookup did not run');
    if (values.json) io.stdout(`${JSON.stringify(answer, null, 2)}\n`);
    else io.stdout(`${formatLookup(answer)}\n`);
    return answer.found ? 0 : 1;
  },
};
