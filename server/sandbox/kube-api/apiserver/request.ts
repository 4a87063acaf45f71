import 'server-only';

// What a request for a resource asks: which resource, namespace and object, the verb it amounts
// to, its selectors and resourceVersion, and the headers every answer about the resource carries.

import type { IncomingMessage, ServerResponse } from 'node:http';

import type { StoredObject } from '../models';
import { resources, type ResourceDefinition } from '../resources';
import {
  matchesFields,
  matchesLabels,
  parseFieldSelector,
  parseLabelSelector,
  SelectorParseError,
  type FieldRequirement,
  type LabelRequirement,
} from '../selector';
import { HttpError, statusObject } from './respond';
import type { TableMode } from './table';

/** The deprecation warning a 1.33+ server sends with every v1 Endpoints response. */
export const ENDPOINTS_WARNING =
  '299 - "v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice"';

/** `/api/v1/…` or `/apis/discovery.k8s.io/v1/…`, with an optional namespace and object name. */
export const RESOURCE_PATH =
  /^\/(?:api\/v1|apis\/(discovery\.k8s\.io)\/v1)(?:\/namespaces\/([^/]+))?\/([a-z]+)(?:\/([^/]+))?\/?$/;

/** A request the route table has found to be about a served resource, the caller admitted. */
export interface ResourceRequest {
  req: IncomingMessage;
  res: ServerResponse;
  definition: ResourceDefinition;
  namespace: string | undefined;
  name: string | undefined;
  query: URLSearchParams;
  table: TableMode | undefined;
  /** Headers every answer about this resource carries, errors included. */
  headers: Record<string, string>;
}

/** The served resource a RESOURCE_PATH match names, or undefined (a 404). */
export function resourceTarget(match: RegExpExecArray) {
  const definition = (resources as Record<string, ResourceDefinition | undefined>)[match[3]!];
  if (!definition || (match[1] ?? '') !== definition.group) return undefined;
  return {
    definition,
    namespace: match[2] === undefined ? undefined : decodeURIComponent(match[2]),
    name: match[4] === undefined ? undefined : decodeURIComponent(match[4]),
  };
}

/** The RBAC verb of a request, as the authorizer names it. */
export function verbOf(method: string | undefined, watch: boolean, name: string | undefined) {
  if (method === 'GET') return watch ? 'watch' : name ? 'get' : 'list';
  return (
    (
      {
        POST: 'create',
        PUT: 'update',
        PATCH: 'patch',
        DELETE: name ? 'delete' : 'deletecollection',
      } as Record<string, string>
    )[method ?? ''] ?? (method ?? 'unknown').toLowerCase()
  );
}

export const answerHeaders = (definition: ResourceDefinition): Record<string, string> =>
  definition.name === 'endpoints' ? { Warning: ENDPOINTS_WARNING } : {};

export function isTrue(value: string | null): boolean {
  return value !== null && ['true', '1', 'True', 'TRUE'].includes(value);
}

export function parseRevision(value: string): number {
  if (!/^\d+$/.test(value)) {
    throw new HttpError(
      statusObject(
        400,
        'BadRequest',
        `resourceVersion: Invalid value: "${value}": must be a resource version issued by this server`,
      ),
    );
  }
  return Number(value);
}

export interface Selection {
  labels: LabelRequirement[];
  fields: FieldRequirement[];
}

export function selection(definition: ResourceDefinition, query: URLSearchParams): Selection {
  try {
    return {
      labels: parseLabelSelector(query.get('labelSelector') ?? ''),
      fields: parseFieldSelector(query.get('fieldSelector') ?? '', Object.keys(definition.fields)),
    };
  } catch (error) {
    if (error instanceof SelectorParseError) {
      throw new HttpError(statusObject(400, 'BadRequest', error.message));
    }
    throw error;
  }
}

export function selects(
  definition: ResourceDefinition,
  chosen: Selection,
  namespace: string | undefined,
  object: StoredObject,
) {
  return (
    (namespace === undefined || object.metadata.namespace === namespace) &&
    matchesLabels(chosen.labels, object.metadata.labels) &&
    matchesFields(chosen.fields, (field) => definition.fields[field]?.(object))
  );
}
