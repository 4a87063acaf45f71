/**
 * Code skew on the timeline: one event when skew appears, one each time it changes (other
 * modules or applications differ, or another version turns up), one when it clears. Pure: the
 * diff hands in the skew of the previous and the next state.
 *
 * "Changes" means what differs, not how far a deploy has got: a rolling deploy moving from 3 of 7
 * nodes to 4 of 7 is the same skew (the same modules, the same two versions), so a deploy tells
 * of itself twice — when it starts to differ and when it is done — and a node scanned a moment
 * later than another does not make an event. Each event names a few modules and counts the rest,
 * so it is one small event whatever the number of modules.
 */
import type { TimelineEventDraft } from './cluster-state';
import { codeSkewHeadline, type CodeSkew, type CodeSkewSample } from './code-skew';

/** How many modules (and applications) an event names; the rest are counted. */
export const CODE_SKEW_EVENT_SAMPLE = 5;

/**
 * What the skew is, as a comparable key: each listed module and application with its versions'
 * ids, sorted, and how many differ in all. Node counts and node names are left out on purpose.
 */
export function codeSkewIdentity(skew: CodeSkew | null): string {
  if (!skew) return '';
  const entries = (name: string, versions: ReadonlyArray<{ id: string }>) =>
    `${name}=${versions
      .map((version) => version.id)
      .sort()
      .join(',')}`;
  return [
    `m${skew.moduleCount}`,
    ...skew.modules.map((entry) => entries(entry.module, entry.versions)).sort(),
    `a${skew.applicationCount}`,
    ...skew.applications.map((entry) => entries(entry.application, entry.versions)).sort(),
  ].join(';');
}

/** The bounded sample an event carries: counts and the first few names. */
export function codeSkewSample(skew: CodeSkew): CodeSkewSample {
  return {
    scannedNodes: skew.scannedNodes,
    modules: {
      count: skew.moduleCount,
      sample: skew.modules.slice(0, CODE_SKEW_EVENT_SAMPLE).map((entry) => entry.module),
    },
    applications: {
      count: skew.applicationCount,
      sample: skew.applications.slice(0, CODE_SKEW_EVENT_SAMPLE).map((entry) => entry.application),
    },
  };
}

/** The code skew events between two states' skews: none, or exactly one. */
export function codeSkewEvents(prev: CodeSkew | null, next: CodeSkew | null): TimelineEventDraft[] {
  if (codeSkewIdentity(prev) === codeSkewIdentity(next)) return [];
  if (!next) {
    return [
      {
        kind: 'code_skew_cleared',
        severity: 'info',
        message: 'code skew cleared: every node runs the same code',
      },
    ];
  }
  const appeared = !prev;
  return [
    {
      kind: appeared ? 'code_skew_detected' : 'code_skew_changed',
      severity: 'warning',
      message: `${appeared ? 'code skew' : 'code skew changed'}: ${codeSkewHeadline(next)}`,
      codeSkew: codeSkewSample(next),
    },
  ];
}
