import 'server-only';

import { z } from 'zod';

import { checkMapping } from '../erlang/address-map';
import { swarmIgnoresNode } from '../erlang/node-name';
import { historySchema } from './history';

/** A cluster id: a DNS label, so it can appear in URLs, metric labels and file names as is. */
const CLUSTER_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** An Erlang node name: `name@host`, the name part being what an unquoted atom allows. */
const NODE_NAME = /^[A-Za-z0-9_-]+@[A-Za-z0-9_.:-]+$/;
/** The part of a node name before the `@`. */
const NODE_BASENAME = /^[A-Za-z0-9_-]+$/;

const nonEmpty = (what: string) =>
  z
    .string({ error: `expected ${what}` })
    .trim()
    .min(1, { error: `expected ${what}, not an empty string` });

const kubernetesSchema = z
  .strictObject({
    kubeconfig: nonEmpty('a path to a kubeconfig file').optional(),
    context: nonEmpty('a kubeconfig context name').optional(),
    inCluster: z.boolean({ error: 'expected true or false' }).optional(),
  })
  .superRefine((value, context) => {
    if (value.inCluster && value.kubeconfig !== undefined) {
      context.addIssue({
        code: 'custom',
        path: ['inCluster'],
        message: 'expected either kubeconfig or inCluster: true, not both',
      });
    }
    if (value.inCluster && value.context !== undefined) {
      context.addIssue({
        code: 'custom',
        path: ['context'],
        message: 'a kubeconfig context does not apply with inCluster: true',
      });
    }
  });

const discoverySchema = z.strictObject({
  mode: z.enum(['endpointSlices', 'endpoints', 'pods']).default('endpointSlices'),
  service: nonEmpty('a Service name').optional(),
  selector: nonEmpty('a label selector such as app=myapp').optional(),
});

const nodeNamingSchema = z.strictObject({
  mode: z.enum(['ip', 'dns', 'hostname']).default('ip'),
  basename: nonEmpty('the part of the node name before the @').regex(NODE_BASENAME, {
    error: 'expected the part of the node name before the @: letters, digits, _ and -',
  }),
  service: nonEmpty('a headless Service name').optional(),
});

const tlsSchema = z.strictObject({
  caFile: nonEmpty('a path to a PEM file'),
  certFile: nonEmpty('a path to a PEM file'),
  keyFile: nonEmpty('a path to a PEM file'),
});

/** `a.b.c.d/n` → `a.b.c.d/n`, both networks the same size (see server/erlang/address-map.ts). */
const addressMappingSchema = z
  .strictObject({
    from: nonEmpty('an IPv4 network such as 10.244.0.0/16'),
    to: nonEmpty('an IPv4 network such as 127.0.0.0/16'),
  })
  .superRefine((mapping, context) => {
    try {
      checkMapping(mapping);
    } catch (error) {
      context.addIssue({ code: 'custom', path: [], message: (error as Error).message });
    }
  });

const distributionSchema = z
  .strictObject({
    cookieFile: nonEmpty('a path to a file holding the Erlang cookie').optional(),
    cookieEnv: nonEmpty('the name of an environment variable holding the Erlang cookie').optional(),
    port: z
      .number({ error: 'expected a TCP port number' })
      .int({ error: 'expected a whole TCP port number' })
      .min(1, { error: 'expected a TCP port number from 1 to 65535' })
      .max(65535, { error: 'expected a TCP port number from 1 to 65535' })
      .optional(),
    tls: tlsSchema.optional(),
    /**
     * Dial nodes whose names hold an address in `from` at the same host bits in `to`, as through
     * a tunnel: the sandbox's loopback mode, where pods are named 10.244.x.y and listen on 127.0.x.y.
     */
    addressMap: z
      .array(addressMappingSchema, { error: 'expected a list of {from, to} networks' })
      .max(16, { error: 'expected at most 16 address mappings' })
      .optional(),
  })
  .superRefine((value, context) => {
    const both = value.cookieFile !== undefined && value.cookieEnv !== undefined;
    const neither = value.cookieFile === undefined && value.cookieEnv === undefined;
    if (both || neither) {
      context.addIssue({
        code: 'custom',
        path: [],
        message: `expected exactly one of cookieFile or cookieEnv (got ${both ? 'both' : 'neither'})`,
      });
    }
  });

/** An Elixir module name as written in Elixir (`MyApp.DeviceRegistry`), or with its `Elixir.`. */
const ELIXIR_MODULE = /^(Elixir\.)?[A-Z][A-Za-z0-9_]*(\.[A-Z][A-Za-z0-9_]*)*$/;
/** An unquoted Erlang atom, as syn scopes are named (`devices`). */
const PLAIN_ATOM = /^[a-z][A-Za-z0-9_@]*$/;

/** A short list of distinct names, each checked by `pattern`. */
const nameList = (what: string, pattern: RegExp, example: string) =>
  z
    .array(
      z
        .string({ error: `expected ${what} such as ${example}` })
        .regex(pattern, { error: `expected ${what} such as ${example}` }),
      { error: `expected a list of ${what}s, e.g. [${example}]` },
    )
    .max(32, { error: `expected at most 32 ${what}s` })
    .refine((names) => new Set(names).size === names.length, {
      error: `expected each ${what} once`,
    });

const registriesSchema = z.strictObject({
  elixir: nameList('an Elixir Registry name', ELIXIR_MODULE, 'MyApp.DeviceRegistry').optional(),
  horde: z
    .strictObject({
      registries: nameList(
        'a Horde registry name',
        ELIXIR_MODULE,
        'MyApp.HordeRegistry',
      ).optional(),
      supervisors: nameList(
        'a Horde supervisor name',
        ELIXIR_MODULE,
        'MyApp.DeviceSupervisor',
      ).optional(),
    })
    .optional(),
  syn: z
    .strictObject({ scopes: nameList('a syn scope', PLAIN_ATOM, 'devices').optional() })
    .optional(),
});

const clusterSchema = z
  .strictObject({
    id: z.string({ error: 'expected a cluster id' }).regex(CLUSTER_ID, {
      error:
        'expected a cluster id of lowercase letters, digits and -, at most 63 characters, not starting with -',
    }),
    displayName: nonEmpty('a display name').optional(),
    namespace: nonEmpty('a namespace name').optional(),
    kubernetes: kubernetesSchema.optional(),
    discovery: discoverySchema,
    nodeNaming: nodeNamingSchema,
    distribution: distributionSchema,
    registries: registriesSchema.optional(),
  })
  .superRefine((cluster, context) => {
    const { discovery, nodeNaming } = cluster;
    if (discovery.mode === 'endpointSlices' && discovery.service === undefined) {
      context.addIssue({
        code: 'custom',
        path: ['discovery', 'service'],
        message:
          'expected the Service name (discovery mode endpointSlices selects slices by kubernetes.io/service-name)',
      });
    }
    if (discovery.mode !== 'endpointSlices' && discovery.selector === undefined) {
      context.addIssue({
        code: 'custom',
        path: ['discovery', 'selector'],
        message: `expected a label selector such as app=myapp (required by discovery mode ${discovery.mode})`,
      });
    }
    if (nodeNaming.mode === 'hostname' && (nodeNaming.service ?? discovery.service) === undefined) {
      context.addIssue({
        code: 'custom',
        path: ['nodeNaming', 'service'],
        message:
          'expected the headless Service name (hostname naming builds HOST.SERVICE.NAMESPACE.svc.cluster.local)',
      });
    }
  });

/** An address or CIDR block, IPv4 or IPv6 (validated in full by `server/auth/cidr.ts`). */
const ADDRESS_OR_CIDR = /^[0-9A-Fa-f:.]+(\/\d{1,3})?$/;
/** An HTTP header name (RFC 9110 token). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

const accessProxySchema = z.strictObject({
  header: nonEmpty('an HTTP header name such as X-Forwarded-User')
    .regex(HEADER_NAME, { error: 'expected an HTTP header name such as X-Forwarded-User' })
    .default('X-Forwarded-User'),
  trustedProxies: z
    .array(
      nonEmpty('an address or CIDR block such as 10.0.0.0/8').regex(ADDRESS_OR_CIDR, {
        error: 'expected an IP address or CIDR block such as 10.0.0.0/8',
      }),
      { error: 'expected a list of addresses or CIDR blocks' },
    )
    .min(1, { error: 'expected at least one trusted proxy address or CIDR block' }),
  /** A header the proxy sets to the user's groups, comma-separated (e.g. X-Forwarded-Groups). */
  groupsHeader: nonEmpty('an HTTP header name such as X-Forwarded-Groups')
    .regex(HEADER_NAME, { error: 'expected an HTTP header name such as X-Forwarded-Groups' })
    .optional(),
});

/** An OAuth scope token (RFC 6749 §3.3): printable ASCII but space, " and \. */
const SCOPE = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
/** The route that finishes an OpenID Connect sign-in (app/api/session/oidc/callback). */
export const OIDC_CALLBACK_PATH = '/api/session/oidc/callback';

/** Whether `host` (a URL's hostname) names this machine: plain HTTP is accepted only there. */
function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(host) || host === '[::1]';
}

/** An absolute URL, https — or http on a loopback host, for a provider on this machine. */
const webUrl = (what: string) =>
  nonEmpty(what).refine(
    (text) => {
      try {
        const url = new URL(text);
        if (url.username || url.password || url.hash) return false;
        return (
          url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname))
        );
      } catch {
        return false;
      }
    },
    { error: `expected ${what}: an https:// URL (http:// only on a loopback host), no # part` },
  );

const accessOidcSchema = z
  .strictObject({
    issuer: webUrl("the OpenID provider's issuer URL"),
    clientId: nonEmpty('the client id registered at the OpenID provider'),
    clientSecretFile: nonEmpty('a path to a file holding the OIDC client secret').optional(),
    clientSecretEnv: nonEmpty(
      'the name of an environment variable holding the OIDC client secret',
    ).optional(),
    groupsClaim: nonEmpty('the name of the claim listing the groups, such as groups').default(
      'groups',
    ),
    scopes: z
      .array(
        z
          .string({ error: 'expected a scope such as openid' })
          .regex(SCOPE, { error: 'expected a scope such as openid, without spaces' }),
        { error: 'expected a list of scopes, e.g. [openid, email, groups]' },
      )
      .max(32, { error: 'expected at most 32 scopes' })
      .refine((scopes) => scopes.includes('openid'), {
        error: 'expected the list to include openid (an OpenID Connect sign-in needs it)',
      })
      .default(['openid', 'email', 'profile']),
    redirectUrl: webUrl("the URL of beamscope's OIDC callback")
      .refine((text) => new URL(text).pathname === OIDC_CALLBACK_PATH, {
        error: `expected the URL of beamscope's OIDC callback, ending in ${OIDC_CALLBACK_PATH}`,
      })
      .optional(),
  })
  .superRefine((oidc, context) => {
    const hasFile = oidc.clientSecretFile !== undefined;
    const hasEnv = oidc.clientSecretEnv !== undefined;
    if (hasFile === hasEnv) {
      context.addIssue({
        code: 'custom',
        path: [],
        message: `expected exactly one of clientSecretFile or clientSecretEnv (got ${hasFile ? 'both' : 'neither'})`,
      });
    }
  });

/** The client secret must never be written into the YAML (as the access token must not). */
const INLINE_CLIENT_SECRET_FIELDS = ['clientSecret', 'client_secret', 'secret'];

/** The `oidc` mapping, a client secret written in it refused before anything else. */
const accessOidcField = z.preprocess((value, context) => {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const inline = INLINE_CLIENT_SECRET_FIELDS.find((key) => key in value);
    if (inline !== undefined) {
      context.addIssue({
        code: 'custom',
        path: [inline],
        message:
          'the OIDC client secret never goes in the configuration file: put it in a file (clientSecretFile, e.g. a mounted Secret) or an environment variable (clientSecretEnv)',
      });
      return z.NEVER;
    }
  }
  return value;
}, accessOidcSchema.optional());

/** `access.kubernetes`: how Kubernetes tokens are checked (mode kubernetes). */
const accessKubernetesSchema = z.strictObject({
  cacheSeconds: z
    .number({ error: 'expected a number of seconds' })
    .int({ error: 'expected a whole number of seconds' })
    .min(1, { error: 'expected from 1 to 600 seconds' })
    .max(600, { error: 'expected from 1 to 600 seconds' })
    .default(60),
});

/** A user or group name as an identity source gives it: any printable text, one line. */
const identityName = (what: string) =>
  nonEmpty(what).regex(/^[^\u0000-\u001f\u007f]{1,256}$/, {
    error: `expected ${what}: one line of at most 256 characters`,
  });

/** `access.clusters.<id>`: who sees that cluster, in modes whose users carry a name and groups. */
const clusterRuleSchema = z
  .strictObject({
    users: z
      .array(identityName('a user name'), { error: 'expected a list of user names' })
      .optional(),
    groups: z
      .array(identityName('a group name'), { error: 'expected a list of group names' })
      .optional(),
  })
  .refine((rule) => (rule.users?.length ?? 0) + (rule.groups?.length ?? 0) > 0, {
    error: 'expected users or groups (a rule that names no one would hide the cluster from all)',
  });

/**
 * Who may use the dashboard. The token itself never appears here: only where to read it (a
 * mounted Secret file or an environment variable), so the file can live in a ConfigMap.
 */
const accessSchema = z
  .strictObject({
    mode: z.enum(['token', 'proxy', 'oidc', 'kubernetes', 'none']).default('none'),
    tokenFile: nonEmpty('a path to a file holding the access token').optional(),
    tokenEnv: nonEmpty('the name of an environment variable holding the access token').optional(),
    proxy: accessProxySchema.optional(),
    kubernetes: accessKubernetesSchema.optional(),
    oidc: accessOidcField,
    clusters: z
      .record(z.string(), clusterRuleSchema, {
        error: 'expected a mapping of cluster ids to { users, groups }',
      })
      .optional(),
  })
  .superRefine((access, context) => {
    const hasFile = access.tokenFile !== undefined;
    const hasEnv = access.tokenEnv !== undefined;
    if (access.mode === 'token' && hasFile === hasEnv) {
      context.addIssue({
        code: 'custom',
        path: [],
        message: `expected exactly one of tokenFile or tokenEnv with mode token (got ${hasFile ? 'both' : 'neither'})`,
      });
    }
    if (access.mode !== 'token' && (hasFile || hasEnv)) {
      context.addIssue({
        code: 'custom',
        path: [hasFile ? 'tokenFile' : 'tokenEnv'],
        message: `applies to mode token only (mode is ${access.mode})`,
      });
    }
    if (access.mode === 'proxy' && access.proxy === undefined) {
      context.addIssue({
        code: 'custom',
        path: ['proxy', 'trustedProxies'],
        message:
          'expected the addresses of the authenticating proxy (mode proxy trusts the identity header only from them)',
      });
    }
    if (access.mode !== 'proxy' && access.proxy !== undefined) {
      context.addIssue({
        code: 'custom',
        path: ['proxy'],
        message: `applies to mode proxy only (mode is ${access.mode})`,
      });
    }
    if (access.mode === 'oidc' && access.oidc === undefined) {
      context.addIssue({
        code: 'custom',
        path: ['oidc', 'issuer'],
        message: "expected the OpenID provider's issuer URL (mode oidc signs users in through it)",
      });
    }
    if (access.mode !== 'oidc' && access.oidc !== undefined) {
      context.addIssue({
        code: 'custom',
        path: ['oidc'],
        message: `applies to mode oidc only (mode is ${access.mode})`,
      });
    }
    if (access.mode !== 'kubernetes' && access.kubernetes !== undefined) {
      context.addIssue({
        code: 'custom',
        path: ['kubernetes'],
        message: `applies to mode kubernetes only (mode is ${access.mode})`,
      });
    }
    if (access.clusters !== undefined && !MODES_WITH_GROUPS.has(access.mode)) {
      context.addIssue({
        code: 'custom',
        path: ['clusters'],
        message:
          access.mode === 'kubernetes'
            ? 'does not apply to mode kubernetes: RBAC decides who sees each cluster (a SubjectAccessReview: may the user get pods in its namespace?)'
            : `applies to modes whose users have a name and groups (proxy, oidc), not ${access.mode}`,
      });
    }
  });

/** The modes whose users carry a name and groups, so `access.clusters` rules can apply. */
const MODES_WITH_GROUPS = new Set<string>(['proxy', 'oidc']);

/**
 * The token must never be written into the YAML: a field that looks like it is refused with a
 * message that names the field and never repeats its value.
 */
const INLINE_SECRET_FIELDS = ['token', 'accessToken', 'password', 'secret'];

/** The configuration file as written, before paths are resolved and defaults derived. */
export const configFileSchema = z
  .strictObject({
    node: z
      .strictObject({
        name: z
          .string({ error: 'expected a node name such as beamscope_maint_ops@10.0.0.9' })
          .regex(NODE_NAME, {
            error: 'expected a node name such as beamscope_maint_ops@10.0.0.9',
            abort: true,
          })
          .refine(swarmIgnoresNode, {
            error:
              "expected a name Swarm's tracker ignores, with _maint_ in it (e.g. beamscope_maint_ops@10.0.0.9): " +
              "any other name can enter Swarm's hash ring (docs/registries.md)",
          })
          .optional(),
      })
      .optional(),
    clusters: z
      .array(clusterSchema, { error: 'expected a list of clusters' })
      .min(1, { error: 'expected at least one cluster' }),
    access: z.preprocess((value, context) => {
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
        const inline = INLINE_SECRET_FIELDS.find((key) => key in value);
        if (inline !== undefined) {
          context.addIssue({
            code: 'custom',
            path: [inline],
            message:
              'the access token never goes in the configuration file: put it in a file (tokenFile, e.g. a mounted Secret) or an environment variable (tokenEnv)',
          });
          return z.NEVER;
        }
      }
      return value;
    }, accessSchema.optional()),
    history: historySchema.optional(),
  })
  .superRefine((config, context) => {
    const seen = new Map<string, number>();
    const ids = new Set(config.clusters.map((cluster) => cluster.id));
    for (const id of Object.keys(config.access?.clusters ?? {})) {
      if (!ids.has(id)) {
        context.addIssue({
          code: 'custom',
          path: ['access', 'clusters', id],
          message: `no cluster has the id "${id}" (expected one of ${[...ids].join(', ')})`,
        });
      }
    }
    config.clusters.forEach((cluster, index) => {
      const first = seen.get(cluster.id);
      if (first !== undefined) {
        context.addIssue({
          code: 'custom',
          path: ['clusters', index, 'id'],
          message: `expected a unique cluster id ("${cluster.id}" is also clusters[${first}].id)`,
        });
      } else {
        seen.set(cluster.id, index);
      }
    });
  });

/** The parsed file, defaults applied but paths still as written. */
export type ConfigFile = z.output<typeof configFileSchema>;
