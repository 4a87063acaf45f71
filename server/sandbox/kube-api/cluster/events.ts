import 'server-only';

// Event recording: the core/v1 Events the scheduler, kubelet and controllers write, a repeat
// counted on the first one as client-go's recorder does.

import type { EventObject } from '../models';
import { managedFieldsEntry, newUid, timestamp } from '../objects';
import type { ObjectStore } from '../store';

/** The real server lets events expire after an hour; a long sandbox run is bounded by count. */
const MAX_EVENTS = 1000;

/** The object an event is about. */
export interface InvolvedObject {
  kind: string;
  apiVersion: string;
  name: string;
  uid: string;
  fieldPath?: string;
}

/** The component that records an event, and the node it runs on (the kubelet's). */
export interface EventSource {
  component: string;
  host?: string;
}

/** Writes the namespace's events into the store. */
export class EventRecorder {
  /** Tells apart the names of events recorded in the same millisecond. */
  private sequence = 0;

  constructor(
    private readonly store: ObjectStore,
    private readonly namespace: string,
  ) {}

  /** Records a core/v1 Event; a repeat of the same one bumps `count`, as the event recorder does. */
  record(
    involved: InvolvedObject,
    reason: string,
    message: string,
    type: 'Normal' | 'Warning',
    source: EventSource,
  ): void {
    const { namespace } = this;
    const now = Date.now();
    const existing = this.store
      .list('events')
      .find(
        (event) =>
          event.involvedObject.uid === involved.uid &&
          event.reason === reason &&
          event.message === message,
      );
    if (existing) {
      this.store.put('events', {
        ...existing,
        count: (existing.count ?? 1) + 1,
        lastTimestamp: timestamp(now),
      });
      return;
    }
    this.sequence += 1;
    const suffix = (BigInt(now) * 1_000_000n + BigInt(this.sequence)).toString(16);
    const event: EventObject = {
      metadata: {
        name: `${involved.name}.${suffix}`,
        namespace,
        uid: newUid(),
        resourceVersion: '',
        creationTimestamp: timestamp(now),
        managedFields: [
          managedFieldsEntry(
            source.component,
            'v1',
            {
              count: 1,
              firstTimestamp: now,
              involvedObject: involved,
              lastTimestamp: now,
              message,
              reason,
              source,
              type,
            },
            now,
          ),
        ],
      },
      involvedObject: { ...involved, namespace },
      reason,
      message,
      source,
      firstTimestamp: timestamp(now),
      lastTimestamp: timestamp(now),
      count: 1,
      type,
      eventTime: null,
      reportingComponent: source.component,
      reportingInstance: source.host ?? '',
    };
    this.store.put('events', event);
    const events = this.store.list('events');
    for (const old of events.slice(0, Math.max(0, events.length - MAX_EVENTS))) {
      this.store.remove('events', old.metadata.namespace, old.metadata.name);
    }
  }
}
