import 'server-only';

// What the API server needs from the emulated API around it.

import type { SandboxCluster } from '../cluster';
import type { RbacStore } from '../rbac';
import type { ObjectStore } from '../store';

/** A user as the API authenticates a bearer token to it (a TokenReview's `status.user`). */
export interface AccountUser {
  username: string;
  uid: string;
  groups: string[];
}

/** Everything the request handler needs from the emulated API around it. */
export interface HandlerContext {
  store: ObjectStore;
  cluster: SandboxCluster;
  namespace: string;
  /**
   * Bearer token → user name: the sandbox's own tokens (beamscope's and the pods'), which hold the
   * implicit namespace Role (get/list/watch) besides whatever RBAC grants them.
   */
  tokens: Record<string, string>;
  /**
   * Tokens of the service accounts made through the control surface (people, in the tests):
   * what they may do is only what the RBAC store grants them.
   */
  accounts: Map<string, AccountUser>;
  /** Roles, ClusterRoles and their bindings: decide SubjectAccessReviews and accounts' requests. */
  rbac: RbacStore;
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
