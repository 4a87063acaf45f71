import 'server-only';

// Which nodes an event names, for the timeline's `node` filter. Computed once at append so the
// SQL stores can index them (a side table of (cluster, node, event)) instead of scanning JSON.

import type { TimelineEvent } from '@/lib/cluster-state';

/** Every node the event names: its own, a link's ends, a side's or a summary's sampled members. */
export function nodesNamedBy(event: TimelineEvent): string[] {
  const nodes = new Set<string>();
  if (event.node) nodes.add(event.node);
  for (const end of event.link ?? []) nodes.add(end);
  for (const side of event.sides ?? []) for (const node of side.sample) nodes.add(node);
  for (const [a, b] of event.links?.sample ?? []) nodes.add(a).add(b);
  for (const member of event.members?.sample ?? []) if (member.node) nodes.add(member.node);
  for (const change of event.registries ?? []) nodes.add(change.node);
  return [...nodes];
}
