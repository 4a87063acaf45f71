import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

import { parse, parseAllDocuments, stringify } from 'yaml';

import type { RunningSandbox } from './app';

const root = join(import.meta.dirname, '..', '..', '..');
const component = join(root, 'deploy/kubernetes/components/access-review');

/** A service account of the sandbox for a person, with its bearer token. */
export interface Account {
  username: string;
  token: string;
}

/** Creates a service account in the sandbox and a token for it (`kubectl create token`). */
export async function createAccount(sandbox: RunningSandbox, name: string): Promise<Account> {
  return (await sandbox.control('POST', '/accounts', { name })) as Account;
}

/** The sandbox's namespace, where its cluster lives (read from its beamscope.yaml). */
export async function sandboxNamespace(sandbox: RunningSandbox): Promise<string> {
  const config = parse(await readFile(sandbox.config, 'utf8')) as {
    clusters: Array<{ namespace?: string }>;
  };
  return config.clusters[0]!.namespace ?? 'default';
}

/**
 * Applies deploy/kubernetes/components/access-review's ClusterRole and ClusterRoleBinding to the
 * sandbox, its subject put in the sandbox's namespace as kustomize would for the install.
 */
export async function grantReviews(sandbox: RunningSandbox): Promise<void> {
  const namespace = await sandboxNamespace(sandbox);
  for (const file of ['clusterrole.yaml', 'clusterrolebinding.yaml']) {
    const object = parseAllDocuments(await readFile(join(component, file), 'utf8'))[0]!.toJS() as {
      subjects?: Array<Record<string, unknown>>;
    };
    if (object.subjects) {
      object.subjects = object.subjects.map((subject) => ({ ...subject, namespace }));
    }
    await sandbox.control('POST', '/rbac', object);
  }
}

/** A Role that reads pods in `namespace`, and the RoleBinding that gives it to `account`. */
export async function bindPodReader(
  sandbox: RunningSandbox,
  namespace: string,
  binding: string,
  account: string,
): Promise<void> {
  await sandbox.control('POST', '/rbac', {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name: 'pod-reader', namespace },
    rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }],
  });
  await sandbox.control('POST', '/rbac', {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: binding, namespace },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pod-reader' },
    subjects: [
      { kind: 'ServiceAccount', name: account, namespace: await sandboxNamespace(sandbox) },
    ],
  });
}

/**
 * The sandbox's configuration in mode kubernetes, with a second cluster `staging` (the same
 * Service, in namespace `staging`, which beamscope itself may not read): two clusters whose
 * namespaces users can be given apart.
 */
export async function kubernetesModeConfig(
  sandbox: RunningSandbox,
  cacheSeconds: number,
): Promise<string> {
  const config = parse(await readFile(sandbox.config, 'utf8')) as {
    clusters: Array<Record<string, unknown>>;
  };
  const [first] = config.clusters;
  const file = join(dirname(sandbox.config), 'beamscope-kubernetes.yaml');
  await writeFile(
    file,
    stringify({
      ...config,
      clusters: [first, { ...first, id: 'staging', displayName: 'staging', namespace: 'staging' }],
      access: { mode: 'kubernetes', kubernetes: { cacheSeconds } },
    }),
  );
  return file;
}
