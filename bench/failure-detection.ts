/**
 * Failure detection (issue 9, item 3): a BEAM pod SIGKILLed → "node down" at an SSE client.
 *
 * Setup: the sandbox (emulated Kubernetes API, real BEAM pods), the standalone production server
 * and one SSE client on `/api/clusters/{id}/events`. Each kill goes to a pod whose node beamscope
 * is connected to (round-robin), through the sandbox's `POST /_sandbox/pods/POD/kill`, which
 * SIGKILLs the node's process as a crashing container; the kubelet-like emulator restarts it after
 * its back-off. Measured: from the kill request's send time (or the commit time the reply carries)
 * to the `node_down` timeline event for that node at the SSE client. Also reported: the server's
 * share (the event's own timestamp) and kill → `node_up` again (back-off + boot + reconnect).
 *
 * The comparison is the mesh's own failure detector: a node that stops answering is declared down
 * after `net_ticktime` (60 s by default; between 45 and 75 s, as ticks go every net_ticktime/4).
 * beamscope sees a SIGKILL at once because the kernel closes the dead process's sockets; a node
 * whose host or network vanishes silently is the mesh's case, and beamscope's own connection
 * then waits for its probe timeout too.
 *
 * Run alone: `tsx --conditions=react-server bench/failure-detection.ts [--kills 24] [--pods 4]`.
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { goalFigure, plainFigure, type Figure } from './support/figures';
import { installSignalHandlers } from './support/lifecycle';
import { TimedSseClient } from './support/sse-client';
import { sleep, settledPods, startBenchStack, waitUntil } from './support/stack';
import { ratio, summarize, type Summary } from './support/stats';

export interface FailureDetectionOptions {
  /** SIGKILLs; default 24. */
  kills?: number;
  /** BEAM pods in the sandbox; default 4 (a killed pod's node is back before its next turn). */
  pods?: number;
  log?: (line: string) => void;
}

export interface FailureDetectionResults {
  pods: number;
  kills: number;
  detection: Summary & { lost: number };
  /** Kill → the collector's `node_down` timestamp (server side of the detection). */
  serverSide: Summary;
  /** Kill → `node_up` again: back-off (1 s), boot, reconnect. */
  recovery: Summary;
  netTicktimeMs: number;
  changeTime: 'request sent' | 'emulator reply';
  figures: {
    detectionP99: Figure;
    detectionMedian: Figure;
    netTicktime: Figure;
    ratioMedian: Figure;
    ratioP99: Figure;
  };
}

const DETECTION_P99_GOAL_MS = 200;
const NET_TICKTIME_MS = 60_000;

export async function runFailureDetectionBench(
  options: FailureDetectionOptions = {},
): Promise<FailureDetectionResults> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const podCount = options.pods ?? 4;
  const kills = options.kills ?? 24;
  const stack = await startBenchStack({ pods: podCount, log });
  let sse: TimedSseClient | undefined;
  try {
    const { control, dashboard, clusterId } = stack;
    const pods = (await settledPods(control, podCount)).sort((a, b) =>
      a.name.localeCompare(b.name),
    );
    sse = await TimedSseClient.open(
      `${dashboard.url}/api/clusters/${encodeURIComponent(clusterId)}/events`,
    );
    const stream = sse;
    const connectedNode = (pod: string) => {
      const member = stream.state?.members.find((entry) => entry.kubernetes?.podName === pod);
      return member?.kubernetes?.ready && member.beam?.connection.status === 'connected'
        ? member.beam.node
        : null;
    };
    await waitUntil('every node connected', 60_000, () =>
      pods.every((pod) => connectedNode(pod.name) !== null),
    );

    const detection: number[] = [];
    const serverSide: number[] = [];
    const recovery: number[] = [];
    const recoveries: Array<Promise<void>> = [];
    let lost = 0;
    let emulatorTimes = 0;
    log(`failure-detection: ${kills} SIGKILLs over ${podCount} BEAM pods`);
    for (let kill = 0; kill < kills; kill += 1) {
      // The next pod in turn whose node is up (a killed one is back after ~1 s back-off + boot).
      const [pod, node] = await waitUntil('a pod whose node is connected', 90_000, () => {
        for (let offset = 0; offset < pods.length; offset += 1) {
          const candidate = pods[(kill + offset) % pods.length]!;
          const name = connectedNode(candidate.name);
          if (name) return [candidate.name, name] as const;
        }
        return null;
      });
      const reply = await control.call('POST', `/pods/${encodeURIComponent(pod)}/kill`);
      if (reply.changedAt !== reply.sentAt) emulatorTimes += 1;
      let downSeq = -1;
      try {
        const down = await stream.waitFor(
          TimedSseClient.timeline('node_down', { node }),
          reply.sentAt,
          30_000,
        );
        detection.push(down.receivedAt - reply.changedAt);
        downSeq = down.timeline?.seq ?? -1;
        if (typeof down.timeline?.at === 'number')
          serverSide.push(down.timeline.at - reply.changedAt);
      } catch {
        lost += 1;
      }
      const isUp = TimedSseClient.timeline('node_up', { node });
      recoveries.push(
        stream
          // The node_up after this kill's node_down, not one that arrived as the kill was sent.
          .waitFor(
            (event) => isUp(event) && (event.timeline?.seq ?? -1) > downSeq,
            reply.sentAt,
            90_000,
          )
          .then((up) => {
            recovery.push(up.receivedAt - reply.changedAt);
          })
          .catch(() => undefined),
      );
      if ((kill + 1) % 6 === 0) log(`failure-detection: ${kill + 1}/${kills} kills`);
      await sleep(500 + Math.random() * 500);
    }
    await Promise.all(recoveries);

    const summary = summarize(detection);
    return {
      pods: podCount,
      kills,
      detection: { ...summary, lost },
      serverSide: summarize(serverSide),
      recovery: summarize(recovery),
      netTicktimeMs: NET_TICKTIME_MS,
      changeTime: emulatorTimes === kills ? 'emulator reply' : 'request sent',
      figures: {
        detectionP99: goalFigure(
          'failure: SIGKILL → node down at SSE client, p99',
          summary.p99Ms,
          DETECTION_P99_GOAL_MS,
          'ms',
          summary.samples,
        ),
        detectionMedian: plainFigure(
          'failure: SIGKILL → node down at SSE client, median',
          summary.medianMs,
          'ms',
          summary.samples,
        ),
        netTicktime: plainFigure('mesh: net_ticktime (default)', NET_TICKTIME_MS, 'ms'),
        ratioMedian: plainFigure(
          'net_ticktime / detection, median',
          ratio(NET_TICKTIME_MS, summary.medianMs),
          '×',
        ),
        ratioP99: plainFigure(
          'net_ticktime / detection, p99',
          ratio(NET_TICKTIME_MS, summary.p99Ms),
          '×',
        ),
      },
    };
  } finally {
    await sse?.close();
    await stack.stop();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  installSignalHandlers((line) => process.stderr.write(`${line}\n`));
  const { values } = parseArgs({
    options: { kills: { type: 'string' }, pods: { type: 'string' } },
  });
  const results = await runFailureDetectionBench({
    ...(values.kills ? { kills: Number(values.kills) } : {}),
    ...(values.pods ? { pods: Number(values.pods) } : {}),
  });
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  process.exit(0);
}
