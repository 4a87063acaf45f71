/**
 * The files a collector needs to watch a simulated cluster (test/support/sim-node in a child
 * process with the emulated Kubernetes API): a kubeconfig trusting the emulated API's CA, the
 * cookie file, and a beamscope configuration with one cluster `sim` discovering the `myapp`
 * service's nodes by IP. Shared by the benches that run the real collector against simulated
 * nodes (probe-scale, collector-memory).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { stringify } from 'yaml';

import type { SimulatedClusterProcess } from '../../test/support/sim-node';

export interface SimulatedClusterConfig {
  /** The emulated API of the simulated cluster (`kubeApi` must have been asked for). */
  api: NonNullable<SimulatedClusterProcess['api']>;
  cookie: string;
  /** The simulated nodes' distribution port. */
  port: number;
  /** The same mapping the simulated cluster was started with (`simulatedAddressMap`). */
  addressMap: Array<{ from: string; to: string }>;
  /** The directory the files go in (a mkdtemp directory the caller removes). */
  dir: string;
  /** Told apart when several configurations share `dir` (probe-scale writes one per size). */
  suffix?: string;
  /** The service whose nodes are discovered; `myapp` (the simulated nodes') by default. */
  service?: string;
}

/** Writes the kubeconfig, cookie and configuration files; resolves to the configuration's path. */
export async function writeSimulatedClusterConfig(
  options: SimulatedClusterConfig,
): Promise<string> {
  const { api, cookie, port, addressMap, dir } = options;
  const suffix = options.suffix ? `-${options.suffix}` : '';
  const kubeconfig = join(dir, `kubeconfig${suffix}`);
  const cookieFile = join(dir, `cookie${suffix}`);
  const configFile = join(dir, `beamscope${suffix}.yaml`);
  await writeFile(cookieFile, cookie, { mode: 0o600 });
  await writeFile(
    kubeconfig,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'sim',
          cluster: {
            server: api.url,
            'certificate-authority-data': Buffer.from(api.caPem ?? '').toString('base64'),
          },
        },
      ],
      users: [{ name: 'beamscope', user: { token: api.token } }],
      contexts: [
        { name: 'sim', context: { cluster: 'sim', user: 'beamscope', namespace: api.namespace } },
      ],
      'current-context': 'sim',
    }),
    { mode: 0o600 },
  );
  await writeFile(
    configFile,
    stringify({
      clusters: [
        {
          id: 'sim',
          displayName: 'Simulated',
          namespace: api.namespace,
          kubernetes: { kubeconfig },
          discovery: { mode: 'endpointSlices', service: options.service ?? 'myapp' },
          nodeNaming: { mode: 'ip', basename: 'myapp' },
          distribution: { cookieFile, port, addressMap },
        },
      ],
    }),
  );
  return configFile;
}
