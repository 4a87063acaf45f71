import 'server-only';

import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

import { BeamscopeError } from '../../errors';
import type { SandboxCluster } from './cluster';
import type { GuardedResource } from './cluster/sandbox-control';
import { coreVersions, group, groupList, resourceList, SERVER_VERSION } from './discovery';
import { apiVersionOf, resources, type ResourceDefinition } from './resources';
import {
  matchesFields,
  matchesLabels,
  parseFieldSelector,
  parseLabelSelector,
  SelectorParseError,
  type FieldRequirement,
  type LabelRequirement,
} from './selector';
import type { StoredObject } from './models';
import { EXPIRED, TOO_NEW, type Change, type ObjectStore } from './store';

/** The deprecation warning a 1.33+ server sends with every v1 Endpoints response. */
export const ENDPOINTS_WARNING =
  '299 - "v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice"';

/** The message of the ERROR event a watch from a compacted resourceVersion receives. */
export const WATCH_EXPIRED_MESSAGE = 'The resourceVersion for the provided watch is too old.';

const DEFAULT_WATCH_TIMEOUT_SECONDS = 1800;

type Status = {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure';
  message: string;
  reason: string;
  details?: Record<string, unknown>;
  code: number;
};

/** A `metav1.Status` failure, the body of every error response (and of a watch ERROR event). */
export function statusObject(
  code: number,
  reason: string,
  message: string,
  details?: Record<string, unknown>,
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

/** Everything the request handler needs from the emulated API around it. */
export interface HandlerContext {
  store: ObjectStore;
  cluster: SandboxCluster;
  namespace: string;
  tokens: Record<string, string>;
  bookmarkIntervalMs: number;
  /** host:port, for `/api`'s serverAddressByClientCIDRs. */
  serverAddress: () => string;
  /**
   * The pods' own service account: RBAC denials and token rejection set through the control
   * surface are aimed at beamscope and leave it alone (so the pods' mesh survives them), and it
   * may not drive the sandbox.
   */
  podUser?: string;
  /** `POST /_sandbox/stop`: whoever runs the sandbox stops it (absent: the route answers 404). */
  onStopRequested?: () => void;
  /**
   * `POST /_sandbox/faults/outage`: the server stops listening for `ms` (connections refused, open
   * ones reset, as a stopped API server's), then listens again with the same objects. The control
   * surface goes down with it, so the restart — and `replicas`, a scale the cluster makes while
   * the API is down — have to be scheduled up front (absent: 404).
   */
  onOutage?: (ms: number, during?: { replicas?: number }) => void;
}

/** An open watch stream, so the control surface can cut or close it. */
export interface OpenWatch {
  /** The resource watched (its plural name). */
  readonly resource: string;
  close(mode: 'reset' | 'close'): void;
}

interface TableMode {
  version: 'v1' | 'v1beta1';
  include: 'None' | 'Metadata' | 'Object';
}

class HttpError extends Error {
  constructor(readonly status: Status) {
    super(status.message);
  }
}

function send(
  res: ServerResponse,
  code: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(code, {
    'Content-Type': 'application/json',
    'Content-Length': String(Buffer.byteLength(text)),
    'Cache-Control': 'no-cache, private',
    'Audit-Id': randomUUID(),
    ...headers,
  });
  res.end(text);
}

const sendStatus = (res: ServerResponse, status: Status, headers?: Record<string, string>) =>
  send(res, status.code, status, headers);

/** Which Table version (if any) the client's Accept header asks for, as kubectl's does. */
function tableMode(req: IncomingMessage, query: URLSearchParams): TableMode | undefined {
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

/** An object as served on its own or in a watch event: with kind and apiVersion. */
function withKind(definition: ResourceDefinition, object: StoredObject): Record<string, unknown> {
  return { kind: definition.kind, apiVersion: apiVersionOf(definition), ...object };
}

function toTable(
  definition: ResourceDefinition,
  objects: StoredObject[],
  mode: TableMode,
  metadata: Record<string, unknown>,
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

function isTrue(value: string | null): boolean {
  return value !== null && ['true', '1', 'True', 'TRUE'].includes(value);
}

function parseRevision(value: string): number {
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

const qualified = (definition: ResourceDefinition) =>
  definition.group ? `${definition.name}.${definition.group}` : definition.name;

const detailsOf = (definition: ResourceDefinition, name?: string) => ({
  ...(name ? { name } : {}),
  ...(definition.group ? { group: definition.group } : {}),
  kind: definition.name,
});

/** The RBAC denial the real authorizer writes, naming the user, verb, resource, group and scope. */
export function forbiddenStatus(
  definition: ResourceDefinition,
  user: string,
  verb: string,
  namespace: string | undefined,
  name?: string,
): Status {
  const subject = name ? `${qualified(definition)} "${name}"` : qualified(definition);
  const scope =
    namespace === undefined ? 'at the cluster scope' : `in the namespace "${namespace}"`;
  return statusObject(
    403,
    'Forbidden',
    `${subject} is forbidden: User "${user}" cannot ${verb} resource "${definition.name}" in API group "${definition.group}" ${scope}`,
    detailsOf(definition, name),
  );
}

interface Selection {
  labels: LabelRequirement[];
  fields: FieldRequirement[];
}

function selection(definition: ResourceDefinition, query: URLSearchParams): Selection {
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

function selects(
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

const RESOURCE_PATH =
  /^\/(?:api\/v1|apis\/(discovery\.k8s\.io)\/v1)(?:\/namespaces\/([^/]+))?\/([a-z]+)(?:\/([^/]+))?\/?$/;

/**
 * Creates the request handler of the emulated API. Returns the handler and the set of open watches
 * (which `stop()` and the control surface close).
 */
export function createHandler(context: HandlerContext) {
  const watches = new Set<OpenWatch>();

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch((error: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (error instanceof HttpError) sendStatus(res, error.status);
      else
        sendStatus(
          res,
          statusObject(
            500,
            'InternalError',
            'Internal error occurred: the sandbox failed this request',
          ),
        );
    });
  };

  function authenticate(req: IncomingMessage): string | undefined {
    const header = req.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const token = match?.[1];
    // hasOwn: a token spelled like an Object.prototype member must not authenticate.
    return token !== undefined && Object.hasOwn(context.tokens, token)
      ? context.tokens[token]
      : undefined;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sandbox');
    const path = url.pathname;
    req.socket.setNoDelay(true);

    if (path === '/healthz' || path === '/livez' || path === '/readyz') {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('ok');
      return;
    }
    const user = authenticate(req);
    // Like system:public-info-viewer on a real cluster: /version needs no token (the gcloud kubectl
    // dispatcher asks it, tokenless, to pick a kubectl version), though a bad token still gets 401.
    if (
      req.method === 'GET' &&
      (path === '/version' || path === '/version/') &&
      req.headers.authorization === undefined
    ) {
      return send(res, 200, SERVER_VERSION);
    }
    if (path.startsWith('/_sandbox/')) {
      // The control surface ignores setTokenRejected, or a test could never undo it over HTTP.
      if (!user) return sendStatus(res, statusObject(401, 'Unauthorized', 'Unauthorized'));
      if (user === context.podUser) {
        return sendStatus(
          res,
          statusObject(403, 'Forbidden', `User "${user}" may not drive the sandbox`),
        );
      }
      return control(req, res, path);
    }
    const exempt = user !== undefined && user === context.podUser;
    if (!user || (context.cluster.tokenRejected && !exempt)) {
      return sendStatus(res, statusObject(401, 'Unauthorized', 'Unauthorized'));
    }

    if (req.method === 'GET') {
      if (path === '/version' || path === '/version/') return send(res, 200, SERVER_VERSION);
      if (path === '/api' || path === '/api/')
        return send(res, 200, coreVersions(context.serverAddress()));
      if (path === '/apis' || path === '/apis/') return send(res, 200, groupList());
      if (path === '/apis/discovery.k8s.io' || path === '/apis/discovery.k8s.io/')
        return send(res, 200, group());
      const versionMatch = /^\/(api\/v1|apis\/discovery\.k8s\.io\/v1)\/?$/.exec(path);
      if (versionMatch) {
        const list = resourceList(versionMatch[1] === 'api/v1' ? 'v1' : 'discovery.k8s.io/v1');
        if (list) return send(res, 200, list);
      }
    }

    const match = RESOURCE_PATH.exec(path);
    const definition = match
      ? (resources as Record<string, ResourceDefinition | undefined>)[match[3]!]
      : undefined;
    if (!match || !definition || (match[1] ?? '') !== definition.group) {
      return sendStatus(
        res,
        statusObject(404, 'NotFound', 'the server could not find the requested resource', {}),
      );
    }
    const namespace = match[2] === undefined ? undefined : decodeURIComponent(match[2]);
    const name = match[4] === undefined ? undefined : decodeURIComponent(match[4]);
    const query = url.searchParams;
    const watch = req.method === 'GET' && isTrue(query.get('watch'));
    const verb =
      req.method === 'GET'
        ? watch
          ? 'watch'
          : name
            ? 'get'
            : 'list'
        : ((
            {
              POST: 'create',
              PUT: 'update',
              PATCH: 'patch',
              DELETE: name ? 'delete' : 'deletecollection',
            } as Record<string, string>
          )[req.method ?? ''] ?? (req.method ?? 'unknown').toLowerCase());

    const headers: Record<string, string> =
      definition.name === 'endpoints' ? { Warning: ENDPOINTS_WARNING } : {};
    // The sandbox's user holds a namespace Role: get/list/watch in the sandbox namespace only.
    const allowed =
      namespace === context.namespace &&
      ['get', 'list', 'watch'].includes(verb) &&
      (exempt || !context.cluster.forbidden.has(definition.name as GuardedResource));
    if (!allowed) {
      return sendStatus(
        res,
        forbiddenStatus(definition, user, verb, namespace, watch ? undefined : name),
        headers,
      );
    }

    const table = tableMode(req, query);
    if (watch) return serveWatch(req, res, definition, namespace, name, query, table, headers);
    if (name) {
      const object = context.store.get(definition.name, context.namespace, name);
      if (!object) {
        return sendStatus(
          res,
          statusObject(
            404,
            'NotFound',
            `${qualified(definition)} "${name}" not found`,
            detailsOf(definition, name),
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
          {
            ...headers,
            'Content-Type': `application/json;as=Table;v=${table.version};g=meta.k8s.io`,
          },
        );
      }
      return send(res, 200, withKind(definition, object), headers);
    }
    return serveList(res, definition, namespace, query, table, headers);
  }

  function serveList(
    res: ServerResponse,
    definition: ResourceDefinition,
    namespace: string | undefined,
    query: URLSearchParams,
    table: TableMode | undefined,
    headers: Record<string, string>,
  ): void {
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
              causes: [
                { reason: 'ResourceVersionTooLarge', message: 'Too large resource version' },
              ],
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
    const metadata: Record<string, unknown> = { resourceVersion: String(revision) };
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
        'Content-Type': `application/json;as=Table;v=${table.version};g=meta.k8s.io`,
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

  function serveWatch(
    req: IncomingMessage,
    res: ServerResponse,
    definition: ResourceDefinition,
    namespace: string | undefined,
    name: string | undefined,
    query: URLSearchParams,
    table: TableMode | undefined,
    headers: Record<string, string>,
  ): void {
    const chosen = selection(definition, query);
    // A watch on /NAME is a watch with fieldSelector metadata.name=NAME.
    if (name) chosen.fields.push({ field: 'metadata.name', value: name, negated: false });
    const requested = query.get('resourceVersion') ?? '';
    const from = requested && requested !== '0' ? parseRevision(requested) : undefined;
    const timeoutText = query.get('timeoutSeconds');
    const timeoutSeconds =
      timeoutText && /^\d+$/.test(timeoutText)
        ? Number(timeoutText)
        : DEFAULT_WATCH_TIMEOUT_SECONDS;
    const bookmarks = isTrue(query.get('allowWatchBookmarks'));
    const { store } = context;

    res.writeHead(200, {
      'Content-Type': table
        ? `application/json;as=Table;v=${table.version};g=meta.k8s.io`
        : 'application/json',
      'Cache-Control': 'no-cache, private',
      'Audit-Id': randomUUID(),
      ...headers,
    });
    res.flushHeaders();

    let columnsSent = false;
    const write = (type: string, object: unknown) => {
      if (!res.writableEnded && !res.destroyed) res.write(JSON.stringify({ type, object }) + '\n');
    };
    const emit = (type: 'ADDED' | 'MODIFIED' | 'DELETED', object: StoredObject) => {
      if (table) {
        write(
          type,
          toTable(
            definition,
            [object],
            table,
            { resourceVersion: object.metadata.resourceVersion },
            !columnsSent,
          ),
        );
        columnsSent = true;
      } else {
        write(type, withKind(definition, object));
      }
    };
    const matches = (object: StoredObject | undefined) =>
      object !== undefined && selects(definition, chosen, namespace, object);

    // As the watch cache does: a write that moves an object into the selection is ADDED to this
    // watch, one that moves it out is DELETED (the old content, at the new resourceVersion).
    const deliver = (change: Change) => {
      if (change.resource !== definition.name) return;
      const now = matches(change.object) && change.type !== 'DELETED';
      const before = change.type === 'ADDED' ? false : matches(change.previous);
      if (change.type === 'DELETED') {
        if (before) emit('DELETED', change.object);
      } else if (now && before) {
        emit('MODIFIED', change.object);
      } else if (now) {
        emit('ADDED', change.object);
      } else if (before && change.previous) {
        emit('DELETED', {
          ...change.previous,
          metadata: {
            ...change.previous.metadata,
            resourceVersion: change.object.metadata.resourceVersion,
          },
        });
      }
    };

    const timers: NodeJS.Timeout[] = [];
    let unsubscribe = () => {};
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      unsubscribe();
      for (const timer of timers) clearTimeout(timer);
      watches.delete(openWatch);
    };
    const openWatch: OpenWatch = {
      resource: definition.name,
      close(mode) {
        finish();
        if (mode === 'reset') req.socket.destroy();
        else res.end();
      },
    };
    watches.add(openWatch);
    req.on('close', finish);
    res.on('close', finish);

    if (from === undefined) {
      for (const object of store.list(definition.name)) if (matches(object)) emit('ADDED', object);
    } else {
      const history = store.changesSince(from);
      if (history === EXPIRED || history === TOO_NEW) {
        write(
          'ERROR',
          history === EXPIRED
            ? statusObject(410, 'Expired', WATCH_EXPIRED_MESSAGE)
            : statusObject(
                504,
                'Timeout',
                `Too large resource version: ${from}, current: ${store.currentRevision}`,
              ),
        );
        openWatch.close('close');
        return;
      }
      for (const change of history) deliver(change);
    }
    unsubscribe = store.subscribe(deliver);

    if (bookmarks) {
      const interval = setInterval(() => {
        write('BOOKMARK', {
          kind: definition.kind,
          apiVersion: apiVersionOf(definition),
          metadata: { resourceVersion: String(store.currentRevision) },
        });
      }, context.bookmarkIntervalMs);
      timers.push(interval);
    }
    timers.push(setTimeout(() => openWatch.close('close'), timeoutSeconds * 1000));
  }

  async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > 65536)
        throw new BeamscopeError('sandbox', 'bad_request', 'request body too large');
      chunks.push(chunk);
    }
    const text = Buffer.concat(chunks).toString('utf8').trim();
    if (!text) return {};
    try {
      const value: unknown = JSON.parse(text);
      if (value && typeof value === 'object' && !Array.isArray(value))
        return value as Record<string, unknown>;
    } catch {
      // fall through to the error below
    }
    throw new BeamscopeError('sandbox', 'bad_request', 'the request body must be a JSON object');
  }

  async function control(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const { cluster } = context;
    const method = req.method ?? 'GET';
    const reply = (body: unknown, code = 200) => send(res, code, body);
    try {
      const body = method === 'GET' || method === 'DELETE' ? {} : await readJson(req);
      const pod = /^\/_sandbox\/pods\/([^/]+)(?:\/(ready|kill|miscookie))?$/.exec(path);
      if (path === '/_sandbox/pods' && method === 'GET') return reply(cluster.pods());
      if (path === '/_sandbox/pods' && method === 'POST') {
        return reply(
          await cluster.createPod(body as Parameters<SandboxCluster['createPod']>[0]),
          201,
        );
      }
      if (pod && pod[2] === 'ready' && method === 'POST') {
        cluster.setPodReady(decodeURIComponent(pod[1]!), body.ready !== false);
        // `at`: when the change was committed, so a benchmark times from it, not from the request.
        return reply({ ok: true, at: Date.now() });
      }
      if (pod && pod[2] === 'kill' && method === 'POST') {
        // The SIGKILL goes out before killPod's first await: that is the moment of the change.
        const at = Date.now();
        return reply({ ok: true, pod: await cluster.killPod(decodeURIComponent(pod[1]!)), at });
      }
      if (pod && pod[2] === 'miscookie' && method === 'POST') {
        const name = decodeURIComponent(pod[1]!);
        return reply({ ok: true, pod: await cluster.miscookie(name, body.restore === true) });
      }
      if (path === '/_sandbox/partition' && method === 'POST') {
        return reply({ ok: true, sides: await cluster.partition(body.sides as string[][]) });
      }
      if (path === '/_sandbox/heal' && method === 'POST') {
        await cluster.heal();
        return reply({ ok: true });
      }
      if (path === '/_sandbox/status' && method === 'GET') {
        return reply(await cluster.status());
      }
      if (path === '/_sandbox/stop' && method === 'POST' && context.onStopRequested) {
        const stop = context.onStopRequested;
        // Answer first: stopping closes this server.
        res.once('finish', () => setImmediate(stop));
        return reply({ ok: true, stopping: true }, 202);
      }
      if (pod && !pod[2] && method === 'DELETE') {
        cluster.deletePod(decodeURIComponent(pod[1]!));
        return reply({ ok: true, at: Date.now() }, 202);
      }
      if (path === '/_sandbox/scale' && method === 'POST') {
        // Scaling writes (or marks terminating) the pods before its first await.
        const at = Date.now();
        await cluster.scale(Number(body.replicas));
        return reply({ ok: true, pods: cluster.pods(), at });
      }
      if (path === '/_sandbox/compact' && method === 'POST') {
        cluster.compact();
        return reply({ ok: true, resourceVersion: String(context.store.currentRevision) });
      }
      if (path === '/_sandbox/forbidden' && method === 'POST') {
        const resource = String(body.resource);
        if (!['endpointslices', 'endpoints', 'pods', 'events'].includes(resource)) {
          throw new BeamscopeError('sandbox', 'bad_request', `cannot forbid "${resource}"`);
        }
        cluster.setForbidden(resource as GuardedResource, body.forbidden !== false);
        return reply({ ok: true });
      }
      if (path === '/_sandbox/token-rejected' && method === 'POST') {
        cluster.setTokenRejected(body.rejected !== false);
        return reply({ ok: true });
      }
      if (path === '/_sandbox/drop-watches' && method === 'POST') {
        cluster.dropWatches();
        return reply({ ok: true });
      }
      if (path.startsWith('/_sandbox/faults/')) return faults(req, res, path, method, body);
      return reply(
        { error: { code: 'not_found', message: `no control route ${method} ${path}` } },
        404,
      );
    } catch (error) {
      if (!(error instanceof BeamscopeError)) throw error;
      const code =
        error.code === 'pod_not_found'
          ? 404
          : ['pod_exists', 'ip_in_use', 'pod_not_running', 'not_supported'].includes(error.code)
            ? 409
            : error.code.startsWith('pod_command') || error.code.startsWith('pod_start')
              ? 500
              : 400;
      return reply({ error: { code: error.code, message: error.message } }, code);
    }
  }

  /** Stops the running 410 storm, if any. */
  let stopStorm: (() => void) | undefined;

  /**
   * The fault-injection routes (reliability tests): each does what a real API server does in
   * that situation, so the client under test meets the failure it would meet in a cluster.
   */
  function faults(
    _req: IncomingMessage,
    res: ServerResponse,
    path: string,
    method: string,
    body: Record<string, unknown>,
  ): void {
    const reply = (payload: unknown, code = 200) => send(res, code, payload);
    const milliseconds = (value: unknown, max = 600_000) => {
      const ms = Number(value);
      if (!Number.isFinite(ms) || ms < 0 || ms > max) {
        throw new BeamscopeError('sandbox', 'bad_request', `"ms" must be 0..${max} milliseconds`);
      }
      return ms;
    };
    if (path === '/_sandbox/faults/watches' && method === 'GET') {
      const byResource: Record<string, number> = {};
      for (const watch of watches)
        byResource[watch.resource] = (byResource[watch.resource] ?? 0) + 1;
      return reply({ open: watches.size, byResource });
    }
    if (path === '/_sandbox/faults/outage' && method === 'POST' && context.onOutage) {
      const ms = milliseconds(body.ms);
      const replicas = body.replicas === undefined ? undefined : Number(body.replicas);
      if (
        replicas !== undefined &&
        !(Number.isInteger(replicas) && replicas >= 0 && replicas <= 50)
      ) {
        throw new BeamscopeError('sandbox', 'bad_request', '"replicas" must be an integer 0..50');
      }
      const outage = context.onOutage;
      // Answer first: the outage closes this connection too.
      res.once('finish', () =>
        setImmediate(() => outage(ms, replicas === undefined ? undefined : { replicas })),
      );
      return reply({ ok: true, ms, ...(replicas === undefined ? {} : { replicas }) }, 202);
    }
    if (path === '/_sandbox/faults/cut-watches' && method === 'POST') {
      // close: the chunked response ends, as at a watch timeout or an API server's graceful
      // shutdown; reset: the connection is cut, as by a load balancer or a network fault.
      const mode = body.mode === 'reset' ? 'reset' : 'close';
      const fraction = body.fraction === undefined ? 1 : Number(body.fraction);
      if (!Number.isFinite(fraction) || fraction <= 0 || fraction > 1) {
        throw new BeamscopeError('sandbox', 'bad_request', '"fraction" must be in (0, 1]');
      }
      const resource = typeof body.resource === 'string' ? body.resource : undefined;
      const open = [...watches].filter((watch) => !resource || watch.resource === resource);
      // A random subset, at least one when any is open.
      const shuffled = open
        .map((watch) => ({ watch, order: Math.random() }))
        .sort((a, b) => a.order - b.order)
        .map(({ watch }) => watch);
      const chosen = shuffled.slice(
        0,
        Math.max(open.length ? 1 : 0, Math.round(open.length * fraction)),
      );
      for (const watch of chosen) watch.close(mode);
      return reply({
        ok: true,
        mode,
        cut: chosen.map((watch) => watch.resource),
        open: open.length,
      });
    }
    if (path === '/_sandbox/faults/expire-storm' && method === 'POST') {
      // A 410 storm: the watch cache is compacted again and again, so resumes get 410 Expired
      // and the re-lists' resourceVersions expire soon after.
      const ms = milliseconds(body.ms);
      const everyMs = body.everyMs === undefined ? 250 : milliseconds(body.everyMs, 60_000);
      if (everyMs < 10) {
        throw new BeamscopeError('sandbox', 'bad_request', '"everyMs" must be at least 10');
      }
      stopStorm?.();
      context.cluster.compact();
      const interval = setInterval(() => context.cluster.compact(), everyMs);
      const end = setTimeout(() => stopStorm?.(), ms);
      interval.unref();
      end.unref();
      stopStorm = () => {
        clearInterval(interval);
        clearTimeout(end);
        stopStorm = undefined;
      };
      return reply({ ok: true, ms, everyMs });
    }
    return reply(
      { error: { code: 'not_found', message: `no fault route ${method} ${path}` } },
      404,
    );
  }

  return { handler, watches, stopFaults: () => stopStorm?.() };
}
