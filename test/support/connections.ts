import type { NodeConnectionState } from '@/server/erlang/manager';

/** Waits until a manager (on this thread or its own) shows `node` in `status`; returns that state. */
export async function waitForState(
  subject: { state(node: string): NodeConnectionState },
  node: string,
  status: NodeConnectionState['status'],
  timeoutMs = 10_000,
): Promise<NodeConnectionState> {
  const deadline = Date.now() + timeoutMs;
  while (subject.state(node).status !== status) {
    if (Date.now() > deadline) {
      throw new Error(`${node} not ${status} in time: ${JSON.stringify(subject.state(node))}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return subject.state(node);
}
