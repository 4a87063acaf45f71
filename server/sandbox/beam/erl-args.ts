import 'server-only';

// The `erl` command line of a sandbox pod, as a pure function of the runtime's options. The
// cookie is deliberately not on it: a node reads it from `$HOME/.erlang.cookie`, so it shows in
// no `ps` listing, no /proc/<pid>/cmdline and no log.

import type { AddressMapping } from '../../erlang/address-map';
import { BeamscopeError } from '../../errors';
import { isPodIp, POD_CIDR } from '../pod-network';
import type { BeamPodApi, BeamPodRuntimeOptions } from './types';

/**
 * Flags that keep a node small, measured with the demo app on OTP 25 (see the runtime's report):
 * one scheduler of each kind, one async thread, no busy-waiting (20 nodes share 2 cores), and the
 * address-order best-fit allocator strategy that hands memory back sooner.
 */
export const SMALL_FOOTPRINT_FLAGS = [
  '+S',
  '1:1',
  '+SDcpu',
  '1:1',
  '+SDio',
  '1',
  '+A',
  '1',
  '+sbwt',
  'none',
  '+sbwtdcpu',
  'none',
  '+sbwtdio',
  'none',
  '+MBas',
  'aobf',
  '+MHas',
  'aobf',
  // Ignore SIGINT: a Ctrl-C reaches the whole process group, and the break handler would then
  // read its answer from stdin, the control channel. The runtime stops its nodes itself.
  '+Bi',
] as const;

const DEFAULT_DEVICES = 10_000;

/** The runtime options a node's command line depends on (the cookie is not one of them). */
export type ErlArgsOptions = Pick<
  BeamPodRuntimeOptions,
  | 'distribution'
  | 'distPort'
  | 'basename'
  | 'service'
  | 'discovery'
  | 'devices'
  | 'tenants'
  | 'globalEvery'
  | 'pollIntervalMs'
  | 'extraArgs'
>;

/** Everything {@link erlArgs} needs for one pod. */
export interface ErlArgsInput {
  options: ErlArgsOptions;
  /** The pod's IP, as the API publishes it: the host part of the node's name. */
  ip: string;
  /** Where the node's distribution listens: the pod IP itself, or its loopback address. */
  listenIp: string;
  /** How the node reaches peers named with a pod IP (none: at that IP); see myapp_epmd.erl. */
  addressMap: readonly AddressMapping[];
  /** The compiled demo app. */
  ebin: string;
  /** A release's own modules and .app, ahead of `ebin` on the code path (see demo-versions). */
  overlayEbin?: string | null;
  /** Where the node reads the pods' bearer token. */
  tokenFile: string;
  api: BeamPodApi;
}

/** The node name a pod runs under. */
export function nodeName(
  options: Pick<ErlArgsOptions, 'basename' | 'distribution'>,
  ip: string,
): string {
  const basename = options.basename ?? 'myapp';
  // One EPMD holds every node of the machine, and it knows nodes by the part before the @.
  return options.distribution === 'epmd'
    ? `${basename}-${ip.replaceAll('.', '-')}@${ip}`
    : `${basename}@${ip}`;
}

/** Throws unless `ip` is in the sandbox's pod network: the only addresses its nodes are given. */
export function assertPodIp(ip: string): void {
  if (!isPodIp(ip)) {
    throw new BeamscopeError(
      'sandbox',
      'pod_ip_outside_pod_network',
      `pod IP "${ip}" is not in the sandbox's pod network ${POD_CIDR}: a sandbox BEAM node is never given it`,
    );
  }
}

/** An IPv4 address as an Erlang tuple: `{10,244,0,2}`. */
const ipTuple = (ip: string) => `{${ip.split('.').join(',')}}`;

/** The `erl` arguments that start a pod's node (its HOME, holding the cookie, is the caller's). */
export function erlArgs(input: ErlArgsInput): string[] {
  const { options, ip, listenIp, ebin } = input;
  assertPodIp(ip);
  const devices = options.devices ?? DEFAULT_DEVICES;
  // `-pa A B` puts B first on the code path: the overlay's modules win over the base's.
  const paths = input.overlayEbin ? [ebin, input.overlayEbin] : [ebin];
  const args = ['-noinput', '-name', nodeName(options, ip), '-pa', ...paths];
  args.push(...SMALL_FOOTPRINT_FLAGS);
  // A process table sized for the devices (the default 262,144 slots cost ~2 MB per node).
  args.push('+P', String(Math.max(32_768, devices * 2 + 4_096)));
  args.push('-kernel', 'inet_dist_use_interface', ipTuple(listenIp));
  // Peers are named with pod IPs; the demo app's epmd module dials them where they listen.
  args.push('-epmd_module', 'myapp_epmd');
  if ((options.distribution ?? 'epmdless') === 'epmdless') {
    // Every node on the same port, each on its own address: peers need no EPMD to find it.
    const port = String(options.distPort ?? 9100);
    args.push('-start_epmd', 'false', '-erl_epmd_port', port);
    args.push('-kernel', 'inet_dist_listen_min', port, 'inet_dist_listen_max', port);
  }
  for (const [key, value] of appEnv(input)) args.push('-myapp', key, value);
  args.push(...(options.extraArgs ?? []), '-eval', 'myapp_control:boot()');
  return args;
}

/** The demo app's environment (`-myapp key value`): strings as Erlang literals, the rest bare. */
function appEnv({ options, api, tokenFile, addressMap }: ErlArgsInput): [string, string][] {
  return [
    ['api_url', erlangString(api.url)],
    ['token_file', erlangString(tokenFile)],
    ['ca_file', erlangString(api.caFile ?? '')],
    ['namespace', erlangString(api.namespace ?? 'default')],
    ['service', erlangString(options.service ?? 'myapp')],
    ['discovery', options.discovery === 'endpoints' ? 'endpoints' : 'endpointslices'],
    ['basename', erlangString(options.basename ?? 'myapp')],
    ['node_naming', options.distribution === 'epmd' ? 'ip_suffixed' : 'ip'],
    ['poll_interval_ms', String(options.pollIntervalMs ?? 1000)],
    ['devices', String(options.devices ?? DEFAULT_DEVICES)],
    ['tenants', String(options.tenants ?? 10)],
    ['global_every', String(options.globalEvery ?? 100)],
    ['address_map', `[${addressMap.map(mappingTerm).join(',')}]`],
  ];
}

/** A mapping as myapp_epmd reads it: `{{FromNetwork, Prefix}, ToNetwork}`. */
function mappingTerm({ from, to }: AddressMapping): string {
  const [fromBase, prefix] = from.split('/');
  const [toBase] = to.split('/');
  return `{{${ipTuple(fromBase!)},${prefix}},${ipTuple(toBase!)}}`;
}

/** An Erlang string literal: `-myapp key value` arguments are parsed as Erlang terms. */
function erlangString(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}
