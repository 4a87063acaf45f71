/**
 * The V8 inspector of a server started with `--inspect=127.0.0.1:0` (e.g. through NODE_OPTIONS):
 * a full garbage collection on demand, so memory readings compare live data, not garbage a
 * collection would give back.
 */

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The inspector's WebSocket address, from the process output ("Debugger listening on ws://…"). */
export async function inspectorUrl(output: () => string, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = /Debugger listening on (ws:\/\/\S+)/.exec(output());
    if (match) return match[1]!;
    if (Date.now() > deadline) throw new Error('no "Debugger listening on ws://…" in the output');
    await sleep(100);
  }
}

/** Runs the inspector commands in order; resolves to their results. */
async function inspect(
  url: string,
  commands: Array<{ method: string; params?: Record<string, unknown> }>,
  timeoutMs = 60_000,
): Promise<unknown[]> {
  if (typeof WebSocket === 'undefined') throw new Error('no global WebSocket (Node ≥ 22 has one)');
  const socket = new WebSocket(url);
  try {
    await new Promise<void>((resolve, reject) => {
      socket.addEventListener('open', () => resolve(), { once: true });
      socket.addEventListener('error', () => reject(new Error(`cannot open ${url}`)), {
        once: true,
      });
    });
    const results: unknown[] = [];
    for (const [index, command] of commands.entries()) {
      const id = index + 1;
      results.push(
        await new Promise<unknown>((resolve, reject) => {
          const timer = setTimeout(
            () => reject(new Error(`${command.method}: no answer in ${timeoutMs} ms`)),
            timeoutMs,
          );
          const onMessage = (event: MessageEvent) => {
            const message = JSON.parse(String(event.data)) as {
              id?: number;
              result?: unknown;
              error?: { message: string };
            };
            if (message.id !== id) return;
            clearTimeout(timer);
            socket.removeEventListener('message', onMessage);
            if (message.error) reject(new Error(`${command.method}: ${message.error.message}`));
            else resolve(message.result);
          };
          socket.addEventListener('message', onMessage);
          socket.send(JSON.stringify({ id, method: command.method, params: command.params ?? {} }));
        }),
      );
    }
    return results;
  } finally {
    socket.close();
  }
}

/** The inspected process's `process.memoryUsage()`, after two full garbage collections. */
export async function collectGarbage(url: string): Promise<NodeJS.MemoryUsage> {
  const results = await inspect(url, [
    { method: 'HeapProfiler.enable' },
    { method: 'HeapProfiler.collectGarbage' },
    { method: 'HeapProfiler.collectGarbage' },
    {
      method: 'Runtime.evaluate',
      params: { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true },
    },
  ]);
  const evaluated = results[3] as { result: { value: string } };
  return JSON.parse(evaluated.result.value) as NodeJS.MemoryUsage;
}
