import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  BeamPodRuntime,
  type BeamPodExit,
  type BeamPodNodeInfo,
} from '@/server/sandbox/beam/runtime';
import { startEmulatedApi, type EmulatedApi, type PodInfo } from '@/server/sandbox/kube-api';
import { podIpFromIndex } from '@/server/sandbox/pod-network';

import { beamProcessesUsingPort, freePort, waitFor } from './support';

const DEVICES = 200;
const TENANTS = 10;
const COOKIE = 'SANDBOXBEAMTESTCOOKIE';

/**
 * One node's Horde- and syn-layout copies and its Horde-style supervisor, read on the node
 * (through the control channel's eval) straight from the tables, not from the app's counters.
 */
interface Copies {
  /** Rows of `keys_Elixir.MyApp.DeviceRegistry`, and those whose pid lives on the node. */
  horde: number;
  hordeHosted: number;
  /** Rows of syn's `syn_registry_by_name_devices` / `syn_pg_by_name_devices`, and local ones. */
  synNames: number;
  synHosted: number;
  synMembers: number;
  synLocalMembers: number;
  /**
   * Every row in its library's layout, every device in each copy, each device's pid the same
   * in Swarm's, Horde's and syn's copies, and each device in its tenant's syn group.
   */
  complete: boolean;
  /** A hash of the sorted {Index, Pid} pairs: equal on two nodes when their copies agree. */
  digest: number;
  /** Tenants of the gateways the node's `…GatewaySupervisor.ProcessesSupervisor` runs. */
  gateways: number[];
  /** That supervisor's `active` children (what beamscope's probe reads). */
  activeChildren: number;
}

/** The Erlang expression behind {@link Copies} (one line: the control channel is line-based). */
const COPIES_EXPRESSION = [
  `Devices = lists:seq(1, ${DEVICES})`,
  "Local = fun(T, P) -> ets:select_count(T, [{P, [{'==', {node, '$1'}, node()}], [true]}]) end",
  'Index = fun(Name) -> binary_to_integer(binary:part(Name, 7, 5)) end',
  "Keys = 'keys_Elixir.MyApp.DeviceRegistry'",
  "Sup = 'Elixir.MyApp.GatewaySupervisor.ProcessesSupervisor'",
  "Horde = lists:sort([{I, P} || {{device, I}, {'Elixir.MyApp.DeviceRegistry', H}, {P, nil}} <- ets:tab2list(Keys), H =:= node(P)])",
  'Syn = lists:sort([{Index(N), P} || {N, P, undefined, T, M, H} <- ets:tab2list(syn_registry_by_name_devices), H =:= node(P), is_integer(T), (M =:= undefined) =:= (H =/= node())])',
  'Groups = lists:sort([{G, P} || {{{tenant, G}, P}, undefined, T, M, H} <- ets:tab2list(syn_pg_by_name_devices), H =:= node(P), is_integer(T), (M =:= undefined) =:= (H =/= node())])',
  'Swarm = lists:sort([{Index(N), P} || {entry, N, P, _, _, _} <- ets:tab2list(swarm_registry)])',
  `Complete = [I || {I, _} <- Horde] =:= Devices andalso Syn =:= Horde andalso Swarm =:= Horde andalso Groups =:= lists:sort([{I rem ${TENANTS}, P} || {I, P} <- Horde]) andalso length(Horde) =:= ets:info(Keys, size) andalso length(Syn) =:= ets:info(syn_registry_by_name_devices, size) andalso length(Groups) =:= ets:info(syn_pg_by_name_devices, size)`,
  // A bitmask: ~p would print a list such as [8,9] as the string "\b\t".
  'Gateways = lists:foldl(fun(T, Mask) -> Mask bor (1 bsl T) end, 0, [T || {{gateway, T}, P, worker, _} <- supervisor:which_children(Sup), is_pid(P)])',
  "[ets:info(Keys, size), Local(Keys, {'_', '_', {'$1', '_'}}), ets:info(syn_registry_by_name_devices, size), Local(syn_registry_by_name_devices, {'_', '$1', '_', '_', '_', '_'}), ets:info(syn_pg_by_name_devices, size), Local(syn_pg_by_name_devices, {{'_', '$1'}, '_', '_', '_', '_'}), Complete, erlang:phash2(Horde), Gateways, proplists:get_value(active, supervisor:count_children(Sup))]",
].join(', ');

function parseCopies(text: string): Copies {
  const values = (JSON.parse(text) as Array<number | boolean>).map(Number);
  const [horde, hordeHosted, synNames, synHosted, synMembers, synLocalMembers] = values;
  const [complete, digest, gatewayMask, activeChildren] = values.slice(6);
  return {
    ...{ horde, hordeHosted, synNames, synHosted, synMembers, synLocalMembers },
    complete: complete === 1,
    digest: digest!,
    gateways: [...Array(TENANTS).keys()].filter((tenant) => (gatewayMask! >> tenant) & 1),
    activeChildren: activeChildren!,
  } as Copies;
}

/** See copiesConverged: the nodes of one side of the mesh (or all of it). */
function groupConverged(copies: Copies[]): boolean {
  const sum = (pick: (node: Copies) => number) =>
    copies.reduce((total, node) => total + pick(node), 0);
  const gateways = copies.map((node) => node.gateways.length);
  return (
    copies.every(
      (node) =>
        node.complete &&
        node.horde === DEVICES &&
        node.synNames === DEVICES &&
        node.synMembers === DEVICES &&
        node.digest === copies[0]!.digest &&
        node.activeChildren === node.gateways.length,
    ) &&
    sum((node) => node.hordeHosted) === DEVICES &&
    sum((node) => node.synHosted) === DEVICES &&
    sum((node) => node.synLocalMembers) === DEVICES &&
    JSON.stringify(copies.flatMap((node) => node.gateways).sort((a, b) => a - b)) ===
      JSON.stringify([...Array(TENANTS).keys()]) &&
    Math.max(...gateways) - Math.min(...gateways) <= 1
  );
}

describe('BeamPodRuntime: real BEAM pods behind the emulated API', () => {
  let api: EmulatedApi;
  let runtime: BeamPodRuntime;
  let logDir: string;
  let port: number;
  const exits: BeamPodExit[] = [];
  const unexpected: Array<{ pod: PodInfo; signal: NodeJS.Signals | null }> = [];

  const livePods = () =>
    api.control
      .pods()
      .filter((pod) => !pod.terminating && runtime.podNames().includes(pod.name))
      .sort((a, b) => a.name.localeCompare(b.name));
  const infos = () => Promise.all(livePods().map((pod) => runtime.info(pod.name)));
  const others = (pods: PodInfo[], pod: PodInfo) =>
    pods
      .filter((other) => other !== pod)
      .map((other) => runtime.nodeName(other))
      .sort();

  /** Every given pod's node sees exactly the others of its group. */
  const meshed = (groups: PodInfo[][]) =>
    waitFor(
      `mesh ${JSON.stringify(groups.map((group) => group.map((pod) => pod.ip)))}`,
      () =>
        Promise.all(
          groups.flat().map(async (pod) => ({ pod, info: await runtime.info(pod.name) })),
        ),
      (results) =>
        results.every(({ pod, info }) => {
          const group = groups.find((candidate) => candidate.includes(pod))!;
          return JSON.stringify(info.nodes) === JSON.stringify(others(group, pod));
        }),
    );

  /**
   * Every node's table lists all devices, its rows' hosting nodes are exactly `hosts`, and each
   * host's own count of the devices it hosts matches what the others' tables say about it.
   */
  const registryConverged = (hosts: PodInfo[]) =>
    waitFor('registry convergence', infos, (all: BeamPodNodeInfo[]) => {
      const hostNames = hosts.map((pod) => runtime.nodeName(pod)).sort();
      const hostInfos = all.filter((info) => hostNames.includes(info.node));
      return all.every(
        (info) =>
          info.registry === DEVICES &&
          JSON.stringify(Object.keys(info.registryByNode).sort()) === JSON.stringify(hostNames) &&
          Object.values(info.registryByNode).reduce((sum, count) => sum + count, 0) === DEVICES &&
          hostInfos.every((host) => info.registryByNode[host.node] === host.hosted),
      );
    });

  /**
   * In each group of pods, every node's Horde and syn copies hold every device and agree with
   * each other and with the node's Swarm table, the group's nodes agree with one another, the
   * devices each node hosts add up to the total, and the group runs one gateway per tenant,
   * spread evenly over its nodes.
   */
  const copiesConverged = (groups: PodInfo[][]) =>
    waitFor(
      `Horde and syn copies converged in ${JSON.stringify(groups.map((group) => group.map((pod) => pod.ip)))}`,
      () =>
        Promise.all(
          groups.map((group) =>
            Promise.all(
              group.map(async (pod) =>
                parseCopies(await runtime.eval(pod.name, COPIES_EXPRESSION)),
              ),
            ),
          ),
        ),
      (all) => all.every((copies) => groupConverged(copies)),
    );

  beforeAll(async () => {
    logDir = await mkdtemp(join(tmpdir(), 'beamscope-sandbox-beam-test-'));
    port = await freePort();
    runtime = new BeamPodRuntime({
      cookie: COOKIE,
      devices: DEVICES,
      distPort: port,
      logDir,
      pollIntervalMs: 500,
      onExit: (pod, _code, signal) => unexpected.push({ pod, signal }),
    });
    runtime.on('exit', (exit: BeamPodExit) => exits.push(exit));
    api = await startEmulatedApi({ podRuntime: runtime, terminationGraceMs: 300 });
    runtime.attach({ url: api.url, token: api.token, namespace: api.namespace });
  });

  afterAll(async () => {
    await runtime?.stopAll();
    await api?.stop();
    if (logDir) await rm(logDir, { recursive: true, force: true });
  });

  it('meshes 3 pods through the API, and replicates the registry on every node', async () => {
    await api.control.scale(3);
    const pods = await waitFor(
      '3 ready pods',
      () => api.control.pods(),
      (all) => all.filter((pod) => pod.ready).length === 3,
    );
    expect(runtime.podNames().sort()).toEqual(pods.map((pod) => pod.name).sort());
    await meshed([livePods()]);
    await registryConverged(livePods());

    const [first] = livePods();
    // The Swarm-compatible table: {entry, Name, Pid, Ref, Meta, Clock}, key position 2.
    expect(await runtime.eval(first!.name, 'ets:info(swarm_registry, keypos)')).toBe('2');
    expect(
      await runtime.eval(
        first!.name,
        '[E] = ets:lookup(swarm_registry, <<"device-00007">>), {element(1, E), is_pid(element(3, E)), is_reference(element(4, E)), maps:get(tenant, element(5, E))}',
      ),
    ).toBe('{entry,true,true,7}');
    // Every 100th device holds a :global name; devices join a :pg group per tenant.
    await waitFor('the :global names and :pg groups', infos, (all) =>
      all.every((info) => info.globalNames === DEVICES / 100 && info.pgGroups === 10),
    );
  });

  it("keeps the devices in Horde's and syn's table layouts too, replicated on every node", async () => {
    const pods = livePods();
    const [first] = pods;
    const evalFirst = (expression: string) => runtime.eval(first!.name, expression);
    // Horde 0.9: keys_<Registry>, a set of {Key, {Registry, Node}, {Pid, Value}}.
    expect(
      await evalFirst(
        'T = \'keys_Elixir.MyApp.DeviceRegistry\', [{K, {R, N}, {P, V}}] = ets:lookup(T, {device, 7}), [{entry, _, SP, _, _, _}] = ets:lookup(swarm_registry, <<"device-00007">>), {ets:info(T, type), K, R, N =:= node(P), P =:= SP, V}',
      ),
    ).toBe("{set,{device,7},'Elixir.MyApp.DeviceRegistry',true,true,nil}");
    // syn 3.4: the scope's tables listed in syn_table_names; names in a set, groups (tenants) in
    // an ordered_set keyed {Group, Pid}; MRef only in the copy on the pid's own node.
    expect(
      await evalFirst(
        'lists:sort(ets:tab2list(syn_table_names)) =:= [{{syn_pg_by_name, devices}, syn_pg_by_name_devices}, {{syn_registry_by_name, devices}, syn_registry_by_name_devices}]',
      ),
    ).toBe('true');
    expect(
      await evalFirst(
        '[{N, P, Meta, Time, MRef, Node}] = ets:lookup(syn_registry_by_name_devices, <<"device-00007">>), [{_, Meta2, Time, MRef, Node}] = ets:lookup(syn_pg_by_name_devices, {{tenant, 7}, P}), {ets:info(syn_registry_by_name_devices, type), ets:info(syn_pg_by_name_devices, type), N, Meta, Meta2, Node =:= node(P), is_integer(Time), is_reference(MRef) =:= (Node =:= node())}',
      ),
    ).toBe('{set,ordered_set,<<"device-00007">>,undefined,undefined,true,true,true}');
    await copiesConverged([pods]);
  });

  it("decodes the API's JSON with the app's own decoder (OTP 25 has no json module)", async () => {
    const binary = (text: string) =>
      `<<"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"/utf8>>`;
    const valid: Array<[string, string]> = [
      [
        '{"a":[1,-2.5,1E2,0,true,false,null]}',
        '#{<<"a">> => [1, -2.5, 100.0, 0, true, false, null]}',
      ],
      [' [ ] ', '[]'],
      [
        '{"items":null,"k":{},"n":-0.5e-1}',
        '#{<<"items">> => null, <<"k">> => #{}, <<"n">> => -0.05}',
      ],
      ['"x\\ny\\u00e9\\ud83d\\ude00\\/"', '<<"x\\ny", 233/utf8, 128512/utf8, "/">>'],
      ['"caf\u00e9"', '<<"caf", 233/utf8>>'],
    ];
    const invalid = [
      '[1,]',
      '{"a":1,}',
      '01',
      '"abc',
      '"\\ud800"',
      '"a\tb"',
      '1.',
      '-',
      '[1 2]',
      '',
    ];
    const checks = [
      ...valid.map(([json, term]) => `myapp_json:decode(${binary(json)}) =:= {ok, ${term}}`),
      ...invalid.map((json) => `element(1, myapp_json:decode(${binary(json)})) =:= error`),
    ];
    const [pod] = livePods();
    expect(await runtime.eval(pod!.name, `[${checks.join(', ')}]`)).toBe(
      `[${checks.map(() => 'true').join(',')}]`,
    );
  });

  it('scales to 5 pods: a 5-node mesh, and the devices rebalance onto the new nodes', async () => {
    await api.control.scale(5);
    await waitFor(
      '5 ready pods',
      () => api.control.pods(),
      (all) => all.filter((pod) => pod.ready).length === 5,
    );
    expect(livePods()).toHaveLength(5);
    await meshed([livePods()]);
    const converged = await registryConverged(livePods());
    for (const info of converged) expect(info.hosted).toBeGreaterThan(0);
    // The gateways moved: 10 tenants over 5 nodes, 2 each.
    const [copies] = await copiesConverged([livePods()]);
    expect(copies!.map((node) => node.gateways.length)).toEqual([2, 2, 2, 2, 2]);
  });

  it('partitions the mesh into two sides that each see only themselves, and heals it', async () => {
    const pods = livePods();
    const left = pods.slice(0, 2);
    const right = pods.slice(2);
    // Sides by pod name and by pod IP alike.
    await runtime.partition([left.map((pod) => pod.name), right.map((pod) => pod.ip)]);
    await meshed([left, right]);
    // It holds: the API still lists everyone, and global's connect_all would reconnect them.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await meshed([left, right]);
    // Each side runs every device (both believe they are the whole cluster).
    await waitFor('each side hosting every device', infos, (all) =>
      all.every(
        (info) =>
          info.registry === DEVICES &&
          Object.values(info.registryByNode).reduce((sum, count) => sum + count, 0) === DEVICES,
      ),
    );

    // So does every other copy: each side's Horde and syn tables list every device, hosted on
    // that side, and each side runs every tenant's gateway. The two sides disagree.
    const [leftCopies, rightCopies] = await copiesConverged([left, right]);
    expect(leftCopies![0]!.digest).not.toBe(rightCopies![0]!.digest);

    await runtime.heal();
    await meshed([pods]);
    await registryConverged(pods);
    await copiesConverged([pods]);
    // 10-11 s on a quiet machine, 21 s with a core taken by another process: the default 30 s
    // was too close for a slower machine. Its waits are bounded one by one above.
  }, 90_000);

  it('a 403 on EndpointSlices makes every node drop its peers, as libcluster does', async () => {
    const pods = livePods();
    api.control.setForbidden('endpointslices', true);
    try {
      await meshed(pods.map((pod) => [pod]));
    } finally {
      api.control.setForbidden('endpointslices', false);
    }
    await meshed([pods]);
    await registryConverged(pods);
  });

  it('scales down to 4 and back to 5: the deleted node stops, a new pod reuses its IP', async () => {
    const before = livePods();
    await api.control.scale(4);
    const deleted = before.find((pod) =>
      api.control.pods().some((other) => other.name === pod.name && other.terminating),
    )!;
    expect(deleted).toBeDefined();
    // As soon as the emulator forgets the pod, a new one gets its IP: its node must still come
    // up on IP:port even if the old node has not finished stopping.
    await waitFor(
      'the deleted pod to be gone',
      () => api.control.pods(),
      (all) => !all.some((pod) => pod.name === deleted.name),
      5_000,
    );
    await api.control.scale(5);
    await waitFor(
      '5 ready pods again',
      () => api.control.pods(),
      (all) => all.filter((pod) => pod.ready && !pod.terminating).length === 5,
    );
    expect(exits.some((exit) => exit.pod.name === deleted.name && exit.expected)).toBe(true);
    expect(unexpected).toEqual([]);
    const after = livePods();
    expect(after.map((pod) => pod.ip)).toContain(deleted.ip);
    expect(after.map((pod) => pod.name)).not.toContain(deleted.name);
    await meshed([after]);
    await registryConverged(after);
  });

  it('kills a node: it leaves the mesh and onExit reports the SIGKILL', async () => {
    const pods = livePods();
    const victim = pods.at(-1)!;
    runtime.kill(victim.name);
    await waitFor(
      'the exit report',
      () => unexpected,
      (reports) => reports.some((report) => report.pod.name === victim.name),
    );
    expect(unexpected.find((report) => report.pod.name === victim.name)?.signal).toBe('SIGKILL');
    const survivors = pods.filter((pod) => pod !== victim);
    await meshed([survivors]);
    await registryConverged(survivors);
    await copiesConverged([survivors]);

    // A restart (what the emulator will do for a crashed container) brings it back.
    await runtime.start(victim);
    await meshed([pods]);
  });

  it('a node with the wrong cookie runs but never joins; the right cookie brings it back', async () => {
    const pods = livePods();
    const odd = pods[0]!;
    await runtime.miscookie(odd.name);
    expect(exits.some((exit) => exit.pod.name === odd.name && exit.expected)).toBe(true);
    const rest = pods.filter((pod) => pod !== odd);
    await meshed([rest, [odd]]);
    // It stays out over several polls (the API lists it; every handshake fails on the cookie).
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect((await runtime.info(odd.name)).nodes).toEqual([]);
    expect((await runtime.info(rest[0]!.name)).nodes).not.toContain(runtime.nodeName(odd));

    await runtime.setCookie(odd.name, COOKIE);
    await meshed([pods]);
  });

  it('stopAll leaves no emulator behind, even with a start under way, and no node starts after it', async () => {
    const pids = runtime.pids();
    expect(pids.length).toBe(5);
    expect(beamProcessesUsingPort(port).sort()).toEqual([...pids].sort());
    // What a rollout does while the sandbox stops: the emulator's controllers run until its API
    // stops, after the nodes, and start pods meanwhile.
    const pod = (index: number): PodInfo => ({
      name: `myapp-late-${index}`,
      uid: `late-${index}`,
      ip: podIpFromIndex(200 + index),
      nodeName: 'sandbox',
      phase: 'Pending',
      ready: false,
      terminating: false,
    });
    const underWay = runtime.start(pod(0));
    await runtime.stopAll();
    await expect(underWay).rejects.toMatchObject({ code: 'runtime_stopped' });
    await expect(runtime.start(pod(1))).rejects.toMatchObject({ code: 'runtime_stopped' });
    expect(runtime.podNames()).toEqual([]);
    for (const pid of pids) expect(existsSync(`/proc/${pid}`)).toBe(false);
    expect(beamProcessesUsingPort(port)).toEqual([]);
  });
});

describe('BeamPodRuntime in epmd mode, with an HTTPS API and Endpoints discovery', () => {
  let api: EmulatedApi;
  let runtime: BeamPodRuntime;
  let logDir: string;

  beforeAll(async () => {
    logDir = await mkdtemp(join(tmpdir(), 'beamscope-sandbox-beam-epmd-'));
    runtime = new BeamPodRuntime({
      cookie: COOKIE,
      distribution: 'epmd',
      devices: 50,
      logDir,
      pollIntervalMs: 500,
      discovery: 'endpoints',
      // Only Swarm's table: the other backends are switched off through the app environment.
      extraArgs: ['-myapp', 'extra_registries', '[]'],
    });
    api = await startEmulatedApi({ podRuntime: runtime, terminationGraceMs: 300, tls: true });
    // The nodes verify the API's certificate against its CA (an IP SAN, as in the sandbox).
    runtime.attach({
      url: api.url,
      token: api.token,
      namespace: api.namespace,
      caFile: api.caFile,
    });
  });

  afterAll(async () => {
    await runtime?.stopAll();
    await api?.stop();
    if (logDir) await rm(logDir, { recursive: true, force: true });
  });

  it('names nodes apart for the one EPMD and meshes them through the Endpoints API', async () => {
    await api.control.scale(2);
    const pods = await waitFor(
      '2 ready pods',
      () => api.control.pods(),
      (all) => all.filter((pod) => pod.ready).length === 2,
    );
    const [a, b] = pods;
    expect(runtime.nodeName(a!)).toBe(`myapp-${a!.ip.replaceAll('.', '-')}@${a!.ip}`);
    await waitFor(
      'a 2-node mesh',
      () => Promise.all([runtime.info(a!.name), runtime.info(b!.name)]),
      ([infoA, infoB]) =>
        JSON.stringify(infoA!.nodes) === JSON.stringify([runtime.nodeName(b!)]) &&
        JSON.stringify(infoB!.nodes) === JSON.stringify([runtime.nodeName(a!)]),
    );
    expect(
      await runtime.eval(a!.name, 'lists:sort([N || {N, _} <- element(2, erl_epmd:names())])'),
    ).toContain(`"myapp-${a!.ip.replaceAll('.', '-')}"`);
  });

  it('keeps only the Swarm table when the other registries are switched off', async () => {
    const [a] = runtime.podNames();
    await waitFor(
      "every device in a's Swarm table",
      () => runtime.info(a!),
      (info) => info.registry === 50,
    );
    expect(
      await runtime.eval(
        a!,
        "[ets:whereis(T) || T <- ['keys_Elixir.MyApp.DeviceRegistry', syn_table_names, syn_registry_by_name_devices, syn_pg_by_name_devices]] ++ [whereis('Elixir.MyApp.GatewaySupervisor.ProcessesSupervisor')]",
      ),
    ).toBe('[undefined,undefined,undefined,undefined,undefined]');
  });
});
