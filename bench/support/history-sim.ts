/**
 * A cluster with the demo's churn, on a simulated clock, for the history bench: N pods whose
 * nodes are probed every 2 s (process counts and memory move a little at each probe, as the
 * sandbox's pods' do), and every 10 s the demo's next step — a node killed and back, a
 * partition and its heal, a scale up and down by a tenth. States are built by the same
 * `buildClusterState` the collector uses, so the deltas are the collector's own.
 */
import type { BeamSide, ClusterState, RegistryCount } from '@/lib/cluster-state';
import type { KubernetesMember } from '@/lib/members';
import { MeshBuilder } from '@/lib/mesh';
import { compareNames } from '@/lib/names';
import { buildClusterState } from '@/lib/state-builder';

export const POLL_MS = 2000;
export const STEP_MS = 10_000;

const ipOf = (index: number) => `10.${Math.floor(index / 250)}.${index % 250}.${(index % 7) + 2}`;
const nodeOf = (index: number) => `myapp@${ipOf(index)}`;

function pod(index: number): KubernetesMember {
  return {
    ip: ipOf(index),
    podName: `myapp-7d9f-${index.toString(36).padStart(5, '0')}`,
    podUid: `uid-${index}`,
    k8sNode: `node-${index % 5}`,
    zone: null,
    hostname: null,
    ready: true,
    serving: true,
    terminating: false,
    phase: 'Running',
    restarts: 0,
    startTime: '2026-01-01T00:00:00Z',
    beamNode: nodeOf(index),
    source: { kind: 'EndpointSlice', name: 'myapp-x' },
  };
}

/** The demo's scenario, one step every {@link STEP_MS}. */
const SCENARIO = ['scale-up', 'kill', 'restart', 'partition', 'heal', 'scale-down'] as const;

export class ChurningCluster {
  private readonly meshes = new MeshBuilder();
  private readonly processes: number[];
  private readonly memory: number[];
  private count: number;
  private down: number | null = null;
  private split = false;
  private step = 0;
  private seed = 42;

  constructor(readonly size: number) {
    this.count = size;
    this.processes = Array.from({ length: size * 2 }, () => 400);
    this.memory = Array.from({ length: size * 2 }, () => 60_000_000);
  }

  /** Deterministic, so every run of the bench records the same day. */
  private random(): number {
    this.seed = (this.seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return this.seed / 2 ** 31;
  }

  /** One probe round: each node's counters move a little. */
  poll(): void {
    for (let index = 0; index < this.count; index += 1) {
      if (this.random() < 0.5) this.processes[index]! += Math.round((this.random() - 0.5) * 8);
      this.memory[index]! += Math.round((this.random() - 0.5) * 200_000);
    }
  }

  /** The demo's next step; returns its name. */
  advanceScenario(): string {
    const step = SCENARIO[this.step % SCENARIO.length]!;
    this.step += 1;
    const tenth = Math.max(1, Math.round(this.size / 10));
    if (step === 'scale-up') this.count = this.size + tenth;
    if (step === 'scale-down') this.count = this.size;
    if (step === 'kill') this.down = Math.floor(this.random() * this.count);
    if (step === 'restart') this.down = null;
    if (step === 'partition') this.split = true;
    if (step === 'heal') this.split = false;
    return step;
  }

  /** Peer lists kept while the mesh's shape holds, as the collector keeps them (its caches key on them). */
  private peerLists = new Map<number, string[]>();
  private peerShape = '';

  private seesOf(index: number): string[] {
    const shape = `${this.count}|${this.down}|${this.split}`;
    if (shape !== this.peerShape) {
      this.peerShape = shape;
      this.peerLists = new Map();
    }
    let sees = this.peerLists.get(index);
    if (!sees) {
      const half = Math.ceil(this.count / 3);
      const sideOf = (other: number) => (this.split ? other < half : true);
      sees = [];
      for (let other = 0; other < this.count; other += 1) {
        if (other === index || other === this.down) continue;
        if (sideOf(other) === sideOf(index)) sees.push(nodeOf(other));
      }
      // In the collector's order (names compared as it compares them).
      sees.sort(compareNames);
      this.peerLists.set(index, sees);
    }
    return sees;
  }

  private side(index: number, at: number): BeamSide {
    const sees = this.seesOf(index);
    const registries: RegistryCount[] = [
      { registry: 'global', count: 3, hosted: null, replicated: true },
      { registry: 'swarm', count: 1000, hosted: Math.round(1000 / this.count), replicated: true },
    ];
    return {
      node: nodeOf(index),
      connection: { status: 'connected', since: 1 },
      otpRelease: '27',
      elixirVersion: '1.17.3',
      processCount: this.processes[index]!,
      memoryBytes: this.memory[index]!,
      runQueue: 0,
      uptimeMs: 1000,
      sees,
      registries,
      probedAt: at,
      probeMs: 3,
      probeError: null,
      netTicktimeSeconds: 60,
      links: [],
      distBufBusyLimitBytes: 1_048_576,
      applications: null,
      codeScan: null,
    };
  }

  /** The state as the collector would compute it at `at`. */
  state(at: number): ClusterState {
    const beam = new Map<string, BeamSide>();
    const members: KubernetesMember[] = [];
    for (let index = 0; index < this.count; index += 1) {
      members.push(pod(index));
      if (index === this.down)
        beam.set(nodeOf(index), {
          ...this.side(index, at),
          connection: { status: 'unreachable', since: at, code: 'node_down', reason: 'down' },
          sees: null,
        });
      else beam.set(nodeOf(index), this.side(index, at));
    }
    return buildClusterState(
      {
        clusterId: 'bench',
        at,
        localNode: 'beamscope@10.9.9.9',
        kubernetes: { state: 'ok', since: 0 },
        distribution: { state: 'ok' },
        kubernetesMembers: members,
        beam,
      },
      this.meshes,
    );
  }

  /** A node point per connected node, as each probe records it. */
  points(
    at: number,
  ): Array<{ node: string; processCount: number; memoryBytes: number; at: number }> {
    const points = [];
    for (let index = 0; index < this.count; index += 1)
      if (index !== this.down)
        points.push({
          node: nodeOf(index),
          at,
          processCount: this.processes[index]!,
          memoryBytes: this.memory[index]!,
        });
    return points;
  }
}
