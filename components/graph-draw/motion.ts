/**
 * Entrances and exits of marks, as pure functions of the clock: a frame drawn late draws the
 * same picture as one drawn on time.
 */

/** How long a new mark takes to grow in, ms. */
export const ENTER_MS = 600;
/** How long a gone mark takes to fade out, ms. */
export const LEAVE_MS = 900;
/** A mark is drawn at least this fraction of its size, so it shows from its first frame. */
const MIN_SCALE = 0.05;

/** Fast at first, settling at the end: cubic ease-out of `t` in [0, 1]. */
export function easeOut(t: number): number {
  return 1 - (1 - t) ** 3;
}

/** How far a mark born at `bornAt` has grown in at `now`: 0 at birth, 1 once it has entered. */
export function entranceGrowth(bornAt: number, now: number): number {
  const age = now - bornAt;
  return age >= ENTER_MS ? 1 : easeOut(Math.max(0, age) / ENTER_MS);
}

/** Whether a mark born at `bornAt` is still growing in at `now`. */
export function isEntering(bornAt: number, now: number): boolean {
  return now - bornAt < ENTER_MS;
}

/** The size factor of a mark that has grown in by `growth`. */
export function markScale(growth: number): number {
  return Math.max(MIN_SCALE, growth);
}

/** The opacity of a mark grown in by `growth`: never invisible, opaque before its full size. */
export function entranceOpacity(growth: number): number {
  return Math.min(1, 0.3 + growth);
}

/** How far a mark gone at `leftAt` has faded out at `now`: 0 when it left, 1 when it is gone. */
export function exitProgress(leftAt: number | null, now: number): number {
  return (now - (leftAt ?? now)) / LEAVE_MS;
}

/** The marks among `marks` that are still fading out at `now`. */
export function stillLeaving<T extends { leftAt: number | null }>(marks: T[], now: number): T[] {
  return marks.filter((mark) => now - (mark.leftAt ?? now) < LEAVE_MS);
}
