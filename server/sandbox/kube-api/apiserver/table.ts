import 'server-only';

// Table output: whether the client asked for a meta.k8s.io Table (kubectl does), and the Table a
// real server prints with the resource's columns and cells.

import type { IncomingMessage } from 'node:http';

import type { StoredObject } from '../models';
import type { ResourceDefinition } from '../resources';
import { withKind, type ListMeta } from './respond';

export interface TableMode {
  version: 'v1' | 'v1beta1';
  include: 'None' | 'Metadata' | 'Object';
}

/** Which Table version (if any) the client's Accept header asks for, as kubectl's does. */
export function tableMode(req: IncomingMessage, query: URLSearchParams): TableMode | undefined {
  for (const range of (req.headers.accept ?? '').split(',')) {
    const [type, ...parameters] = range.split(';').map((part) => part.trim());
    const params = Object.fromEntries(
      parameters.map((parameter) => parameter.split('=').map((s) => s.trim())),
    );
    if (type === 'application/json' && params.as === 'Table' && params.g === 'meta.k8s.io') {
      if (params.v === 'v1' || params.v === 'v1beta1') {
        const include = query.get('includeObject');
        return {
          version: params.v,
          include: include === 'None' || include === 'Object' ? include : 'Metadata',
        };
      }
    } else if (type === 'application/json' || type === '*/*' || type === 'application/*') {
      return undefined;
    }
  }
  return undefined;
}

/** The Content-Type of an answer in Table form. */
export const tableContentType = (mode: TableMode) =>
  `application/json;as=Table;v=${mode.version};g=meta.k8s.io`;

/** `objects` as a Table; a watch sends the column definitions with its first event only. */
export function toTable(
  definition: ResourceDefinition,
  objects: StoredObject[],
  mode: TableMode,
  metadata: ListMeta,
  withColumns = true,
) {
  const now = Date.now();
  return {
    kind: 'Table',
    apiVersion: `meta.k8s.io/${mode.version}`,
    metadata,
    ...(withColumns ? { columnDefinitions: definition.columns } : {}),
    rows: objects.map((object) => {
      const { managedFields: _managedFields, ...partial } = object.metadata;
      const row: Record<string, unknown> = { cells: definition.cells(object, now) };
      if (mode.include === 'Metadata') {
        row.object = {
          kind: 'PartialObjectMetadata',
          apiVersion: `meta.k8s.io/${mode.version}`,
          metadata: partial,
        };
      } else if (mode.include === 'Object') {
        row.object = withKind(definition, object);
      }
      return row;
    }),
  };
}
