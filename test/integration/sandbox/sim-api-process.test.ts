/**
 * The emulated API in a process of its own (`apiOnly`), as bench/browser-scale.ts runs it beside
 * the simulated nodes' process: a pod per address, Ready, listed over real HTTPS; a readiness
 * change answered with when the emulator wrote it and sent its watches the EndpointSlice's; the
 * process's event-loop delay in its stats.
 */
import { randomBytes } from 'node:crypto';
import { Agent, get } from 'node:https';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { freePort } from '../../support/ports';
import {
  simulatedAddresses,
  simulatedAddressMap,
  startSimulatedClusterProcess,
  type SimulatedClusterProcess,
} from '../../support/sim-node';

let api: SimulatedClusterProcess;

beforeAll(async () => {
  api = await startSimulatedClusterProcess({
    addresses: simulatedAddresses(5, 13),
    addressMap: simulatedAddressMap(13),
    port: await freePort(),
    cookie: randomBytes(12).toString('hex'),
    basename: 'myapp',
    kubeApi: { tls: true },
    apiOnly: true,
  });
}, 120_000);

afterAll(async () => {
  await api?.stop();
});

/** The Service's EndpointSlices' endpoints, as a client of the API reads them. */
async function endpoints(): Promise<
  Array<{ addresses: string[]; conditions: { ready: boolean } }>
> {
  const { url, token, namespace, caPem } = api.api!;
  const agent = new Agent({ ca: caPem });
  const request = new URL(`${url}/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`);
  const body = await new Promise<string>((resolve, reject) => {
    get(request, { agent, headers: { authorization: `Bearer ${token}` } }, (response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString()));
      response.on('end', () => resolve(text));
    }).on('error', reject);
  });
  const list = JSON.parse(body) as {
    items: Array<{ endpoints: Array<{ addresses: string[]; conditions: { ready: boolean } }> }>;
  };
  return list.items.flatMap((slice) => slice.endpoints);
}

describe('the emulated API in its own process', () => {
  it('runs no simulated node, and lists a Ready pod per address', async () => {
    expect(api.nodes).toEqual([]);
    const listed = await endpoints();
    expect(listed.map((endpoint) => endpoint.addresses[0]).sort()).toEqual([
      '10.244.0.1',
      '10.244.0.2',
      '10.244.0.3',
      '10.244.0.4',
      '10.244.0.5',
    ]);
    expect(listed.every((endpoint) => endpoint.conditions.ready)).toBe(true);
  });

  it("answers a readiness change with the emulator's write and its watch event, in that order", async () => {
    const asked = Date.now();
    const timing = await api.setPodReady('10.244.0.2', false);
    expect(timing).not.toBeNull();
    expect(timing!.writtenAt).toBeGreaterThanOrEqual(asked);
    expect(timing!.watchSentAt).toBeGreaterThanOrEqual(timing!.writtenAt);
    const listed = await endpoints();
    expect(
      listed.find((endpoint) => endpoint.addresses[0] === '10.244.0.2')?.conditions.ready,
    ).toBe(false);
    const stats = await api.stats();
    expect(stats.loopDelayP99Ms).toBeGreaterThanOrEqual(0);
    expect(stats.loopDelayMaxMs).toBeGreaterThanOrEqual(stats.loopDelayP99Ms);
  });
});
