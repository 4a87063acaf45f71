/**
 * Figures as `bench/run.ts` tabulates them. A part's result may hold them anywhere: every object
 * with a numeric (or null) `value` and a string `unit` is a figure, named by its path in the
 * result unless it carries a `label`. `goal` is an upper bound unless `goalKind` says 'min'.
 */

export interface Figure {
  value: number | null;
  unit: string;
  /** What the table shows in its first column; default: the figure's path in the result. */
  label?: string;
  goal?: number;
  goalKind?: 'max' | 'min';
  met?: boolean | null;
  /** How many measurements the value summarises. */
  samples?: number;
}

/** A figure against its goal (`value <= goal`, or `>=` for goalKind 'min'). */
export function goalFigure(
  label: string,
  value: number | null,
  goal: number,
  unit: string,
  samples?: number,
  goalKind: 'max' | 'min' = 'max',
): Figure {
  const met = value === null ? false : goalKind === 'max' ? value <= goal : value >= goal;
  return {
    label,
    value,
    unit,
    goal,
    ...(goalKind === 'min' ? { goalKind } : {}),
    met,
    ...(samples === undefined ? {} : { samples }),
  };
}

/** A figure for context (a baseline, a ratio): no goal. */
export function plainFigure(
  label: string,
  value: number | null,
  unit: string,
  samples?: number,
): Figure {
  return { label, value, unit, ...(samples === undefined ? {} : { samples }) };
}

function isFigure(value: unknown): value is Figure {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return false;
  const record = value as Record<string, unknown>;
  return (
    'value' in record &&
    (typeof record.value === 'number' || record.value === null) &&
    typeof record.unit === 'string'
  );
}

/** Every figure in a part's result, depth first, with its path (`a.b.c`). */
export function collectFigures(
  result: unknown,
  path = '',
): Array<{ path: string; figure: Figure }> {
  if (isFigure(result)) return [{ path, figure: result }];
  if (!result || typeof result !== 'object') return [];
  const found: Array<{ path: string; figure: Figure }> = [];
  for (const [key, value] of Object.entries(result as Record<string, unknown>)) {
    found.push(...collectFigures(value, path ? `${path}.${key}` : key));
  }
  return found;
}
