import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadConfig, readCookie, type ClusterConfig } from '@/server/config';
import { BeamscopeError } from '@/server/errors';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'beamscope-config-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let counter = 0;
async function writeConfig(text: string): Promise<string> {
  counter += 1;
  const file = join(dir, `config-${counter}.yaml`);
  await writeFile(file, text);
  return file;
}

const MINIMAL = `
clusters:
  - id: sandbox
    discovery:
      service: myapp
    nodeNaming:
      basename: myapp
    distribution:
      cookieFile: ./cookie
`;

/** The one-line message of the config error `promise` rejects with. */
async function errorOf(promise: Promise<unknown>): Promise<BeamscopeError> {
  const error = await promise.then(
    () => {
      throw new Error('expected the configuration to be rejected');
    },
    (rejection: unknown) => rejection,
  );
  expect(error).toBeInstanceOf(BeamscopeError);
  const beamscopeError = error as BeamscopeError;
  expect(beamscopeError.surface).toBe('config');
  expect(beamscopeError.message).not.toContain('\n');
  expect(beamscopeError.message).not.toMatch(/\bat .*\.ts:\d+/);
  return beamscopeError;
}

/** Replaces the `distribution` block of MINIMAL, or another line, for one-off variants. */
function variant(replacements: Record<string, string>): string {
  let text = MINIMAL;
  for (const [from, to] of Object.entries(replacements)) {
    expect(text).toContain(from);
    text = text.replace(from, to);
  }
  return text;
}

describe('loadConfig', () => {
  it('applies defaults and resolves relative paths against the file folder', async () => {
    const file = await writeConfig(MINIMAL);
    const config = await loadConfig(file, {});
    expect(config.sourcePath).toBe(file);
    expect(config.node).toBeUndefined();
    expect(config.clusters).toEqual<ClusterConfig[]>([
      {
        id: 'sandbox',
        displayName: 'sandbox',
        discovery: { mode: 'endpointSlices', service: 'myapp' },
        nodeNaming: { mode: 'ip', basename: 'myapp', service: 'myapp' },
        distribution: { cookieFile: join(dir, 'cookie') },
      },
    ]);
  });

  it('reads every field of the full format', async () => {
    const file = await writeConfig(`
node:
  name: beamscope_maint_ops@127.0.0.1
clusters:
  - id: prod-eu
    displayName: Production EU
    namespace: shop
    kubernetes:
      kubeconfig: kube/config
      context: prod
    discovery:
      mode: pods
      selector: app=shop,tier=web
    nodeNaming:
      mode: hostname
      basename: shop
      service: shop-headless
    distribution:
      cookieEnv: RELEASE_COOKIE
      port: 9100
      tls:
        caFile: /etc/tls/ca.pem
        certFile: tls/cert.pem
        keyFile: tls/key.pem
  - id: staging
    kubernetes:
      inCluster: true
    discovery:
      mode: endpoints
      selector: app=shop
    nodeNaming:
      mode: dns
      basename: shop
    distribution:
      cookieFile: /run/secrets/cookie
`);
    const config = await loadConfig(file, {});
    expect(config.node).toEqual({ name: 'beamscope_maint_ops@127.0.0.1' });
    expect(config.clusters[0]).toEqual<ClusterConfig>({
      id: 'prod-eu',
      displayName: 'Production EU',
      namespace: 'shop',
      kubernetes: { kubeconfig: join(dir, 'kube/config'), context: 'prod' },
      discovery: { mode: 'pods', selector: 'app=shop,tier=web' },
      nodeNaming: { mode: 'hostname', basename: 'shop', service: 'shop-headless' },
      distribution: {
        cookieEnv: 'RELEASE_COOKIE',
        port: 9100,
        tls: {
          caFile: '/etc/tls/ca.pem',
          certFile: join(dir, 'tls/cert.pem'),
          keyFile: join(dir, 'tls/key.pem'),
        },
      },
    });
    expect(config.clusters[1]).toMatchObject({
      id: 'staging',
      kubernetes: { inCluster: true },
      discovery: { mode: 'endpoints', selector: 'app=shop' },
      nodeNaming: { mode: 'dns', basename: 'shop' },
    });
    expect(config.clusters[1]!.nodeNaming.service).toBeUndefined();
  });

  it('takes the file from BEAMSCOPE_CONFIG when no path is given', async () => {
    const file = await writeConfig(MINIMAL);
    const config = await loadConfig(undefined, { BEAMSCOPE_CONFIG: file });
    expect(config.clusters[0]!.id).toBe('sandbox');
  });

  it('prefers the explicit path over BEAMSCOPE_CONFIG', async () => {
    const file = await writeConfig(MINIMAL);
    const config = await loadConfig(file, { BEAMSCOPE_CONFIG: join(dir, 'nowhere.yaml') });
    expect(config.sourcePath).toBe(file);
  });

  it('says how to name a file when there is none', async () => {
    const error = await errorOf(loadConfig(undefined, {}));
    expect(error.code).toBe('config_missing');
    expect(error.message).toBe('no configuration file: pass --config FILE or set BEAMSCOPE_CONFIG');
  });

  it('names a missing file', async () => {
    const file = join(dir, 'missing.yaml');
    const error = await errorOf(loadConfig(file, {}));
    expect(error.message).toBe(`${file}: cannot read the configuration file: no such file`);
    expect(error.exitCode).not.toBe(0);
  });

  it('gives a YAML syntax error its line and column', async () => {
    const file = await writeConfig('clusters:\n  - id: sandbox\n    discovery: [unclosed\n');
    const error = await errorOf(loadConfig(file, {}));
    expect(error.code).toBe('config_invalid');
    expect(error.message).toMatch(new RegExp(`^${file}:\\d+:\\d+: invalid YAML: `));
  });

  it('rejects duplicate YAML keys with their position', async () => {
    const file = await writeConfig('clusters:\n  - id: a\n    id: b\n');
    const error = await errorOf(loadConfig(file, {}));
    expect(error.message).toBe(`${file}:3:5: invalid YAML: Map keys must be unique`);
  });

  it('rejects a document whose aliases expand without bound', async () => {
    const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
    for (let level = 1; level < 12; level += 1) {
      const previous = `*a${level - 1}`;
      lines.push(`a${level}: &a${level} [${Array(10).fill(previous).join(', ')}]`);
    }
    const file = await writeConfig(`${lines.join('\n')}\nclusters: []\n`);
    const error = await errorOf(loadConfig(file, {}));
    expect(error.message).toMatch(new RegExp(`^${file}: invalid YAML: `));
  });

  it('names the field, the expected values and the value found for a bad enum', async () => {
    const file = await writeConfig(
      variant({ 'service: myapp': 'mode: foo\n      service: myapp' }),
    );
    const error = await errorOf(loadConfig(file, {}));
    expect(error.message).toBe(
      `${file}: clusters[0].discovery.mode: expected one of endpointSlices, endpoints, pods (got "foo")`,
    );
  });

  it.each([
    ['an empty file', '', ': expected a mapping (got null)'],
    ['no clusters', 'clusters: []\n', ': clusters: expected at least one cluster'],
    ['a scalar clusters', 'clusters: 3\n', ': clusters: expected a list of clusters (got 3)'],
  ])('rejects %s', async (_name, text, expected) => {
    const file = await writeConfig(text);
    const error = await errorOf(loadConfig(file, {}));
    expect(error.message).toBe(`${file}${expected}`);
  });

  it.each([
    [
      'a bad cluster id',
      { 'id: sandbox': 'id: Sand_Box' },
      'clusters[0].id: expected a cluster id of lowercase letters, digits and -, at most 63 characters, not starting with - (got "Sand_Box")',
    ],
    [
      'a missing basename',
      { 'basename: myapp': 'mode: ip' },
      'clusters[0].nodeNaming.basename: expected the part of the node name before the @ (missing)',
    ],
    [
      'an unknown field',
      { 'service: myapp': 'service: myapp\n      mdoe: pods' },
      'clusters[0].discovery.mdoe: unknown field',
    ],
    [
      'an unknown field whose name holds a carriage return (quoted, so the line stays whole)',
      { 'service: myapp': 'service: myapp\n      "md\\roe": pods' },
      'clusters[0].discovery["md\\roe"]: unknown field',
    ],
    [
      'a port out of range',
      { 'cookieFile: ./cookie': 'cookieFile: ./cookie\n      port: 70000' },
      'clusters[0].distribution.port: expected a TCP port number from 1 to 65535 (got 70000)',
    ],
    [
      'a port that is a string',
      { 'cookieFile: ./cookie': 'cookieFile: ./cookie\n      port: "9100"' },
      'clusters[0].distribution.port: expected a TCP port number (got "9100")',
    ],
    [
      'both cookieFile and cookieEnv',
      { 'cookieFile: ./cookie': 'cookieFile: ./cookie\n      cookieEnv: RELEASE_COOKIE' },
      'clusters[0].distribution: expected exactly one of cookieFile or cookieEnv (got both)',
    ],
    [
      'neither cookieFile nor cookieEnv',
      { 'cookieFile: ./cookie': 'port: 9100' },
      'clusters[0].distribution: expected exactly one of cookieFile or cookieEnv (got neither)',
    ],
    [
      'an address map between networks of different sizes',
      {
        'cookieFile: ./cookie':
          'cookieFile: ./cookie\n      addressMap: [{ from: 10.244.0.0/16, to: 127.0.0.0/8 }]',
      },
      'clusters[0].distribution.addressMap[0]: expected networks of the same size, got 10.244.0.0/16 and 127.0.0.0/8 (/16 and /8)',
    ],
    [
      'an address map that is not a network',
      {
        'cookieFile: ./cookie':
          'cookieFile: ./cookie\n      addressMap: [{ from: 10.244.0.0, to: 127.0.0.0/16 }]',
      },
      'clusters[0].distribution.addressMap[0]: expected an IPv4 network such as 10.244.0.0/16, got "10.244.0.0"',
    ],
    [
      'endpointSlices without a service',
      { 'service: myapp': 'mode: endpointSlices' },
      'clusters[0].discovery.service: expected the Service name (discovery mode endpointSlices selects slices by kubernetes.io/service-name)',
    ],
    [
      'pods without a selector',
      { 'service: myapp': 'mode: pods' },
      'clusters[0].discovery.selector: expected a label selector such as app=myapp (required by discovery mode pods)',
    ],
    [
      'hostname naming without a service',
      {
        'service: myapp': 'mode: pods\n      selector: app=myapp',
        'basename: myapp': 'basename: myapp\n      mode: hostname',
      },
      'clusters[0].nodeNaming.service: expected the headless Service name (hostname naming builds HOST.SERVICE.NAMESPACE.svc.cluster.local)',
    ],
    [
      'kubeconfig together with inCluster',
      {
        '    discovery:':
          '    kubernetes:\n      kubeconfig: ./k\n      inCluster: true\n    discovery:',
      },
      'clusters[0].kubernetes.inCluster: expected either kubeconfig or inCluster: true, not both',
    ],
    [
      'an empty namespace',
      { '    discovery:': '    namespace: ""\n    discovery:' },
      'clusters[0].namespace: expected a namespace name, not an empty string (got "")',
    ],
  ])('rejects %s with one line naming the field', async (_name, replacements, expected) => {
    const file = await writeConfig(variant(replacements));
    const error = await errorOf(loadConfig(file, {}));
    expect(error.code).toBe('config_invalid');
    expect(error.message).toBe(`${file}: ${expected}`);
  });

  it('rejects a bad node name', async () => {
    const file = await writeConfig(`node:\n  name: beamscope\n${MINIMAL}`);
    const error = await errorOf(loadConfig(file, {}));
    expect(error.message).toBe(
      `${file}: node.name: expected a node name such as beamscope_maint_ops@10.0.0.9 (got "beamscope")`,
    );
  });

  it("rejects a node name Swarm's tracker would put in its hash ring", async () => {
    const file = await writeConfig(`node:\n  name: beamscope@10.0.0.9\n${MINIMAL}`);
    const error = await errorOf(loadConfig(file, {}));
    expect(error.message).toBe(
      `${file}: node.name: expected a name Swarm's tracker ignores, with _maint_ in it ` +
        "(e.g. beamscope_maint_ops@10.0.0.9): any other name can enter Swarm's hash ring " +
        '(docs/registries.md)',
    );
  });

  it('rejects duplicate cluster ids, naming both entries', async () => {
    const cluster = MINIMAL.replace('clusters:\n', '');
    const file = await writeConfig(`clusters:\n${cluster}${cluster}`);
    const error = await errorOf(loadConfig(file, {}));
    expect(error.message).toBe(
      `${file}: clusters[1].id: expected a unique cluster id ("sandbox" is also clusters[0].id)`,
    );
  });
});

describe('readCookie', () => {
  const base = {
    id: 'sandbox',
    displayName: 'sandbox',
    discovery: { mode: 'endpointSlices', service: 'myapp' },
    nodeNaming: { mode: 'ip', basename: 'myapp' },
  } satisfies Omit<ClusterConfig, 'distribution'>;

  it('reads the cookie file, without its trailing newline', async () => {
    const cookieFile = join(dir, 'cookie-ok');
    await writeFile(cookieFile, 'SECRETCOOKIE\n');
    await expect(readCookie({ ...base, distribution: { cookieFile } })).resolves.toBe(
      'SECRETCOOKIE',
    );
  });

  it('names a missing cookie file', async () => {
    const cookieFile = join(dir, 'cookie-missing');
    const error = await errorOf(readCookie({ ...base, distribution: { cookieFile } }));
    expect(error.message).toBe(
      `cluster sandbox: cannot read the cookie file ${cookieFile}: no such file`,
    );
  });

  it('rejects an empty cookie file', async () => {
    const cookieFile = join(dir, 'cookie-empty');
    await writeFile(cookieFile, '\n');
    const error = await errorOf(readCookie({ ...base, distribution: { cookieFile } }));
    expect(error.code).toBe('cookie_missing');
  });

  it('reads the environment variable lazily, from the env it is given', async () => {
    const cluster = { ...base, distribution: { cookieEnv: 'RELEASE_COOKIE' } };
    await expect(readCookie(cluster, { RELEASE_COOKIE: 'abc' })).resolves.toBe('abc');
    await expect(readCookie(cluster, { RELEASE_COOKIE: 'changed' })).resolves.toBe('changed');
  });

  it('names an unset variable and never prints a value', async () => {
    const cluster = { ...base, distribution: { cookieEnv: 'RELEASE_COOKIE' } };
    const error = await errorOf(readCookie(cluster, { OTHER: 'SECRETCOOKIE' }));
    expect(error.message).toBe(
      'cluster sandbox: the environment variable RELEASE_COOKIE (distribution.cookieEnv) is not set or empty',
    );
    expect(error.message).not.toContain('SECRETCOOKIE');
  });
});
