import 'server-only';

// The netns mode's pod network (root, Linux): a bridge holding the gateway address on the host
// (beamscope's side), and one network namespace per pod joined to it by a veth pair, the pod IP on
// its end. Faults are made by the kernel: blackhole routes inside the pods' namespaces (a
// partition, a one-way partition, a side cut off from beamscope) and an htb rate limit (a link so
// slow that ticks arrive late). Latency and loss (`tc netem`) and packet filters need kernel
// modules (sch_netem, act_gact, nf_tables) this machine's kernel does not have; routes and htb
// need none.
// Everything is named after this process (names.ts): `stop()` removes it, and `start()` first
// removes what a run that died without stopping left behind.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

import { addressAt, inNetwork, type AddressMapping } from '../../erlang/address-map';
import { BeamscopeError } from '../../errors';
import type { NetworkFault } from '../kube-api/cluster/sandbox-control';
import { POD_CIDR, type PodNetworkPlan } from '../pod-network';
import { bridgeName, isAlive, NETNS_PREFIX, netnsName, ownerPid, vethName } from './names';

const run = promisify(execFile);

/** Runs `ip …`; a failure names the command and the kernel's one-line answer. */
async function ip(...args: string[]): Promise<string> {
  try {
    return (await run('ip', args, { timeout: 10_000 })).stdout;
  } catch (error) {
    const { stderr, message } = error as { stderr?: string; message: string };
    throw new BeamscopeError(
      'sandbox',
      'netns_failed',
      `ip ${args.join(' ')} failed: ${(stderr || message).trim().split('\n')[0]}`,
      { cause: error },
    );
  }
}

/** Runs `tc …` (in namespace `netns` when given). */
async function tc(netns: string | undefined, ...args: string[]): Promise<void> {
  const where = netns ? ['-n', netns] : [];
  try {
    await run('tc', [...where, ...args], { timeout: 10_000 });
  } catch (error) {
    const { stderr, message } = error as { stderr?: string; message: string };
    throw new BeamscopeError(
      'sandbox',
      'netns_failed',
      `tc ${[...where, ...args].join(' ')} failed: ${(stderr || message).trim().split('\n')[0]}`,
      { cause: error },
    );
  }
}

/** Pod IPs by side: what a fault is about. */
export type Sides = string[][];

/** Netns mode: every pod owns its pod IP in its own namespace; peers are dialled where named. */
export class NetnsPodNetwork implements PodNetworkPlan {
  readonly addressMap: readonly AddressMapping[] = [];
  /** Each pod has its own address and ports. */
  readonly sharesPorts = false;
  /** The host's address on the bridge: where pods reach beamscope's side (and the API). */
  readonly gateway = addressAt(POD_CIDR, 1);
  private readonly pid = process.pid;
  private readonly bridge = bridgeName(process.pid);
  private readonly pods = new Map<string, number>();
  /** The blackhole routes in place, to undo on heal: [namespace, prefix]. */
  private blackholes: Array<[string, string]> = [];
  private slowed = new Set<string>();
  private started = false;

  /** `uid`: the process's user id (a seam for the refusal without root). */
  constructor(private readonly uid: () => number | undefined = () => process.getuid?.()) {}

  listenAddress(podIp: string): string {
    return podIp;
  }

  /**
   * Removes a dead run's leftovers, then creates the bridge with the gateway address. Fails in
   * one line when not root or when another live run holds the pod network.
   */
  async start(): Promise<void> {
    if (this.uid() !== 0) {
      throw new BeamscopeError(
        'sandbox',
        'netns_unavailable',
        'the netns mode needs root (network namespaces, veth and routes)',
      );
    }
    await removeLeftovers();
    const holder = await addressHolder();
    if (holder) {
      throw new BeamscopeError(
        'sandbox',
        'netns_unavailable',
        `the pod network ${POD_CIDR} is already in use on this machine (${holder}): stop that run first`,
      );
    }
    await ip('link', 'add', this.bridge, 'type', 'bridge');
    this.started = true;
    await ip('addr', 'add', `${this.gateway}/16`, 'dev', this.bridge);
    await ip('link', 'set', this.bridge, 'up');
  }

  /** The namespace of a pod, created with its veth, address, loopback and default route. */
  async addPod(podIp: string): Promise<string> {
    if (!inNetwork(podIp, POD_CIDR)) {
      throw new BeamscopeError('sandbox', 'invalid_ip', `${podIp} is not in ${POD_CIDR}`);
    }
    const existing = this.pods.get(podIp);
    if (existing !== undefined) return netnsName(this.pid, existing);
    const index = this.pods.size === 0 ? 0 : Math.max(...this.pods.values()) + 1;
    this.pods.set(podIp, index);
    const netns = netnsName(this.pid, index);
    const host = vethName(this.pid, index);
    await ip('netns', 'add', netns);
    await ip('link', 'add', host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns);
    await ip('link', 'set', host, 'master', this.bridge, 'up');
    await ip('-n', netns, 'addr', 'add', `${podIp}/16`, 'dev', 'eth0');
    await ip('-n', netns, 'link', 'set', 'lo', 'up');
    await ip('-n', netns, 'link', 'set', 'eth0', 'up');
    await ip('-n', netns, 'route', 'add', 'default', 'via', this.gateway);
    return netns;
  }

  /** `command args` run inside the pod's namespace (`ip netns exec` execs it: same pid). */
  wrap(podIp: string, command: string, args: string[]): { command: string; args: string[] } {
    return { command: 'ip', args: ['netns', 'exec', this.netnsOf(podIp), command, ...args] };
  }

  /** Each side stops reaching every other side (both ways); beamscope still reaches all. */
  async partition(sides: Sides): Promise<void> {
    for (const [at, side] of sides.entries()) {
      const others = sides.filter((_, index) => index !== at).flat();
      for (const from of side) for (const to of others) await this.oneWay(from, to);
    }
  }

  /**
   * `from` stops sending to `to`; `to` can still send to `from` (whose answers are dropped). The
   * route is in `from`'s own namespace, so `from`'s connects to `to` fail at once (EINVAL).
   */
  async oneWay(from: string, to: string): Promise<void> {
    await this.blackhole(this.netnsOf(from), `${to}/32`);
  }

  /**
   * beamscope's side (the host) and these pods stop reaching each other: the pods drop whatever
   * they send to the gateway, so beamscope's packets arrive and nothing comes back, and its
   * connects time out and its links go silent as across a real partition (a route on the host
   * would instead fail its connects at once, which no network does).
   */
  async cutOff(podIps: string[]): Promise<void> {
    for (const podIp of podIps) await this.blackhole(this.netnsOf(podIp), `${this.gateway}/32`);
  }

  /** The pod's link, both ways, limited to `kbit` kbit/s (htb): queued traffic arrives late. */
  async slow(podIp: string, kbit: number): Promise<void> {
    const netns = this.netnsOf(podIp);
    const host = vethName(this.pid, this.pods.get(podIp)!);
    this.slowed.add(podIp);
    // Towards the pod on the host's end, from the pod on its own.
    for (const [at, device] of [
      [undefined, host],
      [netns, 'eth0'],
    ] as const) {
      await tc(
        at,
        'qdisc',
        'replace',
        'dev',
        device,
        'root',
        'handle',
        '1:',
        'htb',
        'default',
        '1',
      );
      const rate = `${kbit}kbit`;
      await tc(
        at,
        'class',
        'replace',
        'dev',
        device,
        'parent',
        '1:',
        'classid',
        '1:1',
        'htb',
        'rate',
        rate,
        'ceil',
        rate,
      );
    }
  }

  /** One fault, as the sandbox's control API asks for it. */
  async fault(fault: NetworkFault): Promise<void> {
    if (fault.kind === 'partition') await this.partition(fault.sides);
    else if (fault.kind === 'one-way') await this.oneWay(fault.from, fault.to);
    else if (fault.kind === 'cut-off') await this.cutOff(fault.pods);
    else await this.slow(fault.pod, fault.kbit);
  }

  /** Undoes every fault: routes removed, rate limits lifted. */
  async heal(): Promise<void> {
    const routes = this.blackholes;
    this.blackholes = [];
    for (const [netns, prefix] of routes) {
      await ip('-n', netns, 'route', 'del', 'blackhole', prefix).catch(() => undefined);
    }
    for (const podIp of this.slowed) {
      const netns = this.netnsOf(podIp);
      const host = vethName(this.pid, this.pods.get(podIp)!);
      await tc(undefined, 'qdisc', 'del', 'dev', host, 'root').catch(() => undefined);
      await tc(netns, 'qdisc', 'del', 'dev', 'eth0', 'root').catch(() => undefined);
    }
    this.slowed.clear();
  }

  /** Removes every namespace, veth and the bridge this run made, and the host routes. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    // Routes live in the namespaces, which go with them.
    this.blackholes = [];
    await removeOwnedBy((pid) => pid === this.pid);
    this.pods.clear();
  }

  private netnsOf(podIp: string): string {
    const index = this.pods.get(podIp);
    if (index === undefined) {
      throw new BeamscopeError('sandbox', 'pod_not_found', `no pod namespace holds ${podIp}`);
    }
    return netnsName(this.pid, index);
  }

  private async blackhole(netns: string, prefix: string): Promise<void> {
    if (this.blackholes.some(([at, to]) => at === netns && to === prefix)) return;
    await ip('-n', netns, 'route', 'add', 'blackhole', prefix);
    this.blackholes.push([netns, prefix]);
  }
}

/** Removes the namespaces and links of runs whose process is gone. */
export function removeLeftovers(): Promise<void> {
  return removeOwnedBy((pid) => !isAlive(pid));
}

async function removeOwnedBy(owned: (pid: number) => boolean): Promise<void> {
  const namespaces = (await ip('netns', 'list'))
    .split('\n')
    .map((line) => line.split(' ')[0]!)
    .filter((name) => name.startsWith(NETNS_PREFIX));
  for (const netns of namespaces) {
    const pid = ownerPid(netns);
    // Deleting a namespace deletes its end of the veth, and so the pair.
    if (pid !== undefined && owned(pid)) await ip('netns', 'delete', netns);
  }
  const links = JSON.parse(await ip('-j', 'link', 'show')) as Array<{ ifname: string }>;
  for (const { ifname } of links) {
    const pid = ownerPid(ifname);
    if (pid !== undefined && owned(pid)) await ip('link', 'delete', ifname).catch(() => undefined);
  }
}

/** The interface holding an address in the pod network, if any (another run, or the machine's). */
async function addressHolder(): Promise<string | undefined> {
  const links = JSON.parse(await ip('-j', 'addr', 'show')) as Array<{
    ifname: string;
    addr_info?: Array<{ family: string; local: string }>;
  }>;
  for (const link of links) {
    for (const address of link.addr_info ?? []) {
      if (address.family === 'inet' && inNetwork(address.local, POD_CIDR)) {
        return `${link.ifname} holds ${address.local}`;
      }
    }
  }
  return undefined;
}
