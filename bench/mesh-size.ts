/**
 * What the mesh costs on the wire at 1,000 and 2,000 nodes (issue 16): the snapshot
 * `GET /api/clusters/{id}` serves for a healthy full mesh, raw and gzipped, with its peer lists
 * whole and with `?peers=compact` (what the dashboard asks for), and what the timeline
 * carries for a netsplit in halves and its heal — how many events, how many bytes.
 *
 * In process, no server: the state is built by the collector's own state builder from BEAM sides
 * shaped as the probes fill them (each node connected, seeing every other one, a Swarm registry),
 * serialized as the route serializes it, and gzipped with zlib at level 9. The split and heal go
 * through `diffTimeline` and the collector's `LinkChangeBatch` as the nodes report them a group at
 * a time (20 state changes), the path of a live collector.
 *
 * Run alone: `tsx --conditions=react-server bench/mesh-size.ts`.
 */
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { gzipSync } from 'node:zlib';

import type { ClusterStreamSnapshot } from '@/lib/api';
import { diffTimeline } from '@/lib/cluster-diff';
import type { BeamSide, ClusterState } from '@/lib/cluster-state';
import type { KubernetesMember } from '@/lib/members';
import { MeshBuilder } from '@/lib/mesh';
import { compactState } from '@/lib/peer-wire';
import { buildClusterState } from '@/lib/state-builder';
import type { TimelineChange } from '@/lib/timeline-summary';
import { LinkChangeBatch } from '@/server/collector/link-batch';

import { goalFigure, plainFigure, type Figure } from './support/figures';

export interface MeshSizeOptions {
  log?: (line: string) => void;
  sizes?: number[];
}

export interface MeshSizeAt {
  nodes: number;
  /** Peer lists whole (what an API client gets by default), and as the dashboard asks for them. */
  snapshot: { rawKB: Figure; gzipKB: Figure };
  compactSnapshot: { rawKB: Figure; gzipKB: Figure };
  /** What a mesh builder's mesh of the healthy cluster holds on the heap beside its lists. */
  meshHeapMB: Figure;
  split: { events: Figure; bytes: Figure; linksDown: number };
  heal: { events: Figure; bytes: Figure; linksUp: number };
}

export interface MeshSizeResults {
  method: string;
  at: MeshSizeAt[];
}

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

/** The heap a mesh of `lists` holds once built (its lists themselves not counted), MB. */
function meshHeapMB(lists: Array<{ node: string; sees: string[] }>): number {
  collectGarbage();
  const before = process.memoryUsage().heapUsed;
  const meshes = new MeshBuilder();
  const mesh = meshes.build(lists);
  collectGarbage();
  const held = process.memoryUsage().heapUsed - before;
  // Keep the mesh alive until it is weighed.
  if (mesh.nodes.length !== lists.length) throw new Error('the healthy mesh lost a node');
  return Math.round((held / 1024 / 1024) * 10) / 10;
}

const SNAPSHOT_GOAL_KB = 512;
const SNAPSHOT_GZIP_GOAL_KB = 100;
/** The mesh size the snapshot's goals are set at. */
const GOAL_NODES = 1000;

/** A compact snapshot's size in KB, against its goal where one is set. */
function snapshotFigure(label: string, valueKB: number, goalKB: number | undefined): Figure {
  return goalKB === undefined
    ? plainFigure(label, valueKB, 'KB')
    : goalFigure(label, valueKB, goalKB, 'KB');
}
const kb = (bytes: number) => Math.round((bytes / 1024) * 10) / 10;

const address = (index: number) =>
  `10.${Math.floor(index / 250)}.${index % 250}.${1 + (index % 7)}`;
const nodeName = (index: number) => `myapp@${address(index)}`;

function podOf(index: number): KubernetesMember {
  return {
    ip: address(index),
    podName: `myapp-7d9f8c6b5-${index.toString(36).padStart(5, '0')}`,
    podUid: `0b1c2d3e-${index.toString(16).padStart(4, '0')}-4a5b-8c9d-0e1f2a3b4c5d`,
    k8sNode: `worker-${index % 40}`,
    zone: `eu-west-1${'abc'[index % 3]}`,
    hostname: null,
    ready: true,
    serving: true,
    terminating: false,
    phase: 'Running',
    restarts: 0,
    startTime: '2026-12-01T08:00:00Z',
    beamNode: nodeName(index),
    source: { kind: 'EndpointSlice', name: `myapp-${index % 10}` },
  };
}

function sideOf(index: number, sees: string[]): BeamSide {
  return {
    node: nodeName(index),
    connection: { status: 'connected', since: 1_764_576_000_000 },
    otpRelease: '27',
    elixirVersion: '1.17.3',
    processCount: 4_000 + index,
    memoryBytes: 180_000_000 + index * 1000,
    runQueue: 0,
    // Polled one by one over a 2 s interval, started a few at a time: these differ per node.
    uptimeMs: 400_000_000 + index * 37,
    sees,
    registries: [{ registry: 'swarm', count: 100_000, hosted: 50 + (index % 7), replicated: true }],
    netTicktimeSeconds: 60,
    links: null,
    distBufBusyLimitBytes: null,
    probedAt: 1_764_576_100_000 - ((index * 7) % 2000),
    probeMs: 8 + (index % 9),
    probeError: null,
    applications: null,
    codeScan: null,
  };
}

/** The cluster as a state, each node seeing `sees(index)`; `indexes` in name order. */
function stateOf(
  indexes: number[],
  lists: ReadonlyMap<number, string[]>,
  meshes: MeshBuilder,
): ClusterState {
  return buildClusterState(
    {
      clusterId: 'bench',
      at: 1_764_576_100_000,
      localNode: 'beamscope@10.255.0.1',
      kubernetes: { state: 'ok', since: 0 },
      distribution: { state: 'ok' },
      kubernetesMembers: indexes.map(podOf),
      beam: new Map(indexes.map((index) => [nodeName(index), sideOf(index, lists.get(index)!)])),
    },
    meshes,
  );
}

/**
 * How many state changes a split or heal is reported over. A live collector sees one per poll
 * (each node's list as it is probed); 20 keeps the bench to seconds — every state costs N² — and
 * still crosses the batching of many changes into one event that a poll-by-poll report needs.
 */
const REPORT_STEPS = 20;

/** The events a live collector publishes while the nodes report `after`, a group at a time. */
function toldPollByPoll(
  indexes: number[],
  before: (index: number) => string[],
  after: (index: number) => string[],
  meshes: MeshBuilder,
): TimelineChange[] {
  const published: TimelineChange[] = [];
  const batch = new LinkChangeBatch(60_000, 60_000, (changes) => published.push(...changes));
  const lists = new Map(indexes.map((index) => [index, before(index)]));
  let state = stateOf(indexes, lists, meshes);
  const perStep = Math.ceil(indexes.length / REPORT_STEPS);
  for (let start = 0; start < indexes.length; start += perStep) {
    for (const index of indexes.slice(start, start + perStep)) lists.set(index, after(index));
    const next = stateOf(indexes, lists, meshes);
    published.push(...batch.take(diffTimeline(state, next, meshes)));
    state = next;
  }
  batch.flush();
  return published;
}

const eventBytes = (changes: TimelineChange[]) =>
  changes.reduce((sum, change) => sum + Buffer.byteLength(JSON.stringify(change.event)), 0);

/** The state of `size` healthy nodes, each seeing every other one (also for field-by-field sizes). */
export function healthyState(size: number, meshes = new MeshBuilder()): ClusterState {
  const indexes = Array.from({ length: size }, (_, index) => index);
  const names = indexes.map(nodeName);
  return stateOf(
    indexes,
    new Map(indexes.map((index) => [index, names.filter((name) => name !== nodeName(index))])),
    meshes,
  );
}

export async function runMeshSizeBench(options: MeshSizeOptions = {}): Promise<MeshSizeResults> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const at: MeshSizeAt[] = [];
  for (const size of options.sizes ?? [1000, 2000]) {
    const indexes = Array.from({ length: size }, (_, index) => index);
    const names = indexes.map(nodeName);
    const everyone = (index: number) => names.filter((name) => name !== nodeName(index));
    const meshes = new MeshBuilder();
    const state = stateOf(
      indexes,
      new Map(indexes.map((index) => [index, everyone(index)])),
      meshes,
    );
    const snapshot: ClusterStreamSnapshot = { epoch: '00000000', seq: 1, state, timeline: [] };
    const body = Buffer.from(JSON.stringify(snapshot));
    const gzip = gzipSync(body, { level: 9 });
    log(`${size} nodes: snapshot ${kb(body.length)} KB raw, ${kb(gzip.length)} KB gzipped`);
    const compactBody = Buffer.from(JSON.stringify({ ...snapshot, state: compactState(state) }));
    const compactGzip = gzipSync(compactBody, { level: 9 });
    log(
      `${size} nodes: ?peers=compact ${kb(compactBody.length)} KB raw, ${kb(compactGzip.length)} KB gzipped`,
    );

    const heapMB = meshHeapMB(
      indexes.map((index) => ({ node: nodeName(index), sees: everyone(index) })),
    );
    log(`${size} nodes: the mesh holds ${heapMB} MB of heap beside its lists`);

    // The split: the first half and the second stop seeing each other, node by node.
    const half = new Set(names.slice(0, size / 2));
    const ownHalf = (index: number) =>
      everyone(index).filter((name) => half.has(name) === half.has(nodeName(index)));
    // Only the poll-by-poll states need sharing a builder; the snapshot's is done with.
    const splitMeshes = new MeshBuilder();
    const split = toldPollByPoll(indexes, everyone, ownHalf, splitMeshes);
    const heal = toldPollByPoll(indexes, ownHalf, everyone, splitMeshes);
    const linksOf = (changes: TimelineChange[]) =>
      changes.reduce((sum, change) => sum + (change.details?.links?.packed.length ?? 0), 0);
    log(
      `${size} nodes: split → ${split.length} events (${eventBytes(split)} B), heal → ${heal.length} events (${eventBytes(heal)} B)`,
    );
    at.push({
      nodes: size,
      snapshot: {
        rawKB: plainFigure(
          `snapshot of ${size} healthy nodes, peers whole, raw`,
          kb(body.length),
          'KB',
        ),
        gzipKB: plainFigure(
          `snapshot of ${size} healthy nodes, peers whole, gzipped`,
          kb(gzip.length),
          'KB',
        ),
      },
      compactSnapshot: {
        // The snapshot's goals are set at 1,000 nodes (issue 16); larger meshes report the figure.
        rawKB: snapshotFigure(
          `snapshot of ${size} healthy nodes, ?peers=compact, raw`,
          kb(compactBody.length),
          size === GOAL_NODES ? SNAPSHOT_GOAL_KB : undefined,
        ),
        gzipKB: snapshotFigure(
          `snapshot of ${size} healthy nodes, ?peers=compact, gzipped`,
          kb(compactGzip.length),
          size === GOAL_NODES ? SNAPSHOT_GZIP_GOAL_KB : undefined,
        ),
      },
      meshHeapMB: plainFigure(`heap held by the mesh of ${size} healthy nodes`, heapMB, 'MB'),
      split: {
        events: goalFigure(
          `timeline events, ${size / 2} | ${size / 2} split`,
          split.length,
          1,
          'events',
        ),
        bytes: plainFigure(
          `timeline bytes, ${size / 2} | ${size / 2} split`,
          eventBytes(split),
          'B',
        ),
        linksDown: linksOf(split),
      },
      heal: {
        events: goalFigure(`timeline events, heal of ${size} nodes`, heal.length, 1, 'events'),
        bytes: plainFigure(`timeline bytes, heal of ${size} nodes`, eventBytes(heal), 'B'),
        linksUp: linksOf(heal),
      },
    });
  }
  return {
    method:
      'in process: the state builder over probe-shaped sides, JSON as the route sends it, zlib gzip level 9; split and heal over 20 state changes through diffTimeline and LinkChangeBatch',
    at,
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const sizes = process.argv.slice(2).map(Number).filter(Number.isInteger);
  const result = await runMeshSizeBench(sizes.length > 0 ? { sizes } : {});
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}
