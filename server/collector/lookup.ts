import 'server-only';

// A name lookup across a cluster: the connected nodes asked a few at a time, each node's answer
// or failure listed under it, in node order.

import PQueue from 'p-queue';

import type { RegistryLookupResponse } from '@/lib/api';
import { compareNames } from '@/lib/names';

import { BeamscopeError, describeError } from '../errors';
import { MAX_LOOKUP_NAME_BYTES, type NameLookup } from '../erlang/probes';

type NodeLookup = RegistryLookupResponse['nodes'][number];

/** Refuses, as a bad request, a name no node can hold, before anything is sent. */
export function checkLookupName(name: string): void {
  if (name.length === 0 || Buffer.byteLength(name, 'utf8') > MAX_LOOKUP_NAME_BYTES) {
    throw new BeamscopeError(
      'http',
      'bad_request',
      `the name to look up must be 1 to ${MAX_LOOKUP_NAME_BYTES} bytes long`,
    );
  }
}

async function lookupOn(
  node: string,
  lookup: (node: string) => Promise<NameLookup>,
): Promise<NodeLookup> {
  try {
    const found = await lookup(node);
    return {
      node,
      atomExists: found.atomExists,
      matches: found.matches,
      errors: found.errors.map((entry) => ({
        registry: entry.registry,
        message: entry.error.message,
      })),
    };
  } catch (error) {
    // A node that cannot be asked is listed with its error: the others' answers still stand.
    return {
      node,
      atomExists: false,
      matches: [],
      errors: [{ registry: 'node', message: describeError(error) }],
    };
  }
}

/** Runs `lookup` on every node, `concurrency` at a time; the answers sorted by node. */
export async function lookupAcross(
  nodes: readonly string[],
  concurrency: number,
  lookup: (node: string) => Promise<NameLookup>,
): Promise<NodeLookup[]> {
  const queue = new PQueue({ concurrency });
  const results = await queue.addAll(nodes.map((node) => () => lookupOn(node, lookup)));
  return results.sort((a, b) => compareNames(a.node, b.node));
}
