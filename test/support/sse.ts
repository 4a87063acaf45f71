/** Reading Server-Sent Events in tests: a tiny parser over a byte stream. */

/** One parsed SSE event (comments are kept apart as `comment`). */
export interface SseEvent {
  id?: string;
  event?: string;
  data?: string;
  comment?: string;
  retry?: string;
}

/** Parses complete events out of `buffer`; returns them and the unparsed rest. */
export function parseSse(buffer: string): { events: SseEvent[]; rest: string } {
  const events: SseEvent[] = [];
  let rest = buffer;
  for (;;) {
    const end = rest.indexOf('\n\n');
    if (end < 0) break;
    const block = rest.slice(0, end);
    rest = rest.slice(end + 2);
    const event: SseEvent = {};
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) event.comment = line.slice(1).trim();
      else {
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'id' || field === 'event' || field === 'data' || field === 'retry')
          event[field] =
            event[field] === undefined || field !== 'data' ? value : `${event[field]}\n${value}`;
      }
    }
    events.push(event);
  }
  return { events, rest };
}

/** Reads a stream of SSE bytes, collecting events as they arrive. */
export class SseReader {
  readonly events: SseEvent[] = [];
  private buffer = '';
  private readonly decoder = new TextDecoder();
  private done = false;
  private failure: unknown;
  readonly finished: Promise<void>;
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.reader = stream.getReader();
    this.finished = this.pump();
  }

  private async pump(): Promise<void> {
    try {
      for (;;) {
        const { value, done } = await this.reader.read();
        if (done) break;
        this.buffer += this.decoder.decode(value, { stream: true });
        const { events, rest } = parseSse(this.buffer);
        this.buffer = rest;
        this.events.push(...events);
      }
    } catch (error) {
      this.failure = error;
    } finally {
      this.done = true;
    }
  }

  get closed(): boolean {
    return this.done;
  }

  get error(): unknown {
    return this.failure;
  }

  /** Events that carry an id (not comments or the retry line). */
  get messages(): SseEvent[] {
    return this.events.filter((event) => event.id !== undefined);
  }

  async cancel(): Promise<void> {
    await this.reader.cancel().catch(() => undefined);
    await this.finished;
  }

  /** Waits until `predicate` holds for the events so far. */
  async waitFor(predicate: (events: SseEvent[]) => boolean, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.events)) {
      if (Date.now() > deadline) {
        throw new Error(
          `SSE condition not met in ${timeoutMs} ms; events: ${JSON.stringify(this.events.map((event) => [event.id, event.event, event.comment]))}`,
        );
      }
      if (this.done && !predicate(this.events)) {
        throw new Error(`SSE stream ended first (${String(this.failure ?? 'closed')})`);
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}
