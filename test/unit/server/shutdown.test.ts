import { EventEmitter } from 'node:events';

import { describe, expect, it } from 'vitest';

import type { LogEntry } from '@/server/log';
import { stopOnSignals } from '@/server/shutdown';

/** A process whose signals the test sends, and which records its exit instead of exiting. */
function fakeProcess() {
  const emitter = new EventEmitter();
  const exits: number[] = [];
  return {
    emitter,
    exits,
    process: Object.assign(emitter, {
      exit: (code?: number) => {
        exits.push(code ?? 0);
      },
    }) as unknown as NodeJS.Process,
  };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

describe('stopping on SIGTERM / SIGINT', () => {
  it("stops the runtime first, then runs the handlers installed before (Next's), once", async () => {
    const fake = fakeProcess();
    const order: string[] = [];
    fake.emitter.on('SIGTERM', (signal: string) => order.push(`next ${signal}`));
    let release!: () => void;
    const stopped = new Promise<void>((resolve) => (release = resolve));
    const log: LogEntry[] = [];
    stopOnSignals({
      stop: async () => {
        order.push('stop begins');
        await stopped;
        order.push('stop ends');
      },
      log: (entry) => log.push(entry),
      process: fake.process,
    });
    fake.emitter.emit('SIGTERM', 'SIGTERM');
    fake.emitter.emit('SIGTERM', 'SIGTERM'); // repeated: changes nothing
    await settle();
    expect(order).toEqual(['stop begins']);
    release();
    await settle();
    expect(order).toEqual(['stop begins', 'stop ends', 'next SIGTERM']);
    expect(fake.exits).toEqual([]); // Next's handler exits, not this one
    expect(log.map((entry) => entry.message)).toEqual(['stopping: history written and closed']);
  });

  it('exits with the signal code when nothing else handles it, even when stop hangs', async () => {
    const fake = fakeProcess();
    const log: LogEntry[] = [];
    stopOnSignals({
      stop: () => new Promise<void>(() => {}),
      timeoutMs: 10,
      log: (entry) => log.push(entry),
      process: fake.process,
    });
    fake.emitter.emit('SIGINT', 'SIGINT');
    await settle();
    expect(fake.exits).toEqual([130]);
    expect(log[0]).toMatchObject({ level: 'warn' });
  });
});
