import 'server-only';

// One full probe of a node: every field of the catalogue and the registry detection, run at once,
// each failure kept beside its field so the rest of the report stands.

import type { Atom, Term } from '../codec/terms';
import {
  DEFAULT_LIST_CAP,
  elixirRegistryCountProbe,
  elixirVersionProbe,
  ertsVersionProbe,
  existingAtomProbe,
  globalNamesProbe,
  hiddenNodesProbe,
  memoryProbe,
  netTicktimeProbe,
  otpReleaseProbe,
  pgGroupCountProbe,
  pgGroupsProbe,
  processCountProbe,
  processLimitProbe,
  runQueueProbe,
  schedulersOnlineProbe,
  schedulersProbe,
  swarmHostedProbe,
  swarmRegistrySizeProbe,
  synScopesProbe,
  tableSizeProbe,
  uptimeProbe,
  visibleNodesProbe,
  type MemoryReport,
  type NodeList,
  type ProbeCall,
} from './catalogue';
import { describeKey, isRemoteException, toProbeError, type ProbeError } from './reply';

/** How the probes reach a node: `NodeConnection.rpc` or `ConnectionManager.rpc` bound to a node. */
export type RpcFunction = (
  module: string,
  fn: string,
  args: Term[],
  options?: { timeoutMs?: number },
) => Promise<Term>;

export interface ProbeOptions {
  /** Timeout of each remote call, ms (default {@link PROBE_TIMEOUT_MS}). */
  timeoutMs?: number;
  /** Cap on node lists (default 1000). */
  listCap?: number;
  /** How many `pg` groups to report with member counts (default 50). */
  pgGroupLimit?: number;
  /** How many syn scopes to count (default 20). */
  synScopeLimit?: number;
  /** Elixir `Registry` names to count, e.g. `MyApp.Registry` (the `Elixir.` prefix is optional). */
  elixirRegistries?: string[];
  /** Horde registry names, e.g. `MyApp.HordeRegistry`; their `keys_<Name>` tables are counted. */
  hordeRegistries?: string[];
  /** A seam for tests: the clock used for `durationMs`. */
  now?: () => number;
}

/** A registry's state on one node: present (with its counts), absent, or a failed probe. */
export type Detection<T> =
  ({ status: 'present' } & T) | { status: 'absent' } | { status: 'error'; error: ProbeError };

export interface PgGroupReport {
  group: string;
  members: number;
  localMembers: number;
}

export interface RegistryReport {
  /** `:global` names (cluster-wide: every node holds the whole table). */
  global: Detection<{ names: number }>;
  /** Swarm: `names` is this node's view of the whole registry, `hostedHere` the names it hosts. */
  swarm: Detection<{ names: number; hostedHere: number | null; hostedError?: ProbeError }>;
  /** The default `pg` scope: group count, and member counts for the first groups. */
  pg: Detection<{
    groups: number;
    /** Sum of members over all groups; `null` when only some groups were sampled. */
    members: number | null;
    sample: PgGroupReport[];
    truncated: boolean;
  }>;
  /** syn scopes with the number of names registered in each. */
  syn: Detection<{ scopes: Array<{ scope: string; names: number | null }>; truncated: boolean }>;
  horde: Array<{ name: string } & Detection<{ names: number }>>;
  elixirRegistries: Array<{ name: string } & Detection<{ keys: number }>>;
}

/** Everything one probe run learned about a node; a field whose call failed is `null`. */
export interface NodeProbeReport {
  otpRelease: string | null;
  ertsVersion: string | null;
  /** `null` when Elixir is not loaded (or the probe failed: see `errors.elixirVersion`). */
  elixirVersion: string | null;
  uptimeMs: number | null;
  processCount: number | null;
  processLimit: number | null;
  memory: MemoryReport | null;
  runQueue: number | null;
  schedulers: number | null;
  schedulersOnline: number | null;
  netTicktimeSeconds: number | null;
  /** `erlang:nodes(visible)`. */
  connectedNodes: NodeList | null;
  /** `erlang:nodes(hidden)`. */
  hiddenNodes: NodeList | null;
  registries: RegistryReport;
  /** The failure behind each `null` field, keyed by field name. */
  errors: Partial<Record<ProbeField, ProbeError>>;
  durationMs: number;
}

/** Every probe of a run by name: one report field each, `registries` for the registry detection. */
export type ProbeName = Exclude<keyof NodeProbeReport, 'errors' | 'durationMs'>;

/** The report fields that one catalogue call fills. */
export type ProbeField = Exclude<ProbeName, 'registries'>;

/** What each probe yields, under its own name. */
type ProbeResults = Pick<NodeProbeReport, ProbeName>;

/**
 * The default timeout of one remote call. A node that answers none of the cheap calls within it
 * is taken as frozen, so it bounds how long a dead node looks alive on the dashboard.
 */
export const PROBE_TIMEOUT_MS = 5000;

/**
 * The catalogue call behind each report field. Keyed by the field it fills, so adding a probe
 * cannot hand its reply to another field, as a position in a list could.
 */
function fieldProbes(listCap: number): { [K in ProbeField]: ProbeCall<ProbeResults[K]> } {
  return {
    otpRelease: otpReleaseProbe,
    ertsVersion: ertsVersionProbe,
    elixirVersion: elixirVersionProbe,
    uptimeMs: uptimeProbe,
    processCount: processCountProbe,
    processLimit: processLimitProbe,
    memory: memoryProbe,
    runQueue: runQueueProbe,
    schedulers: schedulersProbe,
    schedulersOnline: schedulersOnlineProbe,
    netTicktimeSeconds: netTicktimeProbe,
    connectedNodes: visibleNodesProbe(listCap),
    hiddenNodes: hiddenNodesProbe(listCap),
  };
}

/** Waits for every promise of a table and keeps each result under its own name. */
async function allByName<T extends object>(pending: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const names = Object.keys(pending) as Array<keyof T>;
  const results = await Promise.all(names.map((name) => pending[name]));
  return Object.fromEntries(names.map((name, index) => [name, results[index]])) as T;
}

/** Runs one catalogue entry. */
export async function callProbe<T>(
  rpc: RpcFunction,
  probe: ProbeCall<T>,
  timeoutMs: number,
): Promise<T> {
  const reply = await rpc(probe.module, probe.fn, [...probe.args], { timeoutMs });
  return probe.parse(reply);
}

/** The atom text of a registry name given the Elixir way (`MyApp.Registry`) or as an atom. */
export function registryAtomName(name: string): string {
  const trimmed = name.trim().replace(/^:/, '');
  return /^[A-Z]/.test(trimmed) && !trimmed.startsWith('Elixir.') ? `Elixir.${trimmed}` : trimmed;
}

/**
 * The atom for `name` on the node, or `undefined` when the node has no such atom (then nothing
 * registered under it can exist). Never creates an atom remotely.
 */
export async function existingAtom(
  rpc: RpcFunction,
  name: string,
  timeoutMs: number,
): Promise<Atom | undefined> {
  try {
    return await callProbe(rpc, existingAtomProbe(name), timeoutMs);
  } catch (error) {
    if (isRemoteException(error)) return undefined;
    throw error;
  }
}

async function detect<T>(run: () => Promise<Detection<T>>): Promise<Detection<T>> {
  try {
    return await run();
  } catch (error) {
    return { status: 'error', error: toProbeError(error) };
  }
}

/**
 * Runs the node catalogue and registry detection against one node. Calls run concurrently, each
 * with its own timeout; a call that fails leaves its field `null` (with the reason in `errors`)
 * or its registry `{status: 'error'}`, and the rest of the report stands.
 */
export async function runProbes(
  rpc: RpcFunction,
  options: ProbeOptions = {},
): Promise<NodeProbeReport> {
  const now = options.now ?? Date.now;
  const started = now();
  const timeoutMs = options.timeoutMs ?? PROBE_TIMEOUT_MS;
  const errors: NodeProbeReport['errors'] = {};

  const field = async <K extends ProbeField>(
    name: K,
    probe: ProbeCall<ProbeResults[K]>,
  ): Promise<ProbeResults[K] | null> => {
    try {
      return await callProbe(rpc, probe, timeoutMs);
    } catch (error) {
      errors[name] = toProbeError(error);
      return null;
    }
  };

  const probes = fieldProbes(options.listCap ?? DEFAULT_LIST_CAP);
  const fields = Object.fromEntries(
    (Object.keys(probes) as ProbeField[]).map((name) => [name, field(name, probes[name])]),
  ) as { [K in ProbeField]: Promise<ProbeResults[K]> };
  const results = await allByName<ProbeResults>({
    ...fields,
    // The Elixir registries are counted only where Elixir runs: they wait on its version.
    registries: detectRegistries(rpc, { ...options, timeoutMs }, fields.elixirVersion),
  });
  return { ...results, errors, durationMs: now() - started };
}

/** Detects and counts the registries on a node; see {@link RegistryReport}. */
export async function detectRegistries(
  rpc: RpcFunction,
  options: ProbeOptions & { timeoutMs: number },
  elixirVersion: Promise<string | null>,
): Promise<RegistryReport> {
  const { timeoutMs } = options;
  const call = <T>(probe: ProbeCall<T>) => callProbe(rpc, probe, timeoutMs);

  const global = detect<{ names: number }>(async () => {
    const names = await call(globalNamesProbe);
    return names === null ? { status: 'absent' } : { status: 'present', names };
  });

  const swarm = detect<{ names: number; hostedHere: number | null; hostedError?: ProbeError }>(
    async () => {
      const names = await call(swarmRegistrySizeProbe);
      if (names === null) return { status: 'absent' };
      try {
        return { status: 'present', names, hostedHere: await call(swarmHostedProbe) };
      } catch (error) {
        return { status: 'present', names, hostedHere: null, hostedError: toProbeError(error) };
      }
    },
  );

  const pgLimit = options.pgGroupLimit ?? 50;
  const pg = detect<{
    groups: number;
    members: number | null;
    sample: PgGroupReport[];
    truncated: boolean;
  }>(async () => {
    const groups = await call(pgGroupCountProbe);
    if (groups === null) return { status: 'absent' };
    const rows = groups === 0 ? [] : await call(pgGroupsProbe(pgLimit));
    const sample = rows.map((row) => ({
      group: describeKey(row.group),
      members: row.members,
      localMembers: row.localMembers,
    }));
    const truncated = rows.length < groups;
    const members = truncated ? null : rows.reduce((sum, row) => sum + row.members, 0);
    return { status: 'present', groups, members, sample, truncated };
  });

  const synLimit = options.synScopeLimit ?? 20;
  const syn = detect<{
    scopes: Array<{ scope: string; names: number | null }>;
    truncated: boolean;
  }>(async () => {
    let scopes: string[];
    try {
      scopes = await call(synScopesProbe);
    } catch (error) {
      // `undef`: syn is not on this node.
      if (isRemoteException(error)) return { status: 'absent' };
      throw error;
    }
    const counted = await Promise.all(
      scopes.slice(0, synLimit).map(async (scope) => {
        const table = await existingAtom(rpc, `syn_registry_by_name_${scope}`, timeoutMs);
        return { scope, names: table ? await call(tableSizeProbe(table)) : null };
      }),
    );
    return { status: 'present', scopes: counted, truncated: scopes.length > synLimit };
  });

  const horde = Promise.all(
    (options.hordeRegistries ?? []).map(async (name) => ({
      name,
      ...(await detect<{ names: number }>(async () => {
        const table = await existingAtom(rpc, `keys_${registryAtomName(name)}`, timeoutMs);
        const names = table ? await call(tableSizeProbe(table)) : null;
        return names === null ? { status: 'absent' } : { status: 'present', names };
      })),
    })),
  );

  const elixirRegistries = Promise.all(
    (options.elixirRegistries ?? []).map(async (name) => ({
      name,
      ...(await detect<{ keys: number }>(async () => {
        if ((await elixirVersion) === null) return { status: 'absent' };
        const registry = await existingAtom(rpc, registryAtomName(name), timeoutMs);
        if (!registry) return { status: 'absent' };
        try {
          return { status: 'present', keys: await call(elixirRegistryCountProbe(registry)) };
        } catch (error) {
          // ArgumentError "unknown registry": the atom exists but no Registry runs under it.
          if (isRemoteException(error)) return { status: 'absent' };
          throw error;
        }
      })),
    })),
  );

  return {
    global: await global,
    swarm: await swarm,
    pg: await pg,
    syn: await syn,
    horde: await horde,
    elixirRegistries: await elixirRegistries,
  };
}
