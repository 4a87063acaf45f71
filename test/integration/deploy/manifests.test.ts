import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, posix } from 'node:path';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

import { loadConfig, type BeamscopeConfig } from '@/server/config';

// `kubectl kustomize deploy/kubernetes` as an operator would render it, checked object by object:
// least-privilege RBAC, a locked-down pod, and a config beamscope itself accepts, whose file paths
// are the Secrets the Deployment mounts and docs/deploy.md tells you to create. (`kubectl apply
// --dry-run=client` needs an API server even to map kinds, so it is not used here.)

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..', '..');
const base = join(root, 'deploy', 'kubernetes');

/* eslint-disable @typescript-eslint/no-explicit-any -- rendered Kubernetes objects, checked field by field */
type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: any;
};

async function kustomize(dir: string): Promise<K8sObject[]> {
  let stdout: string;
  try {
    ({ stdout } = await run('kubectl', ['kustomize', dir], { maxBuffer: 16 * 1024 * 1024 }));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(
      code === 'ENOENT'
        ? 'kubectl is missing: bash scripts/setup.sh installs it'
        : `kubectl kustomize ${dir} failed: ${(error as { stderr?: string }).stderr ?? String(error)}`,
    );
  }
  return parseAllDocuments(stdout)
    .map((document) => document.toJS() as K8sObject | null)
    .filter((object): object is K8sObject => object !== null);
}

let scratch: string;
let objects: K8sObject[];
let config: BeamscopeConfig;
const one = (kind: string) => {
  const found = objects.filter((object) => object.kind === kind);
  expect(found, kind).toHaveLength(1);
  return found[0]!;
};

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'beamscope-manifests-'));
  objects = await kustomize(base);
  const configMap = one('ConfigMap');
  const file = join(scratch, 'beamscope.yaml');
  await writeFile(file, configMap.data['beamscope.yaml']);
  config = await loadConfig(file, {});
});

afterAll(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe('deploy/kubernetes', () => {
  it('renders exactly the namespaced objects of the install, all in one namespace', () => {
    expect(objects.map((object) => object.kind).sort()).toEqual([
      'ConfigMap',
      'Deployment',
      'Role',
      'RoleBinding',
      'Service',
      'ServiceAccount',
    ]);
    const namespaces = new Set(objects.map((object) => object.metadata.namespace));
    expect(namespaces.size).toBe(1);
    expect([...namespaces][0]).toMatch(/^[a-z0-9-]+$/);
    // Nothing cluster-wide, and no Secret: the cookie and the token come from existing ones.
    expect(objects.map((o) => o.kind)).not.toContain('ClusterRole');
    expect(objects.map((o) => o.kind)).not.toContain('ClusterRoleBinding');
    expect(objects.map((o) => o.kind)).not.toContain('Secret');
  });

  it('grants exactly get, list and watch on endpointslices, endpoints, pods and events', () => {
    const role = one('Role');
    const granted = role.rules
      .flatMap((rule: any) =>
        (rule.apiGroups as string[]).flatMap((group) =>
          (rule.resources as string[]).flatMap((resource) =>
            (rule.verbs as string[]).map((verb) => `${group}/${resource}:${verb}`),
          ),
        ),
      )
      .sort();
    const expected = ['discovery.k8s.io/endpointslices', '/endpoints', '/pods', '/events'].flatMap(
      (resource) => ['get', 'list', 'watch'].map((verb) => `${resource}:${verb}`),
    );
    expect(granted).toEqual(expected.sort());
    for (const rule of role.rules) {
      expect(Object.keys(rule).sort()).toEqual(['apiGroups', 'resources', 'verbs']);
    }
  });

  it("binds the Role to the Deployment's service account only", () => {
    const binding = one('RoleBinding');
    const account = one('ServiceAccount');
    expect(binding.roleRef).toEqual({
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'Role',
      name: one('Role').metadata.name,
    });
    expect(binding.subjects).toEqual([
      {
        kind: 'ServiceAccount',
        name: account.metadata.name,
        namespace: account.metadata.namespace,
      },
    ]);
    expect(one('Deployment').spec.template.spec.serviceAccountName).toBe(account.metadata.name);
  });

  it('runs one locked-down replica: non-root, read-only root, no privilege, no capabilities', async () => {
    const deployment = one('Deployment');
    expect(deployment.spec.replicas).toBe(1);
    const pod = deployment.spec.template.spec;
    expect(pod.automountServiceAccountToken).toBe(true);
    expect(pod.hostNetwork ?? false).toBe(false);
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.containers).toHaveLength(1);
    const container = pod.containers[0];
    expect(container.securityContext).toMatchObject({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(container.securityContext.capabilities.add).toBeUndefined();
    expect(container.securityContext.privileged ?? false).toBe(false);
    const uid = container.securityContext.runAsUser ?? pod.securityContext.runAsUser;
    expect(Number.isInteger(uid) && uid > 0).toBe(true);
    // The same numeric user as the image's USER.
    const dockerfile = await readFile(join(root, 'Dockerfile'), 'utf8');
    expect(/^USER (\d+)/m.exec(dockerfile)?.[1]).toBe(String(uid));
  });

  it('probes /api/healthz on the container port and sets requests and limits', () => {
    const container = one('Deployment').spec.template.spec.containers[0];
    const ports = new Map<string, number>(
      container.ports.map((port: any) => [port.name, port.containerPort]),
    );
    for (const probe of [container.readinessProbe, container.livenessProbe]) {
      expect(probe.httpGet.path).toBe('/api/healthz');
      const port =
        typeof probe.httpGet.port === 'string' ? ports.get(probe.httpGet.port) : probe.httpGet.port;
      expect(port).toBe(3000);
    }
    const env = new Map<string, string>(
      container.env.map((entry: any) => [entry.name, entry.value]),
    );
    expect(env.get('PORT')).toBe('3000');
    expect(env.get('HOSTNAME')).toBe('0.0.0.0');
    for (const kind of ['requests', 'limits']) {
      expect(container.resources[kind].cpu, kind).toBeTruthy();
      expect(container.resources[kind].memory, kind).toBeTruthy();
    }
    const service = one('Service');
    expect(service.spec.type ?? 'ClusterIP').toBe('ClusterIP');
    expect(service.spec.ports.map((port: any) => port.targetPort)).toEqual(['http']);
    expect(service.spec.selector).toEqual(one('Deployment').spec.selector.matchLabels);
  });

  it('writes only to emptyDirs: /tmp, the Next cache folders and the history folder; every other mount is read-only', () => {
    const pod = one('Deployment').spec.template.spec;
    const volumes = new Map<string, any>(pod.volumes.map((volume: any) => [volume.name, volume]));
    const writable = pod.containers[0].volumeMounts.filter((mount: any) => !mount.readOnly);
    expect(writable.map((mount: any) => mount.mountPath).sort()).toEqual([
      '/app/.next/cache',
      '/app/.next/server/route-cache',
      '/tmp',
      '/var/lib/beamscope',
    ]);
    for (const mount of writable) expect(volumes.get(mount.name).emptyDir).toBeDefined();
  });

  it('records history in SQLite in the writable folder the pod mounts', () => {
    const mounts = one('Deployment').spec.template.spec.containers[0].volumeMounts;
    expect(config.history).toEqual({
      store: 'sqlite',
      path: '/var/lib/beamscope',
      retentionMs: 7 * 86_400_000,
    });
    const mount = mounts.find((entry: any) => entry.mountPath === '/var/lib/beamscope');
    expect(mount.readOnly ?? false).toBe(false);
  });

  it("carries a config beamscope's own loader accepts: in-cluster, token access, at BEAMSCOPE_CONFIG", () => {
    const pod = one('Deployment').spec.template.spec;
    const container = pod.containers[0];
    const configMap = one('ConfigMap');
    const configVolume = pod.volumes.find(
      (volume: any) => volume.configMap?.name === configMap.metadata.name,
    );
    expect(configVolume).toBeDefined();
    const mount = container.volumeMounts.find((entry: any) => entry.name === configVolume.name);
    const env = new Map<string, string>(
      container.env.map((entry: any) => [entry.name, entry.value]),
    );
    expect(env.get('BEAMSCOPE_CONFIG')).toBe(posix.join(mount.mountPath, 'beamscope.yaml'));
    expect(config.access?.mode).toBe('token');
    expect(config.clusters.length).toBeGreaterThan(0);
    for (const cluster of config.clusters) expect(cluster.kubernetes).toEqual({ inCluster: true });
  });

  it('reads the cookie and the token from the existing Secrets docs/deploy.md has you create', async () => {
    const pod = one('Deployment').spec.template.spec;
    const container = pod.containers[0];
    /** The Secret name and key behind a file path in the container. */
    const secretBehind = (file: string) => {
      const mount = container.volumeMounts.find((entry: any) => entry.mountPath === dirname(file));
      expect(mount, file).toBeDefined();
      const secret = pod.volumes.find((volume: any) => volume.name === mount.name).secret;
      expect(secret, file).toBeDefined();
      const item = secret.items.find((entry: any) => entry.path === basename(file));
      return `${secret.secretName}/${item.key}`;
    };
    const access = config.access as { tokenFile?: string };
    expect(access.tokenFile).toBeDefined();
    const mounted = [
      secretBehind(access.tokenFile!),
      ...config.clusters.map((cluster) => secretBehind(cluster.distribution.cookieFile!)),
    ];
    const docs = await readFile(join(root, 'docs', 'deploy.md'), 'utf8');
    const created = [...docs.matchAll(/create secret generic ([\w.-]+) --from-file=(\w+)=/g)].map(
      (match) => `${match[1]}/${match[2]}`,
    );
    expect(new Set(mounted)).toEqual(new Set(created));
    // The token never goes into the cookie's Secret or the other way round.
    expect(new Set(mounted).size).toBe(mounted.length);
  });
});

describe('deploy/kubernetes/networkpolicy.yaml (the example, once added to the resources)', () => {
  let policy: K8sObject;

  beforeAll(async () => {
    const copy = join(scratch, 'with-policy');
    await cp(base, copy, { recursive: true });
    const kustomization = join(copy, 'kustomization.yaml');
    const text = await readFile(kustomization, 'utf8');
    expect(text).toContain('# - networkpolicy.yaml');
    await writeFile(kustomization, text.replace('# - networkpolicy.yaml', '- networkpolicy.yaml'));
    const rendered = await kustomize(copy);
    policy = rendered.find((object) => object.kind === 'NetworkPolicy')!;
    expect(policy).toBeDefined();
  });

  it("selects beamscope's pods and restricts their egress", () => {
    expect(policy.spec.podSelector.matchLabels).toEqual(
      one('Deployment').spec.template.metadata.labels,
    );
    expect(policy.spec.policyTypes).toContain('Egress');
    // Every egress rule names where it may go and on which ports: none is "anywhere".
    for (const rule of policy.spec.egress) {
      expect(rule.to?.length).toBeGreaterThan(0);
      expect(rule.ports?.length).toBeGreaterThan(0);
    }
  });

  it("allows only the API server, the app's EPMD and distribution ports, and DNS", () => {
    const ports = policy.spec.egress
      .flatMap((rule: any) => rule.ports.map((port: any) => `${port.protocol}/${port.port}`))
      .sort();
    const distributionPorts = config.clusters.map((cluster) => `TCP/${cluster.distribution.port}`);
    expect(ports).toEqual(
      [
        ...new Set(['TCP/443', 'TCP/6443', 'TCP/4369', ...distributionPorts, 'UDP/53', 'TCP/53']),
      ].sort(),
    );
    const epmd = policy.spec.egress.find((rule: any) =>
      rule.ports.some((port: any) => port.port === 4369),
    );
    expect(epmd.to.every((peer: any) => peer.podSelector && !peer.ipBlock)).toBe(true);
  });
});

describe('deploy/kubernetes/components/access-review (mode kubernetes, once added as a component)', () => {
  let rendered: K8sObject[];

  beforeAll(async () => {
    const copy = join(scratch, 'with-access-review');
    await cp(base, copy, { recursive: true });
    const kustomization = join(copy, 'kustomization.yaml');
    await writeFile(
      kustomization,
      `${await readFile(kustomization, 'utf8')}\ncomponents:\n  - components/access-review\n`,
    );
    rendered = await kustomize(copy);
  });

  it('adds exactly a ClusterRole to create TokenReviews and SubjectAccessReviews, nothing more', () => {
    const added = rendered
      .map((object) => object.kind)
      .filter((kind) => !objects.some((object) => object.kind === kind));
    expect(added.sort()).toEqual(['ClusterRole', 'ClusterRoleBinding']);
    const role = rendered.find((object) => object.kind === 'ClusterRole')!;
    const granted = role.rules
      .flatMap((rule: any) =>
        (rule.apiGroups as string[]).flatMap((group) =>
          (rule.resources as string[]).flatMap((resource) =>
            (rule.verbs as string[]).map((verb) => `${group}/${resource}:${verb}`),
          ),
        ),
      )
      .sort();
    expect(granted).toEqual([
      'authentication.k8s.io/tokenreviews:create',
      'authorization.k8s.io/subjectaccessreviews:create',
    ]);
    // The namespaced read Role is unchanged.
    expect(rendered.find((object) => object.kind === 'Role')).toEqual(one('Role'));
  });

  it("binds it to beamscope's service account in the install's namespace", () => {
    const binding = rendered.find((object) => object.kind === 'ClusterRoleBinding')!;
    const account = one('ServiceAccount');
    expect(binding.roleRef).toEqual({
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: rendered.find((object) => object.kind === 'ClusterRole')!.metadata.name,
    });
    expect(binding.subjects).toEqual([
      {
        kind: 'ServiceAccount',
        name: account.metadata.name,
        namespace: account.metadata.namespace,
      },
    ]);
  });

  it('drops the shared access token from the pod, and the config takes mode kubernetes', async () => {
    const pod = rendered.find((object) => object.kind === 'Deployment')!.spec.template.spec;
    expect(pod.volumes.map((volume: any) => volume.secret?.secretName)).not.toContain(
      'beamscope-access-token',
    );
    expect(pod.containers[0].volumeMounts.map((mount: any) => mount.mountPath)).not.toContain(
      '/var/run/secrets/beamscope/token',
    );
    // The cookie's Secret is still mounted: the component changes access only.
    expect(pod.volumes.map((volume: any) => volume.secret?.secretName)).toContain(
      'myapp-erlang-cookie',
    );
    // The ConfigMap's file with access switched to mode kubernetes, as docs/deploy.md says.
    const configMap = rendered.find((object) => object.kind === 'ConfigMap')!;
    const text = configMap.data['beamscope.yaml'] as string;
    const file = join(scratch, 'kubernetes-mode.yaml');
    await writeFile(
      file,
      text.replace(/access:\n(?:[ \t]+.*\n|\s*\n)+/, 'access:\n  mode: kubernetes\n'),
    );
    const loaded = await loadConfig(file, {});
    expect(loaded.access).toEqual({ mode: 'kubernetes', kubernetes: { cacheSeconds: 60 } });
  });
});

describe('deploy/kubernetes/components/history-volume (history across rollouts, once added)', () => {
  let rendered: K8sObject[];

  beforeAll(async () => {
    const copy = join(scratch, 'with-history-volume');
    await cp(base, copy, { recursive: true });
    const kustomization = join(copy, 'kustomization.yaml');
    await writeFile(
      kustomization,
      `${await readFile(kustomization, 'utf8')}\ncomponents:\n  - components/history-volume\n`,
    );
    rendered = await kustomize(copy);
  });

  it('adds exactly a ReadWriteOnce PersistentVolumeClaim in the same namespace', () => {
    const added = rendered.filter((object) => !objects.some((base) => base.kind === object.kind));
    expect(added.map((object) => object.kind)).toEqual(['PersistentVolumeClaim']);
    const claim = added[0]!;
    expect(claim.metadata.namespace).toBe(one('Deployment').metadata.namespace);
    expect(claim.spec.accessModes).toEqual(['ReadWriteOnce']);
    expect(claim.spec.resources.requests.storage).toMatch(/^\d+Gi$/);
    // RBAC is unchanged: a volume needs no new permission.
    expect(rendered.find((object) => object.kind === 'Role')).toEqual(one('Role'));
    expect(rendered.some((object) => object.kind.startsWith('Cluster'))).toBe(false);
  });

  it("mounts the claim at the config's history folder, the root filesystem still read-only", () => {
    const deployment = rendered.find((object) => object.kind === 'Deployment')!;
    const pod = deployment.spec.template.spec;
    const claim = rendered.find((object) => object.kind === 'PersistentVolumeClaim')!;
    const volume = pod.volumes.find((entry: any) => entry.name === 'history');
    expect(volume).toEqual({
      name: 'history',
      persistentVolumeClaim: { claimName: claim.metadata.name },
    });
    const container = pod.containers[0];
    const mount = container.volumeMounts.find((entry: any) => entry.name === 'history');
    expect(config.history?.store).toBe('sqlite');
    expect(mount.mountPath).toBe((config.history as { path: string }).path);
    expect(container.securityContext.readOnlyRootFilesystem).toBe(true);
    // The server's group owns what it writes on the volume.
    expect(pod.securityContext.fsGroup).toBe(container.securityContext.runAsGroup);
    // A ReadWriteOnce volume: one replica, and the old pod gone before the new one starts.
    expect(deployment.spec.replicas).toBe(1);
    expect(deployment.spec.strategy.type).toBe('Recreate');
    // Everything else of the pod is the base's.
    const others = (volumes: any[]) => volumes.filter((entry) => entry.name !== 'history');
    expect(others(pod.volumes)).toEqual(others(one('Deployment').spec.template.spec.volumes));
  });
});
