import 'server-only';

// How the emulated API answers: JSON with the headers a real API server sends, objects with their
// kind and apiVersion, and the metav1.Status that carries every failure.

import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';

import type { V1Status, V1StatusDetails } from '@kubernetes/client-node';

import type { StoredObject, Wire } from '../models';
import { apiVersionOf, type ResourceDefinition } from '../resources';

/** A `metav1.Status` failure, the body of every error response (and of a watch ERROR event). */
export type Status = Wire<V1Status> & {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure';
  message: string;
  reason: string;
  code: number;
};

export function statusObject(
  code: number,
  reason: string,
  message: string,
  details?: Wire<V1StatusDetails>,
): Status {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(details ? { details } : {}),
    code,
  };
}

/**
 * A list's metadata as the wire spells it. Not client-node's V1ListMeta: that model names the
 * token `_continue` (`continue` being a keyword) and relies on ObjectSerializer to rename it.
 */
export interface ListMeta {
  resourceVersion: string;
  continue?: string;
  remainingItemCount?: number;
}

/** A failure met while serving a request; the handler answers with its Status. */
export class HttpError extends Error {
  constructor(readonly status: Status) {
    super(status.message);
  }
}

export const unauthorized = () => statusObject(401, 'Unauthorized', 'Unauthorized');

/** The answer to a path that names nothing the server serves. */
export const notFound = () =>
  statusObject(404, 'NotFound', 'the server could not find the requested resource', {});

/** A resource as messages name it: `pods`, `endpointslices.discovery.k8s.io`. */
export const qualifiedName = (definition: ResourceDefinition) =>
  definition.group ? `${definition.name}.${definition.group}` : definition.name;

/** A Status's details about one resource (and object) of it. */
export const resourceDetails = (definition: ResourceDefinition, name?: string) => ({
  ...(name ? { name } : {}),
  ...(definition.group ? { group: definition.group } : {}),
  kind: definition.name,
});

/** An object as served on its own or in a watch event: with kind and apiVersion. */
export function withKind(
  definition: ResourceDefinition,
  object: StoredObject,
): Record<string, unknown> {
  return { kind: definition.kind, apiVersion: apiVersionOf(definition), ...object };
}

/** The headers of every answer but health checks, in a real API server's order. */
export const serverHeaders = () => ({
  'Cache-Control': 'no-cache, private',
  'Audit-Id': randomUUID(),
});

export function send(
  res: ServerResponse,
  code: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(code, {
    'Content-Type': 'application/json',
    'Content-Length': String(Buffer.byteLength(text)),
    ...serverHeaders(),
    ...headers,
  });
  res.end(text);
}

export const sendStatus = (res: ServerResponse, status: Status, headers?: Record<string, string>) =>
  send(res, status.code, status, headers);
