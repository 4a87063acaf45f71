import 'server-only';

// The emulated Kubernetes API that the sandbox and the tests run against: a real HTTP(S) server
// (apiserver/) over one namespace's objects in an etcd-like store (store.ts), which the emulated
// cluster (cluster/: scheduler, kubelet, controllers, events) writes as a real one would — so
// @kubernetes/client-node and kubectl meet the semantics they rely on. models.ts types the objects
// with client-node's models, resources.ts says how each resource is served, selector.ts parses
// label and field selectors. This file starts it all and owns the listener: TLS, stop and start,
// and the outage fault.

import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { BeamscopeError } from '../../errors';
import { generateCertificates } from '../certs';
import { SandboxCluster } from './cluster';
import type { PodRuntime, SandboxControl } from './cluster/sandbox-control';
import { createHandler } from './apiserver';
import { RbacStore } from './rbac';
import { ObjectStore } from './store';
import type { AccountUser } from './apiserver/context';

export type {
  ContainerExit,
  GuardedResource,
  PodInfo,
  PodRuntime,
  PodStatusReport,
  SandboxControl,
} from './cluster/sandbox-control';
export { ENDPOINTS_WARNING, WATCH_EXPIRED_MESSAGE } from './apiserver';

/** Options of {@link startEmulatedApi}. */
export interface EmulatedApiOptions {
  /** Listen address; default 127.0.0.1. */
  host?: string;
  /** Default 0 (ephemeral). */
  port?: number;
  /** HTTPS with a freshly generated CA (see `caFile`/`caPem`); default false. */
  tls?: boolean;
  /** The one namespace the sandbox's objects live in and its token may read; default 'default'. */
  namespace?: string;
  /** The Service whose pods and endpoints are emulated; default myapp with app=myapp. */
  service?: { name: string; labels: Record<string, string>; selector: Record<string, string> };
  /** Bearer token → username; default one generated token for the `beamscope` service account. */
  tokens?: Record<string, string>;
  /** Pod Running → Ready delay when no podRuntime decides it; default 300. */
  readyDelayMs?: number;
  /** Delete → gone (sooner when a podRuntime has stopped the container); default 500. */
  terminationGraceMs?: number;
  /** First back-off before a crashed container restarts (doubling per crash in a row); default 1000. */
  restartBackoffMs?: number;
  /** `POST /_sandbox/stop` calls it (the `beamscope sandbox` process stops); absent = no such route. */
  onStopRequested?: () => void;
  /** Seam for running something real per pod (a later issue: a BEAM node on the pod's IP). */
  podRuntime?: PodRuntime;
  /** Period of BOOKMARK events on watches that allow them; default 10000 (the real server: ~1 min). */
  bookmarkIntervalMs?: number;
  /** Endpoints per EndpointSlice; default 100 as in Kubernetes. Lower it to test several slices. */
  maxEndpointsPerSlice?: number;
  /** Writes kept for watches before the oldest half is forgotten; default 5000. */
  historyLimit?: number;
}

/** A running emulated API server; see {@link startEmulatedApi}. */
export interface EmulatedApi {
  /** `http(s)://HOST:PORT`. */
  url: string;
  /**
   * The CA that signed the server certificate (TLS only). The file exists while the server runs:
   * stop() removes it and start() writes it back, so keep `caPem` if you need it across a stop.
   */
  caFile?: string;
  caPem?: string;
  /** A valid bearer token (beamscope's: `setForbidden` and `setTokenRejected` aim at its user). */
  token: string;
  /**
   * The pods' own token, for the service account `system:serviceaccount:<namespace>:<service>`.
   * `setForbidden`/`setTokenRejected` leave it alone, as a Role change for beamscope would, so the
   * pods keep finding each other; it cannot drive `/_sandbox/*`.
   */
  podToken: string;
  namespace: string;
  control: SandboxControl;
  /**
   * Roles, ClusterRoles and bindings: they decide SubjectAccessReviews, who may create reviews,
   * and what accounts may read (the control surface's `/_sandbox/rbac` writes the same store).
   */
  rbac: RbacStore;
  /** Closes the server and every open watch; the objects and the pods' lifecycles go on. */
  stop(): Promise<void>;
  /** Listens again on the same port after stop(), with the same objects. */
  start(): Promise<void>;
}

/**
 * Starts an emulated Kubernetes API server over real HTTP(S), with one Service (`myapp`), no pods
 * yet, and the EndpointSlice/Endpoints controllers and event recording running against them. It
 * serves discovery, list/get/watch of pods, endpoints, endpointslices, events and services in one
 * namespace, with the semantics (resourceVersions, selectors, bookmarks, 410, RBAC 403) clients
 * such as `@kubernetes/client-node` and `kubectl` rely on.
 */
export async function startEmulatedApi(options: EmulatedApiOptions = {}): Promise<EmulatedApi> {
  const host = options.host ?? '127.0.0.1';
  const namespace = options.namespace ?? 'default';
  const token = randomBytes(24).toString('base64url');
  const tokens = options.tokens ?? { [token]: `system:serviceaccount:${namespace}:beamscope` };
  const firstToken = Object.keys(tokens)[0];
  if (firstToken === undefined) {
    throw new BeamscopeError(
      'sandbox',
      'no_tokens',
      'the emulated API needs at least one bearer token',
    );
  }

  const service = options.service ?? {
    name: 'myapp',
    labels: { app: 'myapp' },
    selector: { app: 'myapp' },
  };
  const podUser = `system:serviceaccount:${namespace}:${service.name}`;
  const podToken = randomBytes(24).toString('base64url');
  // The pods' token is added last, so the first (default) token stays beamscope's.
  const allTokens = { ...tokens, [podToken]: podUser };

  const store = new ObjectStore(options.historyLimit);
  const rbac = new RbacStore();
  const accounts = new Map<string, AccountUser>();
  let closeWatches: (mode: 'reset' | 'close') => void = () => {};
  const cluster = new SandboxCluster(store, {
    namespace,
    service,
    readyDelayMs: options.readyDelayMs ?? 300,
    terminationGraceMs: options.terminationGraceMs ?? 500,
    restartBackoffMs: options.restartBackoffMs,
    podRuntime: options.podRuntime,
    maxEndpointsPerSlice: options.maxEndpointsPerSlice,
    onDropWatches: (mode) => closeWatches(mode),
  });

  let port = options.port ?? 0;
  let outage: (ms: number, during?: { replicas?: number }) => void = () => {};
  const { handler, watches, stopFaults } = createHandler({
    store,
    cluster,
    namespace,
    tokens: allTokens,
    accounts,
    rbac,
    podUser,
    onStopRequested: options.onStopRequested,
    onOutage: (ms, during) => outage(ms, during),
    bookmarkIntervalMs: options.bookmarkIntervalMs ?? 10_000,
    serverAddress: () => `${host}:${port}`,
  });
  closeWatches = (mode) => {
    for (const watch of [...watches]) watch.close(mode);
  };

  let caFile: string | undefined;
  let caPem: string | undefined;
  let certificateDir: string | undefined;
  let server: Server;
  if (options.tls) {
    certificateDir = await mkdtemp(join(tmpdir(), 'beamscope-sandbox-tls-'));
    const certs = await generateCertificates(certificateDir, {
      commonName: 'beamscope-sandbox-apiserver',
      ipAddresses: ['127.0.0.1', ...(host !== '127.0.0.1' && /^[\d.]+$/.test(host) ? [host] : [])],
      dnsNames: ['localhost', 'kubernetes', 'kubernetes.default.svc'],
    });
    caFile = certs.caFile;
    caPem = certs.caPem;
    // Only the CA leaves this module as a file; the server's key pair stays in memory.
    const cert = await readFile(certs.certFile);
    const key = await readFile(certs.keyFile);
    for (const file of [certs.certFile, certs.keyFile, certs.clientCertFile, certs.clientKeyFile]) {
      await rm(file, { force: true });
    }
    server = createHttpsServer({ cert, key }, handler);
  } else {
    server = createHttpServer(handler);
  }

  // Every socket the listener accepted, from its TCP connect on. `closeAllConnections()` knows a
  // TLS connection only once its handshake is done: one accepted just before a stop, a pod's
  // request mid-handshake, would otherwise hold `server.close()` open for as long as the pod
  // lives, and the sandbox's pods live until the sandbox has stopped.
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException) => {
        reject(
          new BeamscopeError(
            'sandbox',
            'listen_failed',
            `the emulated API cannot listen on ${host}:${port}: ${error.code ?? error.message}`,
            {
              cause: error,
              exitCode: 3,
            },
          ),
        );
      };
      server.once('error', onError);
      server.listen(port, host, () => {
        server.off('error', onError);
        port = (server.address() as AddressInfo).port;
        resolve();
      });
    });
  await listen();

  let running = true;
  const close = async () => {
    if (!running) return;
    running = false;
    closeWatches('reset');
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    await closed;
    if (certificateDir) await rm(certificateDir, { recursive: true, force: true });
  };
  const open = async () => {
    if (running) return;
    if (certificateDir && caFile && caPem) {
      await mkdir(certificateDir, { recursive: true, mode: 0o700 });
      await writeFile(caFile, caPem);
    }
    await listen();
    running = true;
  };
  let outageTimer: NodeJS.Timeout | undefined;
  let outageChange: NodeJS.Timeout | undefined;
  const cancelOutage = () => {
    clearTimeout(outageTimer);
    clearTimeout(outageChange);
    outageTimer = undefined;
    outageChange = undefined;
  };
  outage = (ms, during) => {
    cancelOutage();
    void close().then(() => {
      const replicas = during?.replicas;
      if (replicas !== undefined) {
        // Halfway through: the controllers write while no client can watch, so a client must
        // re-list to see it (and to see what was deleted).
        outageChange = setTimeout(() => {
          outageChange = undefined;
          cluster.scale(replicas).catch(() => undefined);
        }, ms / 2);
      }
      outageTimer = setTimeout(() => {
        outageTimer = undefined;
        // The port is ours and was free a moment ago; should it fail, the next outage or stop sees it.
        open().catch(() => undefined);
      }, ms);
    });
  };
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `${options.tls ? 'https' : 'http'}://${urlHost}:${port}`,
    caFile,
    caPem,
    token: firstToken,
    podToken,
    namespace,
    control: cluster,
    rbac,
    async stop() {
      // Stopping for good: a scheduled restart after an outage must not listen again.
      cancelOutage();
      stopFaults();
      await close();
    },
    async start() {
      cancelOutage();
      await open();
    },
  };
}
