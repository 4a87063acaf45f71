import type { V1Endpoints, V1EndpointSlice, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';

import type { KubernetesMember } from '@/lib/members';
import {
  beamNodeName,
  deriveMembers,
  latestTermination,
  membersFromEndpoints,
  membersFromEndpointSlices,
  membersFromPods,
  sameMembers,
  type NamingContext,
} from '@/server/kubernetes/members';

const ipNaming: NamingContext = { mode: 'ip', basename: 'myapp', namespace: 'shop' };
const dnsNaming: NamingContext = { mode: 'dns', basename: 'myapp', namespace: 'shop' };
const hostnameNaming: NamingContext = {
  mode: 'hostname',
  basename: 'myapp',
  namespace: 'shop',
  service: 'myapp-headless',
};

function pod(
  name: string,
  ip: string | undefined,
  options: {
    ready?: boolean;
    deleting?: boolean;
    phase?: string;
    restarts?: number[];
    startTime?: Date | string;
    nodeName?: string;
    hostname?: string;
  } = {},
): V1Pod {
  return {
    metadata: {
      name,
      namespace: 'shop',
      uid: `uid-${name}`,
      ...(options.deleting ? { deletionTimestamp: new Date('2026-01-01T00:00:10Z') } : {}),
    },
    spec: {
      containers: [],
      nodeName: options.nodeName ?? 'node-a',
      ...(options.hostname ? { hostname: options.hostname } : {}),
    },
    status: {
      phase: options.phase ?? 'Running',
      ...(ip ? { podIP: ip, podIPs: [{ ip }] } : {}),
      ...(options.startTime ? { startTime: options.startTime as Date } : {}),
      conditions: [
        {
          type: 'Ready',
          status: options.ready === false ? 'False' : 'True',
        },
      ],
      containerStatuses: (options.restarts ?? [0]).map((restartCount, index) => ({
        name: `c${index}`,
        image: 'img',
        imageID: '',
        ready: true,
        restartCount,
      })),
    },
  };
}

type SliceEndpoint = NonNullable<V1EndpointSlice['endpoints']>[number];

function slice(
  name: string,
  endpoints: SliceEndpoint[] | undefined,
  addressType = 'IPv4',
): V1EndpointSlice {
  return {
    addressType,
    metadata: { name, namespace: 'shop', labels: { 'kubernetes.io/service-name': 'myapp' } },
    ...(endpoints ? { endpoints } : {}),
  };
}

function endpoint(
  ip: string,
  podName: string | null,
  extra: Partial<SliceEndpoint> = {},
): SliceEndpoint {
  return {
    addresses: [ip],
    ...(podName
      ? { targetRef: { kind: 'Pod', name: podName, namespace: 'shop', uid: `uid-${podName}` } }
      : {}),
    ...extra,
  };
}

describe('beamNodeName', () => {
  const member = { ip: '10.0.0.5', hostname: 'myapp-0' };
  it('ip mode: basename@IP', () => {
    expect(beamNodeName(ipNaming, member)).toBe('myapp@10.0.0.5');
  });
  it('dns mode: the pod A record', () => {
    expect(beamNodeName(dnsNaming, member)).toBe('myapp@10-0-0-5.shop.pod.cluster.local');
  });
  it('dns mode: IPv6 separators become dashes too', () => {
    expect(beamNodeName(dnsNaming, { ip: 'fd00::5', hostname: null })).toBe(
      'myapp@fd00--5.shop.pod.cluster.local',
    );
  });
  it('hostname mode: HOST.SVC.NS.svc.cluster.local', () => {
    expect(beamNodeName(hostnameNaming, member)).toBe(
      'myapp@myapp-0.myapp-headless.shop.svc.cluster.local',
    );
  });
  it('hostname mode honours a cluster domain', () => {
    expect(beamNodeName({ ...hostnameNaming, clusterDomain: 'corp.internal' }, member)).toBe(
      'myapp@myapp-0.myapp-headless.shop.svc.corp.internal',
    );
  });
  it('hostname mode without a hostname or a service gives no name', () => {
    expect(beamNodeName(hostnameNaming, { ip: '10.0.0.5', hostname: null })).toBeNull();
    expect(beamNodeName({ ...hostnameNaming, service: undefined }, member)).toBeNull();
  });
});

describe('membersFromEndpointSlices', () => {
  it('merges every slice of the service, sorted by address', () => {
    const members = membersFromEndpointSlices(
      [
        slice('myapp-b', [endpoint('10.0.0.10', 'p10'), endpoint('10.0.0.2', 'p2')]),
        slice('myapp-a', [endpoint('10.0.0.9', 'p9')]),
      ],
      undefined,
      ipNaming,
    );
    expect(members.map((member) => [member.ip, member.source.name])).toEqual([
      ['10.0.0.2', 'myapp-b'],
      ['10.0.0.9', 'myapp-a'],
      ['10.0.0.10', 'myapp-b'],
    ]);
  });

  it('reads missing ready/serving as true and missing terminating as false', () => {
    const [member] = membersFromEndpointSlices(
      [slice('s', [endpoint('10.0.0.5', 'p')])],
      [],
      ipNaming,
    );
    expect(member).toMatchObject({ ready: true, serving: true, terminating: false });
  });

  it('keeps explicit conditions', () => {
    const [member] = membersFromEndpointSlices(
      [
        slice('s', [
          endpoint('10.0.0.5', 'p', {
            conditions: { ready: false, serving: true, terminating: true },
          }),
        ]),
      ],
      [],
      ipNaming,
    );
    expect(member).toMatchObject({ ready: false, serving: true, terminating: true });
  });

  it('accepts slices with no endpoints and endpoints with no address', () => {
    const members = membersFromEndpointSlices(
      [slice('empty', undefined), slice('s', [{ addresses: [] }, endpoint('10.0.0.5', 'p')])],
      [],
      ipNaming,
    );
    expect(members.map((member) => member.ip)).toEqual(['10.0.0.5']);
  });

  it('lists an address once across slices, preferring a ready entry', () => {
    const members = membersFromEndpointSlices(
      [
        slice('a', [endpoint('10.0.0.5', 'p', { conditions: { ready: false } })]),
        slice('b', [endpoint('10.0.0.5', 'p', { conditions: { ready: true } })]),
      ],
      [],
      ipNaming,
    );
    expect(members).toHaveLength(1);
    expect(members[0]).toMatchObject({ ready: true, source: { kind: 'EndpointSlice', name: 'b' } });
  });

  it('takes pod, node, zone and hostname from the endpoint', () => {
    const [member] = membersFromEndpointSlices(
      [
        slice('s', [
          endpoint('10.0.0.5', 'myapp-0', {
            nodeName: 'node-x',
            zone: 'eu-1a',
            hostname: 'host-0',
          }),
        ]),
      ],
      undefined,
      ipNaming,
    );
    expect(member).toEqual<KubernetesMember>({
      ip: '10.0.0.5',
      podName: 'myapp-0',
      podUid: 'uid-myapp-0',
      k8sNode: 'node-x',
      zone: 'eu-1a',
      hostname: 'host-0',
      ready: true,
      serving: true,
      terminating: false,
      phase: null,
      restarts: null,
      startTime: null,
      beamNode: 'myapp@10.0.0.5',
      source: { kind: 'EndpointSlice', name: 's' },
    });
  });

  it('enriches members from their pod, matched by targetRef name', () => {
    const [member] = membersFromEndpointSlices(
      [slice('s', [endpoint('10.0.0.5', 'myapp-0')])],
      [
        pod('other', '10.0.0.5', { phase: 'Failed' }),
        pod('myapp-0', '10.0.0.5', {
          restarts: [2, 3],
          startTime: new Date('2026-01-01T00:00:00Z'),
          nodeName: 'node-b',
        }),
      ],
      ipNaming,
    );
    expect(member).toMatchObject({
      phase: 'Running',
      restarts: 5,
      startTime: '2026-01-01T00:00:00.000Z',
      k8sNode: 'node-b',
    });
  });

  it('reads start times from a watch (strings) and a list (dates) alike', () => {
    const fromList = membersFromEndpointSlices(
      [slice('s', [endpoint('10.0.0.5', 'p')])],
      [pod('p', '10.0.0.5', { startTime: new Date('2026-01-01T00:00:00Z') })],
      ipNaming,
    );
    const fromWatch = membersFromEndpointSlices(
      [slice('s', [endpoint('10.0.0.5', 'p')])],
      [pod('p', '10.0.0.5', { startTime: '2026-01-01T00:00:00Z' })],
      ipNaming,
    );
    expect(sameMembers(fromList, fromWatch)).toBe(true);
  });

  it('matches a pod by IP when the endpoint names none', () => {
    const [member] = membersFromEndpointSlices(
      [slice('s', [endpoint('10.0.0.5', null)])],
      [pod('myapp-0', '10.0.0.5')],
      ipNaming,
    );
    expect(member).toMatchObject({ podName: 'myapp-0', podUid: 'uid-myapp-0', phase: 'Running' });
  });

  it('skips FQDN slices and prefers IPv4 slices on a dual-stack service', () => {
    const members = membersFromEndpointSlices(
      [
        slice('v6', [endpoint('fd00::5', 'p')], 'IPv6'),
        slice('v4', [endpoint('10.0.0.5', 'p')], 'IPv4'),
        slice('fqdn', [endpoint('db.example.com', null)], 'FQDN'),
      ],
      [],
      ipNaming,
    );
    expect(members.map((member) => member.ip)).toEqual(['10.0.0.5']);
  });

  it('keeps IPv6-only services', () => {
    const members = membersFromEndpointSlices(
      [slice('v6', [endpoint('fd00::5', 'p')], 'IPv6')],
      [],
      dnsNaming,
    );
    expect(members[0]!.beamNode).toBe('myapp@fd00--5.shop.pod.cluster.local');
  });

  it.each([
    ['ip', ipNaming, 'myapp@10.0.0.5'],
    ['dns', dnsNaming, 'myapp@10-0-0-5.shop.pod.cluster.local'],
    ['hostname', hostnameNaming, 'myapp@myapp-0.myapp-headless.shop.svc.cluster.local'],
  ] as const)('names nodes in %s mode', (_mode, naming, expected) => {
    const [member] = membersFromEndpointSlices(
      [slice('s', [endpoint('10.0.0.5', 'myapp-0', { hostname: 'myapp-0' })])],
      [],
      naming,
    );
    expect(member!.beamNode).toBe(expected);
  });

  it('hostname naming falls back to the pod spec hostname, then the pod name', () => {
    const members = membersFromEndpointSlices(
      [slice('s', [endpoint('10.0.0.5', 'web-abc'), endpoint('10.0.0.6', 'web-def')])],
      [pod('web-abc', '10.0.0.5', { hostname: 'web-0' })],
      hostnameNaming,
    );
    expect(members.map((member) => member.beamNode)).toEqual([
      'myapp@web-0.myapp-headless.shop.svc.cluster.local',
      'myapp@web-def.myapp-headless.shop.svc.cluster.local',
    ]);
  });

  it('hostname naming gives no name to an endpoint with no hostname and no pod', () => {
    const [member] = membersFromEndpointSlices(
      [slice('s', [endpoint('10.0.0.5', null)])],
      [],
      hostnameNaming,
    );
    expect(member!.beamNode).toBeNull();
  });
});

describe('membersFromEndpoints', () => {
  const endpoints = (subsets: V1Endpoints['subsets']): V1Endpoints => ({
    metadata: { name: 'myapp', namespace: 'shop' },
    subsets,
  });
  const address = (ip: string, podName: string, extra: object = {}) => ({
    ip,
    targetRef: { kind: 'Pod', name: podName, uid: `uid-${podName}` },
    ...extra,
  });

  it('lists ready addresses as ready and notReadyAddresses as not ready', () => {
    const members = membersFromEndpoints(
      [
        endpoints([
          {
            addresses: [address('10.0.0.5', 'a', { nodeName: 'node-a' })],
            notReadyAddresses: [address('10.0.0.6', 'b')],
          },
        ]),
      ],
      undefined,
      ipNaming,
    );
    expect(
      members.map((member) => [
        member.ip,
        member.ready,
        member.serving,
        member.terminating,
        member.k8sNode,
      ]),
    ).toEqual([
      ['10.0.0.5', true, true, false, 'node-a'],
      ['10.0.0.6', false, false, false, null],
    ]);
    expect(members[0]!.source).toEqual({ kind: 'Endpoints', name: 'myapp' });
  });

  it('lists an address once across subsets (one per port set)', () => {
    const members = membersFromEndpoints(
      [
        endpoints([
          { addresses: [address('10.0.0.5', 'a')] },
          { notReadyAddresses: [address('10.0.0.5', 'a')] },
        ]),
      ],
      [],
      ipNaming,
    );
    expect(members).toHaveLength(1);
    expect(members[0]!.ready).toBe(true);
  });

  it('accepts Endpoints with no subsets', () => {
    expect(membersFromEndpoints([endpoints(undefined)], [], ipNaming)).toEqual([]);
  });

  it('takes terminating and the pod facts from the pod', () => {
    const [member] = membersFromEndpoints(
      [endpoints([{ addresses: [address('10.0.0.5', 'a')] }])],
      [pod('a', '10.0.0.5', { deleting: true, restarts: [4] })],
      ipNaming,
    );
    expect(member).toMatchObject({
      ready: false,
      serving: true,
      terminating: true,
      restarts: 4,
      phase: 'Running',
    });
  });

  it.each([
    ['ip', ipNaming, 'myapp@10.0.0.5'],
    ['dns', dnsNaming, 'myapp@10-0-0-5.shop.pod.cluster.local'],
    ['hostname', hostnameNaming, 'myapp@myapp-0.myapp-headless.shop.svc.cluster.local'],
  ] as const)('names nodes in %s mode', (_mode, naming, expected) => {
    const [member] = membersFromEndpoints(
      [endpoints([{ addresses: [address('10.0.0.5', 'myapp-abc', { hostname: 'myapp-0' })] }])],
      [],
      naming,
    );
    expect(member!.beamNode).toBe(expected);
  });
});

describe('membersFromPods', () => {
  it('lists every pod with an IP, readiness from the Ready condition', () => {
    const members = membersFromPods(
      [
        pod('c', '10.0.0.7', { ready: false }),
        pod('pending', undefined, { phase: 'Pending' }),
        pod('a', '10.0.0.5', { restarts: [1], startTime: '2026-01-01T00:00:00Z' }),
        pod('b', '10.0.0.6', { deleting: true }),
      ],
      ipNaming,
    );
    expect(
      members.map((member) => [member.podName, member.ready, member.serving, member.terminating]),
    ).toEqual([
      ['a', true, true, false],
      ['b', false, true, true],
      ['c', false, false, false],
    ]);
    expect(members[0]).toEqual<KubernetesMember>({
      ip: '10.0.0.5',
      podName: 'a',
      podUid: 'uid-a',
      k8sNode: 'node-a',
      zone: null,
      hostname: 'a',
      ready: true,
      serving: true,
      terminating: false,
      phase: 'Running',
      restarts: 1,
      startTime: '2026-01-01T00:00:00.000Z',
      beamNode: 'myapp@10.0.0.5',
      source: { kind: 'Pod', name: 'a' },
    });
  });

  it('treats a pod without conditions as not ready', () => {
    const bare: V1Pod = { metadata: { name: 'x', uid: 'u' }, status: { podIP: '10.0.0.9' } };
    const [member] = membersFromPods([bare], ipNaming);
    expect(member).toMatchObject({ ready: false, serving: false, restarts: 0, phase: null });
  });

  it.each([
    ['ip', ipNaming, 'myapp@10.0.0.5'],
    ['dns', dnsNaming, 'myapp@10-0-0-5.shop.pod.cluster.local'],
    ['hostname', hostnameNaming, 'myapp@myapp-0.myapp-headless.shop.svc.cluster.local'],
  ] as const)('names nodes in %s mode', (_mode, naming, expected) => {
    const [member] = membersFromPods([pod('myapp-0', '10.0.0.5')], naming);
    expect(member!.beamNode).toBe(expected);
  });
});

describe('deriveMembers', () => {
  const pods = [pod('p', '10.0.0.5')];
  it('picks the input of its mode', () => {
    expect(deriveMembers('pods', { pods }, ipNaming)).toHaveLength(1);
    expect(deriveMembers('endpointSlices', { pods }, ipNaming)).toEqual([]);
    expect(deriveMembers('endpoints', { pods }, ipNaming)).toEqual([]);
    expect(
      deriveMembers(
        'endpointSlices',
        { endpointSlices: [slice('s', [endpoint('10.0.0.5', 'p')])], pods },
        ipNaming,
      )[0],
    ).toMatchObject({ phase: 'Running', podName: 'p' });
  });

  it('sameMembers compares content', () => {
    const a = deriveMembers('pods', { pods }, ipNaming);
    const b = deriveMembers('pods', { pods: [pod('p', '10.0.0.5')] }, ipNaming);
    const c = deriveMembers('pods', { pods: [pod('p', '10.0.0.5', { ready: false })] }, ipNaming);
    expect(sameMembers(a, b)).toBe(true);
    expect(sameMembers(a, c)).toBe(false);
  });
});

describe('latestTermination', () => {
  const withStatuses = (containerStatuses: NonNullable<V1Pod['status']>['containerStatuses']) =>
    ({
      metadata: { name: 'p' },
      status: { podIP: '10.0.0.5', containerStatuses },
    }) as V1Pod;

  it('takes the latest of the containers’ current and last terminations, with reason and exit code', () => {
    const pod = withStatuses([
      {
        name: 'app',
        image: 'i',
        imageID: '',
        ready: false,
        restartCount: 2,
        state: { waiting: { reason: 'CrashLoopBackOff' } },
        lastState: {
          terminated: {
            reason: 'OOMKilled',
            exitCode: 137,
            finishedAt: new Date('2026-06-01T12:00:09Z'),
          },
        },
      },
      {
        name: 'sidecar',
        image: 'i',
        imageID: '',
        ready: true,
        restartCount: 1,
        state: {},
        lastState: {
          terminated: {
            reason: 'Error',
            exitCode: 1,
            finishedAt: new Date('2026-06-01T11:00:00Z'),
          },
        },
      },
    ]);
    expect(latestTermination(pod)).toEqual({
      container: 'app',
      reason: 'OOMKilled',
      exitCode: 137,
      signal: null,
      finishedAt: '2026-06-01T12:00:09.000Z',
    });
    const [member] = membersFromPods([pod], ipNaming);
    expect(member!.lastTermination?.reason).toBe('OOMKilled');
  });

  it('is absent when no container ended', () => {
    const pod = withStatuses([
      { name: 'app', image: 'i', imageID: '', ready: true, restartCount: 0, state: {} },
    ]);
    expect(latestTermination(pod)).toBeUndefined();
    expect(membersFromPods([pod], ipNaming)[0]).not.toHaveProperty('lastTermination');
  });
});

describe('a pod’s DisruptionTarget condition', () => {
  it('is carried as the member’s disruption while set, absent otherwise', () => {
    const evicted = pod('p', '10.0.0.5', { deleting: true });
    evicted.status!.conditions!.push({
      type: 'DisruptionTarget',
      status: 'True',
      reason: 'EvictionByEvictionAPI',
      message: 'Eviction API: evicting',
    });
    expect(membersFromPods([evicted], ipNaming)[0]!.disruption).toEqual({
      reason: 'EvictionByEvictionAPI',
      message: 'Eviction API: evicting',
    });
    const cleared = pod('q', '10.0.0.6');
    cleared.status!.conditions!.push({ type: 'DisruptionTarget', status: 'False' });
    expect(membersFromPods([cleared], ipNaming)[0]).not.toHaveProperty('disruption');
  });
});
