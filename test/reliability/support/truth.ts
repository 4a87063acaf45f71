import { readFile } from 'node:fs/promises';
import { request } from 'node:https';

import { parse } from 'yaml';

/** One address the Service's EndpointSlices list, with its pod's own state. */
export interface TruthMember {
  ip: string;
  /** The BEAM node name libcluster's `ip` naming gives it: `<basename>@<ip>`. */
  node: string;
  podName: string | null;
  /** The endpoint's `ready` condition (serving and not terminating). */
  ready: boolean;
  terminating: boolean;
  /** The pod's phase and restart count, when the pod exists. */
  phase: string | null;
  restarts: number | null;
}

/** What a running BEAM node says about itself through the sandbox's control channel. */
export interface TruthNode {
  node: string;
  pod: string;
  /** The app's nodes it is connected to (`nodes()`), sorted. */
  sees: string[];
  /** Nodes it refuses (a partition). */
  refused: string[];
}

/** The truth at one moment: the emulator's objects and the nodes' own view. */
export interface Truth {
  at: number;
  /** Per address of the Service's EndpointSlices, sorted by IP. */
  members: TruthMember[];
  /** Per running node (its container answered), sorted by name. */
  nodes: TruthNode[];
  /** The connected components of the nodes' mesh (a link counts if either side reports it). */
  partitions: string[][];
}

/** Access to the emulated API as beamscope's user, read from the sandbox's kubeconfig. */
export interface KubeAccess {
  server: string;
  token: string;
  ca?: Buffer;
  namespace: string;
}

export async function kubeAccess(kubeconfigFile: string): Promise<KubeAccess> {
  const config = parse(await readFile(kubeconfigFile, 'utf8')) as {
    clusters: Array<{ cluster: { server: string; 'certificate-authority-data'?: string } }>;
    users: Array<{ user: { token: string } }>;
    contexts: Array<{ context: { namespace?: string } }>;
  };
  const cluster = config.clusters[0]!.cluster;
  const ca = cluster['certificate-authority-data'];
  return {
    server: cluster.server,
    token: config.users[0]!.user.token,
    ...(ca ? { ca: Buffer.from(ca, 'base64') } : {}),
    namespace: config.contexts[0]?.context.namespace ?? 'default',
  };
}

/** A GET on the emulated API (or its control surface) over its own TLS, as JSON. */
export function kubeGet<T>(access: KubeAccess, path: string, timeoutMs = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      new URL(path, access.server),
      {
        method: 'GET',
        ca: access.ca,
        // A fresh connection each time: a kept-alive one would hide a stopped server for a moment.
        agent: false,
        headers: { authorization: `Bearer ${access.token}`, accept: 'application/json' },
        timeout: timeoutMs,
      },
      (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () => {
          const status = response.statusCode ?? 0;
          if (status >= 400) reject(new Error(`GET ${path}: ${status} ${text.slice(0, 300)}`));
          else {
            try {
              resolve(JSON.parse(text) as T);
            } catch (error) {
              reject(error instanceof Error ? error : new Error(String(error)));
            }
          }
        });
        response.on('error', reject);
      },
    );
    outgoing.on('timeout', () => outgoing.destroy(new Error(`GET ${path}: timed out`)));
    outgoing.on('error', reject);
    outgoing.end();
  });
}

interface SliceList {
  items: Array<{
    endpoints?: Array<{
      addresses: string[];
      conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean };
      targetRef?: { kind?: string; name?: string };
    }>;
  }>;
}

interface PodList {
  items: Array<{
    metadata: { name: string };
    status?: {
      phase?: string;
      podIP?: string;
      containerStatuses?: Array<{ restartCount?: number }>;
    };
  }>;
}

interface SandboxStatus {
  pods: Array<{
    name: string;
    ip: string;
    terminating: boolean;
    container?: { node: string; nodes: string[]; refused?: string[] };
  }>;
}

/** Connected components of an undirected graph given as adjacency lists; sorted, largest first. */
export function components(views: Map<string, readonly string[]>): string[][] {
  const neighbours = new Map<string, Set<string>>();
  const link = (a: string, b: string) => {
    if (!neighbours.has(a)) neighbours.set(a, new Set());
    neighbours.get(a)!.add(b);
  };
  for (const [node, sees] of views) {
    link(node, node);
    for (const peer of sees) {
      link(node, peer);
      link(peer, node);
    }
  }
  const seen = new Set<string>();
  const result: string[][] = [];
  for (const start of [...neighbours.keys()].sort()) {
    if (seen.has(start)) continue;
    const part: string[] = [];
    const queue = [start];
    seen.add(start);
    while (queue.length) {
      const node = queue.pop()!;
      part.push(node);
      for (const next of neighbours.get(node) ?? []) {
        if (!seen.has(next)) {
          seen.add(next);
          queue.push(next);
        }
      }
    }
    result.push(part.sort());
  }
  return result.sort((a, b) => b.length - a.length || a[0]!.localeCompare(b[0]!));
}

/**
 * Reads the truth: the Service's EndpointSlices and the pods from the emulated API (beamscope's
 * own credentials, so a fault aimed at them fails this too: call it when the API is healthy),
 * and each running node's `nodes()` through the sandbox's control channel to the node — not
 * through distribution, so beamscope's hidden node plays no part in it.
 */
export async function readTruth(
  access: KubeAccess,
  options: { service?: string; basename?: string } = {},
): Promise<Truth> {
  const service = options.service ?? 'myapp';
  const basename = options.basename ?? 'myapp';
  const ns = encodeURIComponent(access.namespace);
  const [slices, pods, status] = await Promise.all([
    kubeGet<SliceList>(
      access,
      `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices?labelSelector=${encodeURIComponent(`kubernetes.io/service-name=${service}`)}`,
    ),
    kubeGet<PodList>(access, `/api/v1/namespaces/${ns}/pods`),
    kubeGet<SandboxStatus>(access, '/_sandbox/status', 15_000),
  ]);
  const podsByName = new Map(pods.items.map((pod) => [pod.metadata.name, pod]));
  const podsByIp = new Map(
    pods.items.filter((pod) => pod.status?.podIP).map((pod) => [pod.status!.podIP!, pod]),
  );
  const members = new Map<string, TruthMember>();
  for (const slice of slices.items) {
    for (const endpoint of slice.endpoints ?? []) {
      const ip = endpoint.addresses[0];
      if (!ip || members.has(ip)) continue;
      const pod =
        (endpoint.targetRef?.name ? podsByName.get(endpoint.targetRef.name) : undefined) ??
        podsByIp.get(ip);
      members.set(ip, {
        ip,
        node: `${basename}@${ip}`,
        podName: pod?.metadata.name ?? endpoint.targetRef?.name ?? null,
        ready: endpoint.conditions?.ready === true,
        terminating: endpoint.conditions?.terminating === true,
        phase: pod?.status?.phase ?? null,
        restarts: pod
          ? (pod.status?.containerStatuses ?? []).reduce(
              (sum, container) => sum + (container.restartCount ?? 0),
              0,
            )
          : null,
      });
    }
  }
  const nodes: TruthNode[] = status.pods
    .filter((pod) => pod.container && !pod.terminating)
    .map((pod) => ({
      node: pod.container!.node,
      pod: pod.name,
      sees: [...pod.container!.nodes].sort(),
      refused: [...(pod.container!.refused ?? [])].sort(),
    }))
    .sort((a, b) => a.node.localeCompare(b.node));
  return {
    at: Date.now(),
    members: [...members.values()].sort((a, b) =>
      a.ip.localeCompare(b.ip, undefined, { numeric: true }),
    ),
    nodes,
    partitions: components(new Map(nodes.map((node) => [node.node, node.sees]))),
  };
}
