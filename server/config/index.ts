import 'server-only';

/**
 * server/config owns the configuration: the YAML file and the environment, validated by the zod
 * schema (`schema.ts`) into `BeamscopeConfig`, with one line naming the file, the field and what
 * was expected (`issues.ts`); and reading each cluster's cookie, never into a message.
 */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';

import { parseDocument } from 'yaml';

import type { ConfigCode } from '@/lib/codes';
import type { DiscoveryMode, NodeNamingMode } from '@/lib/members';

import type { AddressMapping } from '../erlang/address-map';
import { BeamscopeError, describeError } from '../errors';
import { resolveHistory, type HistoryConfig } from './history';
import { defaultIssueMessage, formatFirstIssue } from './issues';
import { configFileSchema, type ConfigFile } from './schema';

export { parseDuration, type HistoryConfig } from './history';

/** The environment variable naming the configuration file when `--config` is not given. */
export const CONFIG_ENV = 'BEAMSCOPE_CONFIG';

/** Environment variables, as `process.env` holds them (a seam: tests pass their own). */
export type Environment = Readonly<Record<string, string | undefined>>;

/** sysexits' EX_CONFIG: the CLI's exit code for a configuration error. */
const EX_CONFIG = 78;

/** How beamscope reaches one cluster's Kubernetes API. Absent: `KubeConfig.loadFromDefault()`. */
export interface KubernetesAccessConfig {
  /** An absolute path to a kubeconfig file. */
  kubeconfig?: string;
  /** The kubeconfig context to use; default: the file's current context. */
  context?: string;
  /** Use the pod's service account (mutually exclusive with `kubeconfig`). */
  inCluster?: boolean;
}

/** PEM files for `inet_tls_dist`, absolute paths. */
export interface DistributionTlsConfig {
  caFile: string;
  certFile: string;
  keyFile: string;
}

/** One observed cluster, defaults applied and every path absolute. */
export interface ClusterConfig {
  id: string;
  /** Defaults to the id. */
  displayName: string;
  /**
   * The namespace to watch. Absent: the service account's namespace in-cluster, else `default`
   * (resolved by `server/kubernetes` when it loads the KubeConfig).
   */
  namespace?: string;
  kubernetes?: KubernetesAccessConfig;
  discovery: {
    mode: DiscoveryMode;
    /** The Service whose EndpointSlices list the members (label `kubernetes.io/service-name`). */
    service?: string;
    /** A label selector for Endpoints or Pods, e.g. `app=myapp`. */
    selector?: string;
  };
  nodeNaming: {
    mode: NodeNamingMode;
    basename: string;
    /** The headless Service for `hostname` naming; defaults to `discovery.service`. */
    service?: string;
  };
  distribution: {
    /** An absolute path to a file holding the cookie (exactly one of cookieFile / cookieEnv). */
    cookieFile?: string;
    /** The name of an environment variable holding the cookie. */
    cookieEnv?: string;
    /** A fixed distribution port (EPMD-less); absent: ask EPMD on port 4369. */
    port?: number;
    tls?: DistributionTlsConfig;
    /** Networks whose nodes are dialled at another (a tunnel; the sandbox's loopback mode). */
    addressMap?: AddressMapping[];
  };
  /**
   * The registries whose names only the configuration can give (Swarm, `:global`, `:pg` and
   * started syn scopes are found by themselves); absent when the file has no such section.
   */
  registries?: RegistriesConfig;
}

/** Registries counted and searched by name, as `registries:` in a cluster lists them. */
export interface RegistriesConfig {
  /** Elixir `Registry` names, e.g. `MyApp.DeviceRegistry`. */
  elixir: string[];
  hordeRegistries: string[];
  hordeSupervisors: string[];
  /** syn scopes to count; absent: every scope started on each node. */
  synScopes?: string[];
}

/**
 * OpenID Connect sign-in (`access.mode: oidc`): the provider found by discovery from `issuer`,
 * the client secret read from a file or an environment variable (never the YAML), the claim
 * that lists a user's groups.
 */
export interface OidcAccessConfig {
  issuer: string;
  clientId: string;
  /** An absolute path (exactly one of clientSecretFile / clientSecretEnv). */
  clientSecretFile?: string;
  clientSecretEnv?: string;
  /** The claim listing the user's groups; default `groups`. */
  groupsClaim: string;
  /** The scopes asked for; always holds `openid`. */
  scopes: string[];
  /** The callback URL registered at the provider; absent: this server's own origin. */
  redirectUrl?: string;
}

/**
 * Who may use the dashboard (`server/auth` enforces it). `none` is accepted only when the server
 * listens on loopback; `token` reads the token from a file or an environment variable, never
 * from the YAML; `proxy` trusts an identity header only from the listed proxy addresses; `oidc`
 * signs users in at an OpenID provider.
 */
export type AccessConfig = (
  | { mode: 'none' }
  | { mode: 'token'; tokenFile: string; tokenEnv?: undefined }
  | { mode: 'token'; tokenEnv: string; tokenFile?: undefined }
  | {
      mode: 'proxy';
      proxy: { header: string; groupsHeader?: string; trustedProxies: string[] };
    }
  | { mode: 'kubernetes'; kubernetes: { cacheSeconds: number } }
  | { mode: 'oidc'; oidc: OidcAccessConfig }
) & {
  /**
   * Who sees which cluster, in modes whose users carry a name and groups (proxy, oidc): a cluster with
   * a rule is shown only to the users and members of the groups it lists; a cluster without one
   * to everyone signed in. Mode kubernetes asks RBAC instead (server/auth/kubernetes).
   */
  clusters?: Readonly<Record<string, ClusterRule>>;
};

/** `access.clusters.<id>`: the users and groups that see the cluster. */
export interface ClusterRule {
  users?: readonly string[];
  groups?: readonly string[];
}

/** The whole configuration. */
export interface BeamscopeConfig {
  /**
   * Dashboard access; `loadConfig` always sets it (`{ mode: 'none' }` when the file has no
   * `access` section). Optional so a hand-built config (tests, the CLI) can leave it out.
   */
  access?: AccessConfig;
  /** The hidden node's own name; absent: `beamscope_<shortid>@<this host's address>`. */
  node?: { name?: string };
  clusters: ClusterConfig[];
  /**
   * Where the clusters' history is recorded (`server/history`); `loadConfig` always sets it
   * (memory for an hour when the file has no `history` section). Optional like `access`.
   */
  history?: HistoryConfig;
  /** The absolute path of the file this was loaded from. */
  sourcePath: string;
}

function configError(code: ConfigCode, message: string, cause?: unknown): BeamscopeError {
  return new BeamscopeError('config', code, message, { cause, exitCode: EX_CONFIG });
}

function describeReadFailure(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'is a folder, not a file';
  return describeError(error);
}

/** Parses YAML text, turning the first syntax error into one line with its line and column. */
function parseYaml(file: string, text: string): unknown {
  const document = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  const error = document.errors[0];
  if (error) {
    const position = error.linePos?.[0];
    const where = position ? `${file}:${position.line}:${position.col}` : file;
    const message = error.message.split('\n')[0]!.replace(/ at line \d+, column \d+.*$/, '');
    throw configError('config_invalid', `${where}: invalid YAML: ${message}`, error);
  }
  try {
    return document.toJS({ maxAliasCount: 100 }) as unknown;
  } catch (error) {
    // An alias that expands past the limit (a "billion laughs" document) fails only here.
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw configError('config_invalid', `${file}: invalid YAML: ${message}`, error);
  }
}

/** The validated `access` section as its tagged union (the schema checked the combinations). */
function resolveAccess(
  access: ConfigFile['access'],
  absolute: (path: string) => string,
): AccessConfig {
  if (!access || access.mode === 'none') return { mode: 'none' };
  const rules = access.clusters !== undefined ? { clusters: access.clusters } : {};
  if (access.mode === 'proxy') return { mode: 'proxy', proxy: access.proxy!, ...rules };
  if (access.mode === 'kubernetes') {
    return { mode: 'kubernetes', kubernetes: access.kubernetes ?? { cacheSeconds: 60 } };
  }
  if (access.mode === 'oidc') {
    const { clientSecretFile, ...oidc } = access.oidc!;
    return {
      mode: 'oidc',
      oidc: {
        ...oidc,
        ...(clientSecretFile !== undefined ? { clientSecretFile: absolute(clientSecretFile) } : {}),
      },
      ...rules,
    };
  }
  return access.tokenFile !== undefined
    ? { mode: 'token', tokenFile: absolute(access.tokenFile) }
    : { mode: 'token', tokenEnv: access.tokenEnv! };
}

function resolvePaths(config: ConfigFile, folder: string, sourcePath: string): BeamscopeConfig {
  const absolute = (path: string) => (isAbsolute(path) ? path : resolve(folder, path));
  return {
    ...(config.node ? { node: config.node } : {}),
    access: resolveAccess(config.access, absolute),
    history: resolveHistory(config.history, absolute),
    sourcePath,
    clusters: config.clusters.map((cluster): ClusterConfig => {
      const { kubernetes, distribution, nodeNaming, discovery } = cluster;
      return {
        id: cluster.id,
        displayName: cluster.displayName ?? cluster.id,
        ...(cluster.namespace !== undefined ? { namespace: cluster.namespace } : {}),
        ...(kubernetes
          ? {
              kubernetes: {
                ...kubernetes,
                ...(kubernetes.kubeconfig !== undefined
                  ? { kubeconfig: absolute(kubernetes.kubeconfig) }
                  : {}),
              },
            }
          : {}),
        discovery,
        ...(cluster.registries
          ? {
              registries: {
                elixir: cluster.registries.elixir ?? [],
                hordeRegistries: cluster.registries.horde?.registries ?? [],
                hordeSupervisors: cluster.registries.horde?.supervisors ?? [],
                ...(cluster.registries.syn?.scopes !== undefined
                  ? { synScopes: cluster.registries.syn.scopes }
                  : {}),
              },
            }
          : {}),
        nodeNaming: {
          ...nodeNaming,
          ...((nodeNaming.service ?? discovery.service) !== undefined
            ? { service: nodeNaming.service ?? discovery.service }
            : {}),
        },
        distribution: {
          ...distribution,
          ...(distribution.cookieFile !== undefined
            ? { cookieFile: absolute(distribution.cookieFile) }
            : {}),
          ...(distribution.tls
            ? {
                tls: {
                  caFile: absolute(distribution.tls.caFile),
                  certFile: absolute(distribution.tls.certFile),
                  keyFile: absolute(distribution.tls.keyFile),
                },
              }
            : {}),
        },
      };
    }),
  };
}

/**
 * Validates an already-parsed configuration object. `file` names the source in messages and
 * anchors relative paths (its folder).
 */
export function parseConfig(data: unknown, file: string): BeamscopeConfig {
  const sourcePath = resolve(file);
  const result = configFileSchema.safeParse(data, {
    reportInput: true,
    error: defaultIssueMessage,
  });
  if (!result.success) {
    throw configError(
      'config_invalid',
      formatFirstIssue(sourcePath, result.error.issues),
      result.error,
    );
  }
  return resolvePaths(result.data, dirname(sourcePath), sourcePath);
}

/**
 * Loads and validates the configuration file: `path` (from `--config`), else the file named by
 * `BEAMSCOPE_CONFIG` in `env`. Every failure is a one-line `BeamscopeError('config', …)` naming
 * the file, the field and what was expected.
 */
export async function loadConfig(
  path?: string,
  env: Environment = process.env,
): Promise<BeamscopeConfig> {
  const chosen = path ?? (env[CONFIG_ENV] || undefined);
  if (chosen === undefined) {
    throw configError(
      'config_missing',
      `no configuration file: pass --config FILE or set ${CONFIG_ENV}`,
    );
  }
  // The path is the operator's: not a file of the build to trace.
  const sourcePath = resolve(/* turbopackIgnore: true */ chosen);
  let text: string;
  try {
    text = await readFile(/* turbopackIgnore: true */ sourcePath, 'utf8');
  } catch (error) {
    throw configError(
      'config_unreadable',
      `${sourcePath}: cannot read the configuration file: ${describeReadFailure(error)}`,
      error,
    );
  }
  return parseConfig(parseYaml(sourcePath, text), sourcePath);
}

/**
 * Reads a cluster's Erlang cookie from its file or environment variable, trimming the trailing
 * newline files usually have. Read lazily (not at load time) so a rotated Secret is picked up;
 * errors name the file or variable, never the value.
 */
export async function readCookie(
  cluster: ClusterConfig,
  env: Environment = process.env,
): Promise<string> {
  const { cookieFile, cookieEnv } = cluster.distribution;
  if (cookieFile !== undefined) {
    let text: string;
    try {
      text = await readFile(/* turbopackIgnore: true */ cookieFile, 'utf8');
    } catch (error) {
      throw configError(
        'cookie_unreadable',
        `cluster ${cluster.id}: cannot read the cookie file ${cookieFile}: ${describeReadFailure(error)}`,
        error,
      );
    }
    const cookie = text.trim();
    if (!cookie) {
      throw configError(
        'cookie_missing',
        `cluster ${cluster.id}: the cookie file ${cookieFile} is empty`,
      );
    }
    return cookie;
  }
  if (cookieEnv !== undefined) {
    const cookie = env[cookieEnv]?.trim();
    if (!cookie) {
      throw configError(
        'cookie_missing',
        `cluster ${cluster.id}: the environment variable ${cookieEnv} (distribution.cookieEnv) is not set or empty`,
      );
    }
    return cookie;
  }
  // Unreachable for a validated config; kept so a hand-built ClusterConfig fails clearly.
  throw configError(
    'cookie_missing',
    `cluster ${cluster.id}: no cookieFile or cookieEnv configured`,
  );
}
