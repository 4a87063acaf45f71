import 'server-only';

// Registry count changes, held back and merged: counts move all the time in a busy cluster
// (every device that connects), and a timeline of one event per count change would bury the rest.

import { registryChangedEvent } from '@/lib/cluster-diff';
import type { TimelineEventDraft } from '@/lib/cluster-state';

type RegistryChange = NonNullable<TimelineEventDraft['registries']>[number];

/**
 * Merges registry count changes per node and registry (first `from`, last `to`) and releases
 * them as one `registry_changed` event at most once per `intervalMs`; a count that came back to
 * where it was is not told at all.
 */
export class RegistryChangeBatch {
  private readonly held = new Map<string, RegistryChange>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly intervalMs: number,
    private readonly release: (event: TimelineEventDraft) => void,
  ) {}

  hold(draft: TimelineEventDraft): void {
    for (const change of draft.registries ?? []) {
      const key = `${change.node}\u0000${change.registry}`;
      const held = this.held.get(key);
      this.held.set(key, { ...change, from: held ? held.from : change.from });
    }
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, this.intervalMs);
    this.timer.unref();
  }

  /** Forgets what is held, untold. */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.held.clear();
  }

  private flush(): void {
    const changes = [...this.held.values()].filter((change) => change.from !== change.to);
    this.held.clear();
    if (changes.length > 0) this.release(registryChangedEvent(changes));
  }
}
