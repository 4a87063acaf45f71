import 'server-only';

// A name lookup across a cluster: the connected nodes asked a few at a time, then their answers
// grouped into views — per registry and key, each distinct process and the nodes that hold it —
// so that copies that disagree say so in one sentence. Each node's own answer and errors stay.

import PQueue from 'p-queue';

import type {
  LookupEntry,
  LookupHostStatus,
  LookupRegistry,
  LookupView,
  PidRef,
  RegistryLookupResponse,
} from '@/lib/api';
import { compareNames } from '@/lib/names';

import { BeamscopeError, describeError, isBeamscopeError } from '../errors';
import {
  readLookupName,
  REGISTRY_ORDER,
  REPLICATED_REGISTRIES,
  type LookupName,
  type NameLookup,
  type NameMatch,
} from '../erlang/probes';

type NodeLookup = RegistryLookupResponse['nodes'][number];

/**
 * Reads a typed name (plain text or Elixir/Erlang term syntax) before anything is sent; a name no
 * node can hold, or malformed term syntax, is a bad request that says why.
 */
export function checkLookupName(name: string): LookupName {
  try {
    return readLookupName(name);
  } catch (error) {
    if (isBeamscopeError(error, 'erlang') && error.code === 'invalid_lookup_name') {
      throw new BeamscopeError('http', 'bad_request', error.message);
    }
    throw error;
  }
}

/** What a cluster lookup needs: the name, the nodes to ask and how, and the hosts' status. */
export interface ClusterLookup {
  clusterId: string;
  name: LookupName;
  nodes: readonly string[];
  /** Nodes asked at once. */
  concurrency: number;
  lookup(node: string): Promise<NameLookup>;
  /** Whether a process's node is up, as the collector sees it. */
  hostStatus(node: string): LookupHostStatus;
}

/** One node's outcome: its answer, or why it could not be asked. */
export type NodeOutcome = { node: string; found: NameLookup } | { node: string; failure: string };

/** Asks every node, `concurrency` at a time, and groups the answers into views. */
export async function lookupAcross(request: ClusterLookup): Promise<RegistryLookupResponse> {
  const queue = new PQueue({ concurrency: request.concurrency });
  const outcomes = await queue.addAll(
    request.nodes.map((node) => async (): Promise<NodeOutcome> => {
      try {
        return { node, found: await request.lookup(node) };
      } catch (error) {
        // A node that cannot be asked is listed with its error: the others' answers still stand.
        return { node, failure: describeError(error) };
      }
    }),
  );
  outcomes.sort((a, b) => compareNames(a.node, b.node));
  const entries = lookupEntries(outcomes, request.name, request.hostStatus);
  return {
    clusterId: request.clusterId,
    name: request.name.text,
    readAs: request.name.readAs,
    keys: request.name.keys.map(({ keyType, key }) => ({ keyType, key })),
    found: entries.length > 0,
    entries,
    nodes: outcomes.map(nodeAnswer),
  };
}

function nodeAnswer(outcome: NodeOutcome): NodeLookup {
  if ('failure' in outcome) {
    return {
      node: outcome.node,
      atomExists: false,
      matches: [],
      errors: [{ registry: 'node', message: outcome.failure }],
    };
  }
  return {
    node: outcome.node,
    atomExists: outcome.found.atomExists,
    matches: outcome.found.matches,
    errors: outcome.found.errors.map((entry) => ({
      registry: entry.registry,
      message: entry.error.message,
    })),
  };
}

const REGISTRY_LABELS: Record<LookupRegistry, string> = {
  global: ':global',
  local: 'local name',
  swarm: 'Swarm',
  horde: 'Horde',
  syn: 'syn',
  elixir_registry: 'Registry',
};

const copyId = (registry: LookupRegistry, registryName: string | undefined) =>
  `${registry}\u0000${registryName ?? ''}`;

const pidId = (pid: PidRef | null) => (pid ? `${pid.node}\u0000${pid.id}.${pid.serial}` : 'port');

/** A pid as Erlang prints it on its own node: `<0.201.0>`. */
export function pidText(pid: PidRef): string {
  return `<0.${pid.id}.${pid.serial}>`;
}

const STATUS_NOTES: Record<LookupHostStatus, string> = {
  connected: '',
  disconnected: ' (not connected)',
  not_a_member: ' (not a member)',
};

/** A view's process: `<0.201.0> on myapp@10.0.0.3`, with its node's status when it is not up. */
export function describeView(view: LookupView): string {
  if (!view.pid || !view.host) return 'a port';
  return `${pidText(view.pid)} on ${view.host.node}${STATUS_NOTES[view.host.status]}`;
}

const plural = (count: number, one: string, many: string) => (count === 1 ? one : many);

/**
 * The entry in one sentence. Replicated: `all 3 copies agree: <0.201.0> on myapp@10.0.0.3`, or
 * `the copies disagree: 5 nodes say <0.201.0> on myapp@10.0.0.3, 2 say <0.88.0> on
 * myapp@10.0.0.7, 1 has no such name`. Node-local: how many nodes register it, and as what.
 */
export function summarizeEntry(
  entry: Pick<LookupEntry, 'replicated' | 'views' | 'missingOn' | 'disagree'>,
): string {
  const { views, missingOn } = entry;
  if (!entry.replicated) {
    const nodes = new Set(views.flatMap((view) => view.nodes)).size;
    const head = `node-local, registered on ${nodes} ${plural(nodes, 'node', 'nodes')}`;
    return views.length <= 3 ? `${head}: ${views.map(describeView).join(', ')}` : head;
  }
  if (!entry.disagree) {
    const copies = views[0]!.nodes.length;
    return copies === 1
      ? `1 copy: ${describeView(views[0]!)}`
      : `all ${copies} copies agree: ${describeView(views[0]!)}`;
  }
  const parts = views.map((view, index) => {
    const count = view.nodes.length;
    const who = index === 0 ? `${count} ${plural(count, 'node', 'nodes')}` : String(count);
    return `${who} ${plural(count, 'says', 'say')} ${describeView(view)}`;
  });
  if (missingOn.length > 0) {
    parts.push(`${missingOn.length} ${plural(missingOn.length, 'has', 'have')} no such name`);
  }
  return `the copies disagree: ${parts.join(', ')}`;
}

interface EntryDraft {
  first: NameMatch;
  views: Map<string, LookupView>;
  holders: Set<string>;
}

/**
 * Groups the nodes' answers by registry, key and process: one entry per (registry, key), one view
 * per distinct process with the nodes that hold it. For a replicated registry, a node whose copy
 * was read and lacks the name is listed in `missingOn`; a node that failed to answer is neither.
 */
export function lookupEntries(
  outcomes: readonly NodeOutcome[],
  name: LookupName,
  hostStatus: (node: string) => LookupHostStatus,
): LookupEntry[] {
  const drafts = new Map<string, EntryDraft>();
  for (const outcome of outcomes) {
    if (!('found' in outcome)) continue;
    for (const match of outcome.found.matches) {
      const id = `${copyId(match.registry, match.registryName)}\u0000${match.key}`;
      let draft = drafts.get(id);
      if (!draft) {
        draft = { first: match, views: new Map(), holders: new Set() };
        drafts.set(id, draft);
      }
      const viewId = pidId(match.pid);
      let view = draft.views.get(viewId);
      if (!view) {
        view = {
          pid: match.pid,
          host: match.pid ? { node: match.pid.node, status: hostStatus(match.pid.node) } : null,
          nodes: [],
        };
        draft.views.set(viewId, view);
      }
      if (!view.nodes.includes(outcome.node)) view.nodes.push(outcome.node);
      draft.holders.add(outcome.node);
    }
  }

  const keyOrder = name.keys.map((key) => key.key);
  const entries = [...drafts.values()].map((draft): LookupEntry => {
    const { registry, registryName, keyType, key } = draft.first;
    const replicated = REPLICATED_REGISTRIES.has(registry);
    const views = [...draft.views.values()].sort(
      (a, b) =>
        b.nodes.length - a.nodes.length ||
        compareNames(a.host?.node ?? '', b.host?.node ?? '') ||
        (a.pid?.id ?? 0) - (b.pid?.id ?? 0),
    );
    const copy = copyId(registry, registryName);
    const missingOn = replicated
      ? outcomes
          .filter(
            (outcome) =>
              'found' in outcome &&
              !draft.holders.has(outcome.node) &&
              outcome.found.copies.some(
                (held) => copyId(held.registry, held.registryName) === copy,
              ),
          )
          .map((outcome) => outcome.node)
      : [];
    const disagree = replicated && (views.length > 1 || missingOn.length > 0);
    const label = REGISTRY_LABELS[registry] + (registryName ? ` ${registryName}` : '');
    const entry = { replicated, views, missingOn, disagree };
    return {
      registry,
      ...(registryName !== undefined ? { registryName } : {}),
      label,
      keyType,
      key,
      ...entry,
      summary: summarizeEntry(entry),
    };
  });
  return entries.sort(
    (a, b) =>
      REGISTRY_ORDER.indexOf(a.registry) - REGISTRY_ORDER.indexOf(b.registry) ||
      compareNames(a.registryName ?? '', b.registryName ?? '') ||
      keyOrder.indexOf(a.key) - keyOrder.indexOf(b.key),
  );
}
