/**
 * A bench's count flag (`--members 1000`, `--loads 15`): a whole number, at least one, or
 * `fallback` when the flag is absent. Anything else stops the bench with the flag's name: read
 * as `Number(text)`, a typo became NaN, and a loop over NaN rounds measured nothing.
 */
export function countFlag(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const count = Number(text);
  if (!Number.isInteger(count) || count < 1)
    throw new Error(`--${name} takes a whole number, 1 or more (got "${text}")`);
  return count;
}
