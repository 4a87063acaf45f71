/**
 * Names as beamscope orders and shows them: numeric-aware ordering of node names and keys (so
 * `…@10.0.0.9` comes before `…@10.0.0.10` everywhere), and short renderings of name lists.
 */

// Sort keys with every digit run zero-padded, so plain string comparison orders numbers by
// value. Memoized, bounded: a mesh of thousands of nodes compares the same names millions of
// times. The memo only remembers a pure function's answers; it cannot change a result.
const naturalKeys = new Map<string, string>();
const MAX_CACHED_KEYS = 100_000;

function naturalKey(name: string): string {
  let key = naturalKeys.get(name);
  if (key === undefined) {
    key = name.replace(/\d+/g, (digits) => digits.padStart(12, '0'));
    if (naturalKeys.size >= MAX_CACHED_KEYS) naturalKeys.clear();
    naturalKeys.set(name, key);
  }
  return key;
}

/** Orders node names and keys so `…@10.0.0.9` comes before `…@10.0.0.10`, the same everywhere. */
export function compareNames(a: string, b: string): number {
  if (a === b) return 0;
  const keyA = naturalKey(a);
  const keyB = naturalKey(b);
  if (keyA !== keyB) return keyA < keyB ? -1 : 1;
  return a < b ? -1 : 1;
}

/**
 * `names` sorted as {@link compareNames} sorts them, each name's key looked up once rather than
 * twice per comparison: a node's first peer list is a thousand names (ten thousand comparisons)
 * freshly decoded, whose every lookup hashes the name again.
 */
export function sortNames(names: readonly string[]): string[] {
  const keyed = names.map((name) => ({ key: naturalKey(name), name }));
  keyed.sort((x, y) => {
    if (x.key !== y.key) return x.key < y.key ? -1 : 1;
    return x.name === y.name ? 0 : x.name < y.name ? -1 : 1;
  });
  return keyed.map((entry) => entry.name);
}

/** The host part of `alive@host`. */
export function hostOf(node: string): string {
  return node.slice(node.indexOf('@') + 1);
}

/**
 * A few names and how many more: a member of a 300-node minority partition would otherwise
 * carry 300 names in its one-line detail, 2 MB of a 1,000-member snapshot.
 */
export function namedFew(names: readonly string[], shown = 5): string {
  const listed = names.slice(0, shown).join(', ');
  return names.length > shown ? `${listed} and ${names.length - shown} more` : listed;
}
