// A peer list as a set, built once per list and shared by every view that reads lists pair by
// pair (the adjacency and the graph's missing links): a list keeps its identity while it does
// not change, so the set lives as long as the list does.

const setOfList = new WeakMap<readonly string[], ReadonlySet<string>>();

/** The names of `list` as a set, the same set for the same list. */
export function peerSet(list: readonly string[]): ReadonlySet<string> {
  let set = setOfList.get(list);
  if (!set) {
    set = new Set(list);
    setOfList.set(list, set);
  }
  return set;
}
