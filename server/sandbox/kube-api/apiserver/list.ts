import 'server-only';

// Get and list: one object by name, or a list with the resourceVersion semantics clients rely on
// (NotOlderThan, Exact, 410 Expired, 504 for a revision not reached yet), selectors, and pages
// whose continue token pins every page to the first page's revision.

import type { StoredObject } from '../models';
import { apiVersionOf } from '../resources';
import { EXPIRED, TOO_NEW } from '../store';
import type { HandlerContext } from './context';
import { parseRevision, selection, selects, type ResourceRequest } from './request';
import {
  HttpError,
  qualifiedName,
  resourceDetails,
  send,
  sendStatus,
  statusObject,
  withKind,
  type ListMeta,
} from './respond';
import { tableContentType, toTable } from './table';

/** `GET …/NAME`: the object, or 404 naming it. */
export function serveGet(request: ResourceRequest, context: HandlerContext, name: string): void {
  const { res, definition, table, headers } = request;
  const object = context.store.get(definition.name, context.namespace, name);
  if (!object) {
    return sendStatus(
      res,
      statusObject(
        404,
        'NotFound',
        `${qualifiedName(definition)} "${name}" not found`,
        resourceDetails(definition, name),
      ),
      headers,
    );
  }
  if (table) {
    return send(
      res,
      200,
      toTable(definition, [object], table, {
        resourceVersion: object.metadata.resourceVersion,
      }),
      { ...headers, 'Content-Type': tableContentType(table) },
    );
  }
  send(res, 200, withKind(definition, object), headers);
}

/** `GET …/RESOURCE`: the selected objects at the revision the request asks for, a page at a time. */
export function serveList(request: ResourceRequest, context: HandlerContext): void {
  const { res, definition, namespace, query, table, headers } = request;
  const chosen = selection(definition, query);
  const { store } = context;
  const requested = query.get('resourceVersion') ?? '';
  const match = query.get('resourceVersionMatch') ?? '';
  const continueToken = query.get('continue') ?? '';
  if (match && !requested) {
    throw new HttpError(
      statusObject(
        400,
        'BadRequest',
        'resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided',
      ),
    );
  }
  if (match && match !== 'Exact' && match !== 'NotOlderThan') {
    throw new HttpError(
      statusObject(
        400,
        'BadRequest',
        `resourceVersionMatch: Unsupported value: "${match}": supported values: "Exact", "NotOlderThan"`,
      ),
    );
  }

  let revision = store.currentRevision;
  let offset = 0;
  let objects: StoredObject[] | typeof EXPIRED | typeof TOO_NEW = store.list(definition.name);
  if (continueToken) {
    let decoded: { rv?: unknown; start?: unknown };
    try {
      decoded = JSON.parse(
        Buffer.from(continueToken, 'base64url').toString('utf8'),
      ) as typeof decoded;
    } catch {
      throw new HttpError(
        statusObject(400, 'BadRequest', 'continue key is not valid: illegal base64 data'),
      );
    }
    if (typeof decoded.rv !== 'number' || typeof decoded.start !== 'number') {
      throw new HttpError(statusObject(400, 'BadRequest', 'continue key is not valid'));
    }
    revision = decoded.rv;
    offset = decoded.start;
    objects = store.listAt(definition.name, revision);
    if (objects === EXPIRED) {
      throw new HttpError(
        statusObject(
          410,
          'Expired',
          'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.',
        ),
      );
    }
  } else if (requested && requested !== '0') {
    const wanted = parseRevision(requested);
    if (wanted > store.currentRevision) {
      throw new HttpError(
        statusObject(
          504,
          'Timeout',
          `Too large resource version: ${wanted}, current: ${store.currentRevision}`,
          {
            causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }],
            retryAfterSeconds: 1,
          },
        ),
      );
    }
    if (match === 'Exact') {
      revision = wanted;
      objects = store.listAt(definition.name, wanted);
      if (objects === EXPIRED) {
        throw new HttpError(
          statusObject(410, 'Expired', 'The resourceVersion for the provided list is too old.'),
        );
      }
    }
  }
  if (typeof objects === 'symbol') objects = [];
  const selected = objects.filter((object) => selects(definition, chosen, namespace, object));

  const limit = Number(query.get('limit') ?? '0');
  let page = selected.slice(offset);
  const metadata: ListMeta = { resourceVersion: String(revision) };
  if (Number.isInteger(limit) && limit > 0 && page.length > limit) {
    metadata.continue = Buffer.from(
      JSON.stringify({ rv: revision, start: offset + limit }),
    ).toString('base64url');
    metadata.remainingItemCount = page.length - limit;
    page = page.slice(0, limit);
  }
  if (table) {
    return send(res, 200, toTable(definition, page, table, metadata), {
      ...headers,
      'Content-Type': tableContentType(table),
    });
  }
  send(
    res,
    200,
    {
      kind: `${definition.kind}List`,
      apiVersion: apiVersionOf(definition),
      metadata,
      items: page,
    },
    headers,
  );
}
