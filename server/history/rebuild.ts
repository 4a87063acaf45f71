import 'server-only';

// The past rebuilt: a recorded keyframe and the deltas after it give the state that was live at
// any moment between them. Pure, so a property test can hold it to "rebuilt(T) = live(T)".

import type { ClusterState } from '@/lib/cluster-state';
import { applyWireDelta, expandState } from '@/lib/peer-wire';

import type { RecordedDelta, RecordedKeyframe } from './store';

/**
 * The state as of the last of `deltas`: the keyframe expanded, then each delta (compact, as
 * recorded) applied in order. Deltas of another run, or at or before the keyframe's sequence
 * number, are not the keyframe's continuation and are skipped.
 */
export function rebuildStateAt(
  keyframe: RecordedKeyframe,
  deltas: readonly RecordedDelta[],
): ClusterState {
  let state = expandState(keyframe.state);
  for (const delta of deltas) {
    if (delta.run !== keyframe.run || delta.seq <= keyframe.seq) continue;
    state = applyWireDelta(state, delta.delta);
  }
  return state;
}
