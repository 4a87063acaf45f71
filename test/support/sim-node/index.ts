/**
 * Simulated BEAM nodes for tests and benchmarks: see cluster.ts (the nodes), model.ts (what they
 * answer) and process.ts (the same nodes in a child process, so their cost is not the caller's).
 */
export {
  nameHostOf,
  startSimulatedCluster,
  type SimulatedCluster,
  type SimulatedClusterOptions,
} from './cluster';
export {
  answerCall,
  defaultModel,
  settledModel,
  type SimNodeModel,
  type SimPgGroup,
  type SimRegistries,
} from './model';
export { DEFAULT_SIM_CODE, simCodeBuilds, type SimCode, type SimCodeSpec } from './code-model';
export {
  simulatedAddresses,
  simulatedAddressMap,
  startSimulatedClusterProcess,
  type ChildClusterOptions,
  type ChildStats,
  type PodReadyTiming,
  type SimulatedClusterProcess,
} from './process';
