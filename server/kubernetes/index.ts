import 'server-only';

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
