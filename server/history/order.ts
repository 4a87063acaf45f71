import 'server-only';

// The order keyframes and deltas are applied in: (at, run, seq), as the interface says. The SQL
// stores compare the same tuple with row values.

export interface Position {
  at: number;
  run: string;
  seq: number;
}

export function compareRecorded(a: Position, b: Position): number {
  if (a.at !== b.at) return a.at - b.at;
  if (a.run !== b.run) return a.run < b.run ? -1 : 1;
  return a.seq - b.seq;
}

/** Whether `row` comes strictly after `edge`. */
export function isAfter(row: Position, edge: Position): boolean {
  return compareRecorded(row, edge) > 0;
}
