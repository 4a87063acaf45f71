/**
 * The child-process side of {@link startSimulatedClusterProcess} (process.ts): runs simulated
 * nodes (and, when asked, an emulated Kubernetes API listing one Ready pod per node) and obeys
 * the parent over the IPC channel. Exits when the parent goes away.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { cpuUsage, memoryUsage } from 'node:process';

import { startEmulatedApi, type EmulatedApi } from '../../../server/sandbox/kube-api';
import { nameHostOf, startSimulatedCluster, type SimulatedCluster } from './cluster';
import type { ChildReply, ChildRequest } from './process';

let cluster: SimulatedCluster | undefined;
let api: EmulatedApi | undefined;
/** This process's event-loop delay since the last `stats` (10 ms resolution). */
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();

function send(message: ChildReply): void {
  process.send?.(message);
}

async function stopAll(): Promise<void> {
  await cluster?.stop();
  await api?.stop();
  cluster = undefined;
  api = undefined;
}

async function handle(request: ChildRequest): Promise<void> {
  switch (request.type) {
    case 'start': {
      const { kubeApi, apiOnly, ...options } = request.options;
      // The API alone (its pods named after the addresses): the nodes run in another process.
      if (!apiOnly) cluster = await startSimulatedCluster(options);
      if (kubeApi) {
        api = await startEmulatedApi({ tls: kubeApi.tls ?? true, readyDelayMs: 0 });
        // Pods are created a batch at a time: the emulator's controllers react to each write.
        for (let start = 0; start < options.addresses.length; start += 50) {
          await Promise.all(
            options.addresses
              .slice(start, start + 50)
              .map((address) => createPodRetrying(api!, nameHostOf(address, options.addressMap))),
          );
        }
      }
      send({
        type: 'ready',
        nodes: cluster?.nodes ?? [],
        ...(api
          ? {
              api: {
                url: api.url,
                token: api.token,
                namespace: api.namespace,
                ...(api.caPem ? { caPem: api.caPem } : {}),
              },
            }
          : {}),
      });
      return;
    }
    case 'partitions':
      cluster?.setPartitions(request.groups);
      send({ type: 'done', id: request.id });
      return;
    case 'stopNode':
      await cluster?.stopNode(request.address);
      send({ type: 'done', id: request.id });
      return;
    case 'podReady': {
      const pod = api?.control.pods().find((candidate) => candidate.ip === request.ip);
      // Answered either way (an error reply would leave the parent waiting): an unknown IP
      // changes nothing, and whoever asked sees no change follow.
      if (!pod) {
        send({ type: 'error', message: `no pod with IP ${request.ip}` });
        send({ type: 'done', id: request.id });
        return;
      }
      const writtenAt = Date.now();
      api!.control.setPodReady(pod.name, request.ready);
      // The EndpointSlice controller reconciles on the next check phase (setImmediate) and the
      // watches write its MODIFIED event in that same turn: this immediate runs right after it,
      // before the Endpoints controller's turn.
      await new Promise((resolve) => setImmediate(resolve));
      send({ type: 'done', id: request.id, timing: { writtenAt, watchSentAt: Date.now() } });
      return;
    }
    case 'stats': {
      const cpu = cpuUsage();
      // Each `stats` covers the span since the one before.
      const loopDelayP99Ms = Math.round(loopDelay.percentile(99) / 1e5) / 10;
      const loopDelayMaxMs = Math.round(loopDelay.max / 1e5) / 10;
      loopDelay.reset();
      send({
        type: 'stats',
        id: request.id,
        stats: {
          ...(cluster?.stats() ?? { accepted: 0, refused: 0, calls: 0, connected: 0 }),
          cpuMicros: cpu.user + cpu.system,
          rssBytes: memoryUsage.rss(),
          loopDelayP99Ms,
          loopDelayMaxMs,
        },
      });
      return;
    }
    case 'stop':
      await stopAll();
      send({ type: 'stopped' });
      process.disconnect?.();
      return;
  }
}

process.on('message', (request: ChildRequest) => {
  handle(request).catch((error: unknown) => {
    send({ type: 'error', message: error instanceof Error ? error.message : String(error) });
  });
});
// The parent died or let go: nothing here may outlive it.
process.on('disconnect', () => {
  void stopAll().finally(() => process.exit(0));
});

/**
 * Creates a Ready pod at `ip`. Generated names have five random characters, as Kubernetes'
 * do: among 2,000 pods two collide about once in seven starts, and a ReplicaSet controller then
 * tries again with another name; so does this.
 */
async function createPodRetrying(emulated: NonNullable<typeof api>, ip: string): Promise<unknown> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await emulated.control.createPod({ ip, ready: true });
    } catch (error) {
      const exists = error instanceof Error && 'code' in error && error.code === 'pod_exists';
      if (!exists || attempt >= 5) throw error;
    }
  }
}
