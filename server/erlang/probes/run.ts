import 'server-only';

// One full probe of a node: every field of the catalogue and the registry detection, run at once,
// each failure kept beside its field so the rest of the report stands.

import type { Atom, Term } from '../codec/terms';
import {
  connectionCountProbe,
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
  globalHostedProbe,
  hostedRowsProbe,
  supervisorActiveChildrenProbe,
  synStartedScopesProbe,
  tableSizeProbe,
  uptimeProbe,
  visibleNodesProbe,
  type MemoryReport,
  type NodeList,
  type ProbeCall,
} from './catalogue';
import { batchCalls } from './batch';
import { probeLinks, type LinkReport, type QueueChoice } from './links';
import { describeKey, isRemoteException, toProbeError, type ProbeError } from './reply';

/** How the probes reach a node: `NodeConnection.rpc` or `ConnectionManager.rpc` bound to a node. */
export type RpcFunction = (
  module: string,
  fn: string,
  args: Term[],
  options?: {
    timeoutMs?: number;
    encodedReply?: boolean;
    /**
     * The catalogue entry this call is, when it is one: the connection ignores it, a batching
     * rpc (`batch.ts`) sends a `batchable` entry together with the others of its turn.
     */
    probe?: ProbeCall<unknown>;
  },
) => Promise<Term>;

export interface ProbeOptions {
  /** Timeout of each remote call, ms (default {@link PROBE_TIMEOUT_MS}). */
  timeoutMs?: number;
  /** Cap on node lists (default 1000). */
  listCap?: number;
  /** How many `pg` groups to report with member counts (default 200). */
  pgGroupLimit?: number;
  /** How many syn scopes to count (default 20). */
  synScopeLimit?: number;
  /** Elixir `Registry` names to count, e.g. `MyApp.Registry` (the `Elixir.` prefix is optional). */
  elixirRegistries?: string[];
  /** Horde registry names, e.g. `MyApp.HordeRegistry`; their `keys_<Name>` tables are counted. */
  hordeRegistries?: string[];
  /** Horde dynamic supervisor names; the children of each node's `<Name>.ProcessesSupervisor`. */
  hordeSupervisors?: string[];
  /** syn scopes to count; default the scopes started on the node. */
  synScopes?: string[];
  /**
   * Whether to count hosted entries and a Horde supervisor's children (default true). Each is a
   * scan of a whole table or a walk of the supervisor's children on the node — milliseconds at
   * 10,000 entries — where a table's size costs the same at any size: the collector counts them
   * on a slower cadence and keeps the last counts in between (see `server/collector`).
   */
  countHosted?: boolean;
  /**
   * Whether to read the node's distribution links (default true): `nodes_info` costs a round
   * trip per peer on the node, so the collector reads them on a cadence in large clusters.
   */
  links?: boolean;
  /** Which links' port queues to read (at most four); default the ones that sent the most. */
  chooseQueues?: QueueChoice;
  /**
   * Fields not to read this time: they stay `null` with no error. The collector leaves out what
   * it does not show (`processLimit`, `hiddenNodes`, ...) and, in a large cluster, the peer list
   * while the node's connection count has not moved.
   */
  skip?: ReadonlySet<ProbeField>;
  /**
   * Fields already known (versions read at connect): their values are taken from here instead of
   * asked for. `elixirVersion` given here still gates the Elixir registries.
   */
  reuse?: Partial<{ [K in ProbeField]: NodeProbeReport[K] }>;
  /**
   * Registries found absent on the node by an earlier probe of the same connection: reported
   * absent without asking (a missing syn is a `badarg` the node raises and beamscope decodes at
   * every probe otherwise). The collector asks again now and then.
   */
  knownAbsent?: ReadonlySet<AbsenceKnown>;
  /**
   * Whether to read the registries (default true). When false the report's registries are
   * {@link REGISTRIES_NOT_READ}: the caller keeps what it knew (the collector, between the
   * probes of a large cluster that read them).
   */
  registries?: boolean;
  /**
   * Whether the catalogue calls a probe makes at the same moment go as one remote call
   * (`lists:zipwith3(fun erlang:apply/3, ...)`, see `batch.ts`); default true. A steady-state
   * probe is then one or two calls where it was eight: at 1,000 nodes the number of calls is
   * the collector's cost. False sends each call alone (tests compare the two).
   */
  batch?: boolean;
  /** A seam for tests: the clock used for `durationMs`. */
  now?: () => number;
}

/** The registries whose absence a probe may take as known (see `knownAbsent`). */
export type AbsenceKnown = 'global' | 'swarm' | 'pg' | 'syn';

/** A registry's state on one node: present (with its counts), absent, or a failed probe. */
export type Detection<T> =
  ({ status: 'present' } & T) | { status: 'absent' } | { status: 'error'; error: ProbeError };

export interface PgGroupReport {
  group: string;
  members: number;
  localMembers: number;
}

/** A node's copy of a replicated registry: its size, and how many of its entries live here. */
export interface ReplicaCount {
  names: number;
  /**
   * Entries whose process is on this node; null when that count failed (see `hostedError`) or
   * was not asked for this time (`countHosted: false`).
   */
  hostedHere: number | null;
  hostedError?: ProbeError;
}

/** One syn scope: its registry, and its process groups (memberships, every group together). */
export interface SynScopeReport {
  scope: string;
  /** Registered names in this node's copy; null when the scope's table is not on the node. */
  names: number | null;
  hostedHere: number | null;
  /** Group memberships in this node's copy, and those of local processes. */
  members: number | null;
  localMembers: number | null;
}

export interface RegistryReport {
  /** `:global` names (cluster-wide: every node holds the whole table). */
  global: Detection<ReplicaCount>;
  /** Swarm: `names` is this node's view of the whole registry, `hostedHere` the names it hosts. */
  swarm: Detection<ReplicaCount>;
  /** The default `pg` scope: group count, and member counts for the first groups. */
  pg: Detection<PgReport>;
  /** The syn scopes started on the node (or the configured ones), each counted on the node. */
  syn: Detection<{ scopes: SynScopeReport[]; truncated: boolean }>;
  /** Horde registries by name: their `keys_<Name>` table. */
  horde: Array<{ name: string } & Detection<ReplicaCount>>;
  /** Horde dynamic supervisors by name: the children this node runs (null: not counted now). */
  hordeSupervisors: Array<{ name: string } & Detection<{ children: number | null }>>;
  elixirRegistries: Array<{ name: string } & Detection<{ keys: number }>>;
}

/** The default `pg` scope on one node. */
export interface PgReport {
  groups: number;
  /** Members over all groups, and those of local processes; `null` when only some were sampled. */
  members: number | null;
  localMembers: number | null;
  sample: PgGroupReport[];
  truncated: boolean;
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
  /**
   * The node's distribution connections, visible, hidden and pending (`sys_dist`'s size): a
   * cheap sign that its peers changed; null when not asked or the node has no such table.
   */
  connectionCount: number | null;
  registries: RegistryReport;
  /** The node's distribution links; null when not read this time or `nodes_info` failed. */
  links: LinkReport | null;
  /** The failure behind each `null` field, keyed by field name. */
  errors: Partial<Record<ProbeField | 'links', ProbeError>>;
  durationMs: number;
}

/** The registries of a probe that did not read them (`registries: false`): none reported. */
export const REGISTRIES_NOT_READ: RegistryReport = {
  global: { status: 'absent' },
  swarm: { status: 'absent' },
  pg: { status: 'absent' },
  syn: { status: 'absent' },
  horde: [],
  hordeSupervisors: [],
  elixirRegistries: [],
};

/** Every probe of a run by name: one report field each, `registries` for the registry detection. */
export type ProbeName = Exclude<keyof NodeProbeReport, 'errors' | 'durationMs'>;

/** The report fields that one catalogue call fills. */
export type ProbeField = Exclude<ProbeName, 'registries' | 'links'>;

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
    connectionCount: connectionCountProbe,
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
  const reply = await rpc(
    probe.module,
    probe.fn,
    [...probe.args],
    probe.encodedReply ? { timeoutMs, encodedReply: true, probe } : { timeoutMs, probe },
  );
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

async function detect<T>(
  run: () => Promise<Detection<T>>,
  knownAbsent = false,
): Promise<Detection<T>> {
  if (knownAbsent) return { status: 'absent' };
  try {
    return await run();
  } catch (error) {
    return { status: 'error', error: toProbeError(error) };
  }
}

/**
 * Runs the node catalogue and registry detection against one node. Calls run concurrently, those
 * made at the same moment as one remote call (see `batch`); a call that fails leaves its field
 * `null` (with the reason in `errors`) or its registry `{status: 'error'}`, and the rest of the
 * report stands.
 */
export async function runProbes(
  unbatchedRpc: RpcFunction,
  options: ProbeOptions = {},
): Promise<NodeProbeReport> {
  const rpc = options.batch === false ? unbatchedRpc : batchCalls(unbatchedRpc);
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
  const { skip, reuse = {} } = options;
  const fields = Object.fromEntries(
    (Object.keys(probes) as ProbeField[]).map((name) => [
      name,
      name in reuse
        ? Promise.resolve(reuse[name] ?? null)
        : skip?.has(name)
          ? Promise.resolve(null)
          : field(name, probes[name]),
    ]),
  ) as { [K in ProbeField]: Promise<ProbeResults[K]> };
  const results = await allByName<ProbeResults>({
    ...fields,
    // The Elixir registries are counted only where Elixir runs: they wait on its version.
    registries:
      options.registries === false
        ? Promise.resolve(REGISTRIES_NOT_READ)
        : detectRegistries(rpc, { ...options, timeoutMs }, fields.elixirVersion),
    links:
      options.links === false
        ? Promise.resolve(null)
        : probeLinks(rpc, {
            timeoutMs,
            cap: options.listCap ?? DEFAULT_LIST_CAP,
            ...(options.chooseQueues ? { choose: options.chooseQueues } : {}),
          }).catch((error: unknown) => {
            errors.links = toProbeError(error);
            return null;
          }),
  });
  return { ...results, errors, durationMs: now() - started };
}

/**
 * One syn scope, counted on the node from syn 3.x's tables: `syn_registry_by_name_<Scope>` rows
 * `{Name, Pid, Meta, Time, MRef, Node}` and `syn_pg_by_name_<Scope>` rows
 * `{{Group, Pid}, Meta, Time, MRef, Node}`. A table whose name is not an atom on the node does not
 * exist there; its counts stay null.
 */
async function countSynScope(
  rpc: RpcFunction,
  scope: string,
  timeoutMs: number,
  countHosted: boolean,
): Promise<SynScopeReport> {
  const call = <T>(probe: ProbeCall<T>) => callProbe(rpc, probe, timeoutMs);
  const count = async (prefix: string, pidPath: number[]) => {
    const table = await existingAtom(rpc, `${prefix}_${scope}`, timeoutMs);
    if (!table) return { size: null, hosted: null };
    const size = await call(tableSizeProbe(table));
    const hosted =
      size === null || !countHosted ? null : await call(hostedRowsProbe(table, pidPath));
    return { size, hosted };
  };
  // The pid: a registry row's second element; a group row's key `{Group, Pid}`, second.
  const [registry, groups] = await Promise.all([
    count('syn_registry_by_name', [2]),
    count('syn_pg_by_name', [1, 2]),
  ]);
  return {
    scope,
    names: registry.size,
    hostedHere: registry.hosted,
    members: groups.size,
    localMembers: groups.hosted,
  };
}

/** Detects and counts the registries on a node; see {@link RegistryReport}. */
export async function detectRegistries(
  rpc: RpcFunction,
  options: ProbeOptions & { timeoutMs: number },
  elixirVersion: Promise<string | null>,
): Promise<RegistryReport> {
  const { timeoutMs } = options;
  const countHosted = options.countHosted ?? true;
  const call = <T>(probe: ProbeCall<T>) => callProbe(rpc, probe, timeoutMs);

  /** A replicated table's size and, unless it is absent, what of it this node hosts. */
  const replica = async (
    size: ProbeCall<number | null>,
    hosted: ProbeCall<number>,
  ): Promise<Detection<ReplicaCount>> => {
    const names = await call(size);
    if (names === null) return { status: 'absent' };
    if (!countHosted) return { status: 'present', names, hostedHere: null };
    try {
      return { status: 'present', names, hostedHere: await call(hosted) };
    } catch (error) {
      return { status: 'present', names, hostedHere: null, hostedError: toProbeError(error) };
    }
  };

  const absent = (name: AbsenceKnown) => options.knownAbsent?.has(name) ?? false;
  const global = detect(() => replica(globalNamesProbe, globalHostedProbe), absent('global'));
  const swarm = detect(() => replica(swarmRegistrySizeProbe, swarmHostedProbe), absent('swarm'));

  const pgLimit = options.pgGroupLimit ?? 200;
  const pg = detect<PgReport>(async () => {
    const groups = await call(pgGroupCountProbe);
    if (groups === null) return { status: 'absent' };
    const rows = groups === 0 ? [] : await call(pgGroupsProbe(pgLimit));
    const sample = rows.map((row) => ({
      group: describeKey(row.group),
      members: row.members,
      localMembers: row.localMembers,
    }));
    const truncated = rows.length < groups;
    const sum = (pick: (row: PgGroupReport) => number) =>
      truncated ? null : sample.reduce((total, row) => total + pick(row), 0);
    return {
      status: 'present',
      groups,
      members: sum((row) => row.members),
      localMembers: sum((row) => row.localMembers),
      sample,
      truncated,
    };
  }, absent('pg'));

  const synLimit = options.synScopeLimit ?? 20;
  const syn = detect<{ scopes: SynScopeReport[]; truncated: boolean }>(async () => {
    let started: string[];
    try {
      started = await call(synStartedScopesProbe);
    } catch (error) {
      // badarg: syn's table of tables is not there, so syn is not running (maybe only loaded).
      if (isRemoteException(error)) return { status: 'absent' };
      throw error;
    }
    const scopes = options.synScopes ?? started;
    const counted = await Promise.all(
      scopes.slice(0, synLimit).map((scope) => countSynScope(rpc, scope, timeoutMs, countHosted)),
    );
    return { status: 'present', scopes: counted, truncated: scopes.length > synLimit };
  }, absent('syn'));

  const horde = Promise.all(
    (options.hordeRegistries ?? []).map(async (name) => ({
      name,
      ...(await detect<ReplicaCount>(async () => {
        // Horde.RegistryImpl keeps `{Key, Member, {Pid, Value}}` rows in `keys_<Name>`.
        const table = await existingAtom(rpc, `keys_${registryAtomName(name)}`, timeoutMs);
        if (!table) return { status: 'absent' };
        return replica(tableSizeProbe(table), hostedRowsProbe(table, [3, 1]));
      })),
    })),
  );

  const hordeSupervisors = Promise.all(
    (options.hordeSupervisors ?? []).map(async (name) => ({
      name,
      ...(await detect<{ children: number | null }>(async () => {
        const supervisor = await existingAtom(
          rpc,
          `${registryAtomName(name)}.ProcessesSupervisor`,
          timeoutMs,
        );
        if (!supervisor) return { status: 'absent' };
        try {
          return {
            status: 'present',
            children: countHosted ? await call(supervisorActiveChildrenProbe(supervisor)) : null,
          };
        } catch (error) {
          // noproc: the atom exists, no supervisor runs under it here.
          if (isRemoteException(error)) return { status: 'absent' };
          throw error;
        }
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
    hordeSupervisors: await hordeSupervisors,
    elixirRegistries: await elixirRegistries,
  };
}
