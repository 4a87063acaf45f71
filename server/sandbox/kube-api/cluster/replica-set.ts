import 'server-only';

// The Deployment and its ReplicaSet controller: creating the Deployment's pods from its template,
// and scaling, which deletes the unready pods first and then the youngest.

import { BeamscopeError } from '../../../errors';
import { newUid, randomSuffix } from '../objects';
import type { EventRecorder, InvolvedObject } from './events';
import type { ReplicaSet } from './pod-object';
import type { PodLifecycle } from './pods';
import type { PodInfo, SandboxControl } from './sandbox-control';

/** A Deployment named `name` and the one ReplicaSet it runs. */
export function newReplicaSet(name: string): ReplicaSet {
  const hash = randomSuffix(10);
  return { name: `${name}-${hash}`, uid: newUid(), hash };
}

/** Creates and deletes the Deployment's pods, with the events the real controllers record. */
export class ReplicaSetController {
  private readonly deploymentUid = newUid();

  constructor(
    private readonly pods: PodLifecycle,
    private readonly events: EventRecorder,
    private readonly deployment: string,
    /** The current ReplicaSet: a rollout replaces it. */
    private replicaSet: ReplicaSet,
    /** The labels of the pod template: the Service's selector. */
    private readonly selector: Record<string, string>,
  ) {}

  /** A pod of the template, or (with `labels`) any pod; see {@link SandboxControl.createPod}. */
  async createPod(spec: Parameters<SandboxControl['createPod']>[0] = {}): Promise<PodInfo> {
    const record = this.pods.admit({
      ...spec,
      replicaSet: this.replicaSet,
      name: spec.name ?? this.generatedName(),
      // Only an absent `labels` takes the template's: a null one is the caller's to be told off.
      labels:
        spec.labels === undefined
          ? { ...this.selector, 'pod-template-hash': this.replicaSet.hash }
          : spec.labels,
    });
    this.events.record(this.ref(), 'SuccessfulCreate', `Created pod: ${record.name}`, 'Normal', {
      component: 'replicaset-controller',
    });
    return this.pods.run(record, spec);
  }

  /**
   * A free `<replicaset>-<5 random>` name. Kubernetes retries generateName on a conflict; without
   * that, 600 pods drew the same suffix twice often enough to fail a bench's start (about 1 in 80
   * runs: 27⁵ suffixes, birthday odds).
   */
  private generatedName(): string {
    for (;;) {
      const name = `${this.replicaSet.name}-${randomSuffix(5)}`;
      if (!this.pods.has(name)) return name;
    }
  }

  async scale(replicas: number): Promise<void> {
    if (!Number.isInteger(replicas) || replicas < 0) {
      throw new BeamscopeError(
        'sandbox',
        'invalid_replicas',
        `replicas must be a whole number, not ${replicas}`,
      );
    }
    const live = this.pods.all().filter((record) => !record.terminating);
    const current = live.length;
    if (replicas === current) return;
    const deploymentRef = {
      kind: 'Deployment',
      apiVersion: 'apps/v1',
      name: this.deployment,
      uid: this.deploymentUid,
    };
    const direction = replicas > current ? 'up' : 'down';
    this.events.record(
      deploymentRef,
      'ScalingReplicaSet',
      `Scaled ${direction} replica set ${this.replicaSet.name} from ${current} to ${replicas}`,
      'Normal',
      { component: 'deployment-controller' },
    );
    if (replicas > current) {
      await Promise.all(Array.from({ length: replicas - current }, () => this.createPod()));
      return;
    }
    // The ReplicaSet controller deletes unready pods first, then the youngest.
    const victims = [...live]
      .sort((a, b) => Number(a.ready) - Number(b.ready) || b.createdAt - a.createdAt)
      .slice(0, current - replicas);
    for (const victim of victims) {
      this.pods.delete(victim.name);
      this.events.record(this.ref(), 'SuccessfulDelete', `Deleted pod: ${victim.name}`, 'Normal', {
        component: 'replicaset-controller',
      });
    }
  }

  /**
   * `kubectl rollout restart`: a new ReplicaSet takes over from the old one in steps of 25 % of
   * the replicas (maxSurge 25 %, maxUnavailable 0 here): its new pods are created and become
   * Ready, then as many old pods are deleted, as the Deployment controller does. Resolves once
   * no old pod is left running. `maxSurge`: pods replaced per step instead (1: one by one).
   */
  async rolloutRestart(timeoutMs = 600_000, maxSurge?: number): Promise<void> {
    const old = this.replicaSet;
    const next = newReplicaSet(this.deployment);
    this.replicaSet = next;
    const isOld = (record: { labels: Record<string, string>; terminating: boolean }) =>
      !record.terminating && record.labels['pod-template-hash'] === old.hash;
    const total = this.pods.all().filter(isOld).length;
    const step = Math.max(1, maxSurge ?? Math.ceil(total / 4));
    const deadline = Date.now() + timeoutMs;
    let created = 0;
    while (this.pods.all().some(isOld)) {
      const count = Math.min(step, this.pods.all().filter(isOld).length);
      this.scaledEvent('up', next, created, created + count);
      const fresh = await Promise.all(Array.from({ length: count }, () => this.createPod()));
      created += count;
      // maxUnavailable 0: the old pods go only once their replacements serve.
      while (!fresh.every((pod) => this.pods.all().some((r) => r.name === pod.name && r.ready))) {
        if (Date.now() > deadline) {
          throw new BeamscopeError('sandbox', 'control_timeout', 'the new pods never became Ready');
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const remaining = this.pods.all().filter(isOld);
      const victims = [...remaining]
        .sort((a, b) => Number(a.ready) - Number(b.ready) || b.createdAt - a.createdAt)
        .slice(0, count);
      this.scaledEvent('down', old, remaining.length, remaining.length - victims.length);
      for (const victim of victims) {
        this.pods.delete(victim.name);
        this.events.record(
          this.ref(old),
          'SuccessfulDelete',
          `Deleted pod: ${victim.name}`,
          'Normal',
          {
            component: 'replicaset-controller',
          },
        );
      }
    }
  }

  /** Creates a pod for each one the cluster lost (a node gone): the replicas are restored. */
  async replace(count: number): Promise<void> {
    await Promise.all(Array.from({ length: count }, () => this.createPod()));
  }

  private scaledEvent(direction: 'up' | 'down', replicaSet: ReplicaSet, from: number, to: number) {
    this.events.record(
      this.deploymentRef(),
      'ScalingReplicaSet',
      `Scaled ${direction} replica set ${replicaSet.name} from ${from} to ${to}`,
      'Normal',
      { component: 'deployment-controller' },
    );
  }

  private deploymentRef(): InvolvedObject {
    return {
      kind: 'Deployment',
      apiVersion: 'apps/v1',
      name: this.deployment,
      uid: this.deploymentUid,
    };
  }

  private ref(replicaSet = this.replicaSet): InvolvedObject {
    return {
      kind: 'ReplicaSet',
      apiVersion: 'apps/v1',
      name: replicaSet.name,
      uid: replicaSet.uid,
    };
  }
}
