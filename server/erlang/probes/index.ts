import 'server-only';

/**
 * Read-only probes of BEAM nodes: the one module that names remote modules and functions.
 * See `catalogue.ts` (and its `catalogue-*.ts` parts) for the calls, `run.ts` for a full probe, `lookup.ts` for name lookup.
 */
export * from './catalogue';
export {
  lookupName,
  MAX_LOOKUP_NAME_BYTES,
  readLookupName,
  REGISTRY_ORDER,
  REPLICATED_REGISTRIES,
  type LookupKey,
  type LookupKeyType,
  type LookupName,
  type LookupOptions,
  type LookupRegistry,
  type NameLookup,
  type NameMatch,
  type RegistryCopy,
} from './lookup';
export {
  busiestByCount,
  MAX_QUEUE_READS,
  probeLinks,
  type LinkReport,
  type QueueChoice,
} from './links';
export {
  DEFAULT_MD5_CHUNK,
  ModuleListCache,
  scanCode,
  type CodeScanOptions,
  type CodeScanResult,
} from './code';
export { ProbeReplyError, toProbeError, type PidRef, type ProbeError } from './reply';
export {
  callProbe,
  detectRegistries,
  existingAtom,
  PROBE_TIMEOUT_MS,
  registryAtomName,
  REGISTRIES_NOT_READ,
  runProbes,
  type AbsenceKnown,
  type Detection,
  type NodeProbeReport,
  type PgGroupReport,
  type ProbeField,
  type ProbeName,
  type ProbeOptions,
  type RegistryReport,
  type RpcFunction,
} from './run';
