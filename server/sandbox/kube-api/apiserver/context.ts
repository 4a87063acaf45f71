import 'server-only';

// What the API server needs from the emulated API around it.

import type { SandboxCluster } from '../cluster';
import type { ObjectStore } from '../store';

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
