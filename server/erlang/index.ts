import 'server-only';

/**
 * The distribution client: beamscope as a hidden Erlang node. Connect with {@link connectNode}
 * or, in the server, share connections through one {@link ConnectionManager} per cluster.
 */
export { connectNode, type ConnectOptions, type DistributionTls } from './connect';
export { NodeConnection, type RpcOptions } from './connection';
export { lookupNodePort, EPMD_PORT, type EpmdNodeInfo } from './epmd';
export { BadRpcError, erlangError, isErlangError, type ErlangErrorCode } from './errors';
export {
  ConnectionManager,
  type ConnectionManagerOptions,
  type NodeConnectionState,
} from './manager';
export {
  commandLineNodeName,
  defaultLocalNodeName,
  localNodeHost,
  parseNodeName,
  SWARM_IGNORED_NODE_PATTERNS,
  swarmIgnoresNode,
  type LocalNodeRole,
  type NodeName,
} from './node-name';
