import 'server-only';

import { getAccessGate } from './gate';
import type { Principal } from './principal';

/**
 * The one rule of who sees which cluster, for every route, page and stream: the access gate's
 * (`access.clusters` in modes with groups, RBAC in mode kubernetes). Without a gate (the server
 * is starting) nothing is visible: fail closed.
 */
export async function mayViewCluster(principal: Principal, id: string): Promise<boolean> {
  const gate = getAccessGate();
  return gate ? gate.mayViewCluster(principal, id) : false;
}

/** The ids among `ids` that `principal` may see, in their order. */
export async function visibleClusterIds(
  principal: Principal,
  ids: Iterable<string>,
): Promise<string[]> {
  const list = [...ids];
  const allowed = await Promise.all(list.map((id) => mayViewCluster(principal, id)));
  return list.filter((_, index) => allowed[index]);
}
