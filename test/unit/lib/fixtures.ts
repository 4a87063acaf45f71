import type { MeshBuilder } from '@/lib/mesh';
import { buildClusterState } from '@/lib/state-builder';
import type { BeamSide, ClusterState, RegistryCount } from '@/lib/cluster-state';
import type { KubernetesMember } from '@/lib/members';

/** A ready pod of the `myapp` service at `ip`, named `myapp@ip`. */
export function pod(ip: string, overrides: Partial<KubernetesMember> = {}): KubernetesMember {
  return {
    ip,
    podName: `myapp-abc-${ip.split('.').pop()}`,
    podUid: `uid-${ip}`,
    k8sNode: 'sandbox-node-1',
    zone: null,
    hostname: null,
    ready: true,
    serving: true,
    terminating: false,
    phase: 'Running',
    restarts: 0,
    startTime: '2026-01-01T00:00:00Z',
    beamNode: `myapp@${ip}`,
    source: { kind: 'EndpointSlice', name: 'myapp-x' },
    ...overrides,
  };
}

/** A connected node that sees `sees`. */
export function side(
  node: string,
  sees: string[] | null,
  overrides: Partial<BeamSide> = {},
): BeamSide {
  return {
    node,
    connection: { status: 'connected', since: 1 },
    otpRelease: '25',
    elixirVersion: null,
    processCount: 100,
    memoryBytes: 1000,
    runQueue: 0,
    uptimeMs: 5000,
    sees,
    registries: [],
    netTicktimeSeconds: 60,
    links: null,
    distBufBusyLimitBytes: null,
    probedAt: 10,
    probeMs: 3,
    probeError: null,
    applications: null,
    codeScan: null,
    ...overrides,
  };
}

export function swarm(count: number, hosted: number | null = null): RegistryCount {
  return { registry: 'swarm', count, hosted, replicated: true };
}

export const n = (index: number) => `myapp@10.0.0.${index}`;
export const ip = (index: number) => `10.0.0.${index}`;

/** A full mesh of the given node indexes, as `side`s. */
export function fullMesh(indexes: number[]): BeamSide[] {
  return indexes.map((i) => side(n(i), indexes.filter((j) => j !== i).map(n)));
}

/** A state from pods (by index) and sides; `meshes` to share one builder between states. */
export function stateOf(
  pods: KubernetesMember[],
  sides: BeamSide[],
  at = 1000,
  meshes?: MeshBuilder,
): ClusterState {
  return buildClusterState(
    {
      clusterId: 'test',
      at,
      localNode: 'beamscope@10.0.0.100',
      kubernetes: { state: 'ok', since: 0 },
      distribution: { state: 'ok' },
      kubernetesMembers: pods,
      beam: new Map(sides.map((entry) => [entry.node, entry])),
    },
    meshes,
  );
}
