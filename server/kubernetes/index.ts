import 'server-only';

/**
 * server/kubernetes owns the Kubernetes side of a cluster: credentials (`kubeconfig.ts`), one
 * informer per resource kind with restarts and backoff (`watcher.ts`), their merge into members
 * (`members.ts`, `source.ts`), and errors that name the RBAC rule to grant (`errors.ts`).
 */
export { kubernetesError, parseForbiddenMessage, type RequestContext } from './errors';
export { loadKubeConfig, type KubeAccessOptions, type LoadedKubeConfig } from './kubeconfig';
export { beamNodeName, deriveMembers, sameMembers, type NamingContext } from './members';
export {
  KubernetesSource,
  type KubernetesSourceEvents,
  type KubernetesSourceOptions,
  type ResourceStatus,
} from './source';
export { restartDelay, type BackoffOptions } from './watcher';
