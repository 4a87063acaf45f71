/**
 * What a test node counts of beamscope's work on it: bytes on its distribution socket to
 * beamscope (`inet:getstat/2` on the port `erlang:system_info(dist_ctrl)` names for beamscope's
 * node) and its CPU time. Read through the test node's own control channel
 * (test/support/beam.ts), so reading adds nothing to the bytes counted.
 */
import type { BeamNode } from '../../test/support/beam';

/**
 * Erlang clauses (for a `begin … end`) binding `DistRecv` and `DistSent`: the bytes the node has
 * received from and sent to `localName` over distribution since the connection opened.
 */
export function distBytesClauses(localName: string): string {
  return [
    `[DistPort] = [P || {N, P} <- erlang:system_info(dist_ctrl), N =:= '${localName}'],`,
    '{ok, [{recv_oct, DistRecv}, {send_oct, DistSent}]} =',
    '  inet:getstat(DistPort, [recv_oct, send_oct]),',
  ].join('\n');
}

export interface NodeCounters {
  /** Bytes from beamscope (requests) and to beamscope (replies), since it connected. */
  received: number;
  sent: number;
  /** `erlang:statistics(runtime)`: CPU time of all the emulator's threads, ms. */
  cpuMs: number;
}

/** The node's counters for its connection from `localName`, read in one evaluation. */
export async function readNodeCounters(node: BeamNode, localName: string): Promise<NodeCounters> {
  const text = await node.eval(
    `begin\n${distBytesClauses(localName)}\n{Cpu, _} = erlang:statistics(runtime),\n{DistRecv, DistSent, Cpu}\nend`,
  );
  const [received, sent, cpuMs] = (text.match(/\d+/g) ?? []).map(Number);
  if (received === undefined || sent === undefined || cpuMs === undefined)
    throw new Error(`unexpected counters from ${node.name}: ${text}`);
  return { received, sent, cpuMs };
}
