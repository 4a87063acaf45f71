// The "Why nodes went down" section of docs/reliability.md, from what
// test/reliability/down-causes.test.ts recorded under test/reliability/results/causes/ (the long
// run's long.json, else quick.json). Kept apart from reliability-report.mjs, which imports it.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

const GOAL = 0.9;

const ms = (value) => (value === null || value === undefined ? '—' : `${Math.round(value)} ms`);
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.floor(sorted.length / 2)] : null;
};

/** The section's Markdown and, when the goal was missed, a problem line for the report. */
export async function causesSection(results) {
  const file = ['long', 'quick']
    .map((mode) => join(results, 'causes', `${mode}.json`))
    .find((path) => existsSync(path));
  if (!file) return { markdown: '', problems: [] };
  const record = JSON.parse(await readFile(file, 'utf8'));
  const kinds = [...new Set(record.entries.map((entry) => entry.kind))];
  const rows = kinds.map((kind) => {
    const entries = record.entries.filter((entry) => entry.kind === kind);
    const right = entries.filter((entry) => entry.delayMs !== null && entry.delayMs <= 5000);
    const told = [...new Set(entries.map((entry) => entry.told ?? 'nothing'))].join(', ');
    const first = [...new Set(entries.map((entry) => entry.first ?? '—'))].join(', ');
    const delays = right.map((entry) => entry.delayMs);
    return `| ${kind} | \`${entries[0].expected}\` | ${right.length} of ${entries.length} | ${told} | ${first} | ${ms(median(delays))} / ${ms(delays.length ? Math.max(...delays) : null)} |`;
  });
  const percent = Math.round(record.fraction * 100);
  const markdown = `## Why nodes went down (${record.mode} run, ${String(record.recordedAt).slice(0, 10)})

Each \`node_down\`, \`link_down\`, \`link_flap\` and partition carries a cause (see [dashboard.md](dashboard.md)):
the pod's fate on the Kubernetes side joined with beamscope's own connection, told with the event
or, when the pod's status lands after the disconnect, in an amendment within 5 s.
\`test/reliability/down-causes.test.ts\` induces disconnects of several kinds against real BEAM
pods and the standalone server and reads what an event-stream client received: the event that
told of each disconnect, the cause it carried first, and how long after it the right cause was
on it (0: at once). A failing readiness probe (the kubelet's \`Unhealthy\` Events, "Readiness probe
failed: …", the pod's Ready condition False) makes a short disconnect: the demo app's peers (as
libcluster's Kubernetes strategy) drop the unready node once and it connects back at its own next
poll, about a second later. A probe that falls inside that second tells it as \`link_down\`; else
the next reading of the links finds the connections made again (each link's distribution
controller changed) and tells one \`link_flap\` ("myapp@… reconnected to 4 peers between probes",
[links.md](links.md#links-made-again-between-probes)). Every induced disconnect counts: one never
told is a miss. Not among the kinds: the
kernel faults of the \`netns\` mode, which need root, and a node drained through the Eviction API
or a kubelet's node-pressure eviction, which the emulated API does not play (a drain's evictions
end in the pod's deletion, the "pod deleted" row); the sandbox's "Kubernetes node lost" stands for
a node's network going away with its machine.

**${record.right} of ${record.induced} induced disconnects (${percent} %) carried the right cause within 5 s**
(goal ≥ ${GOAL * 100} %); the right cause arrived a median ${ms(record.medianDelayMs)} after its event,
at most ${ms(record.maxDelayMs)}.

| Disconnect | Right cause | Within 5 s | Told by | Cause first told | After the event (median / max) |
| --- | --- | --- | --- | --- | --- |
${rows.join('\n')}
`;
  const problems =
    record.fraction < GOAL
      ? [
          `why nodes went down: ${percent} % carried the right cause within 5 s (goal ${GOAL * 100} %)`,
        ]
      : [];
  return { markdown, problems };
}
