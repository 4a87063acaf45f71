import 'server-only';

import { z } from 'zod';

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

/** The configuration file as written, before paths are resolved and defaults derived. */
export const configFileSchema = z
  .strictObject({
    node: z
      .strictObject({
        name: z
          .string({ error: 'expected a node name such as beamscope@10.0.0.9' })
          .regex(NODE_NAME, { error: 'expected a node name such as beamscope@10.0.0.9' })
          .optional(),
      })
      .optional(),
    clusters: z
      .array(clusterSchema, { error: 'expected a list of clusters' })
      .min(1, { error: 'expected at least one cluster' }),
  })
  .superRefine((config, context) => {
    const seen = new Map<string, number>();
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
