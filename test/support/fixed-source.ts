import { EventEmitter } from 'node:events';

import type { KubernetesMember, KubernetesSourceStatus } from '@/lib/members';
import type { KubernetesSourceEvents } from '@/server/kubernetes/source';

/** A Kubernetes side that lists fixed members and is always in sync: a collector's source seam. */
export class FixedSource extends EventEmitter<KubernetesSourceEvents> {
  constructor(private readonly current: KubernetesMember[]) {
    super();
  }
  members(): KubernetesMember[] {
    return this.current;
  }
  status(): KubernetesSourceStatus {
    return { state: 'ok', since: 0 };
  }
}
