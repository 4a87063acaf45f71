/**
 * Whatever a bench starts must stop when the bench ends, also on Ctrl-C or SIGTERM. Parts
 * register their stops here while they run; on a signal the registered stops run (newest first),
 * then any child process of this one still alive is terminated by its pid, and the process exits
 * with 128 + the signal's number.
 */
import { readdir, readFile } from 'node:fs/promises';

type Stop = () => Promise<void>;

const stops = new Set<Stop>();
let installed = false;
let stopping = false;

/** Registers `stop` to run if the process is interrupted; returns the unregister function. */
export function onInterrupt(stop: Stop): () => void {
  stops.add(stop);
  return () => {
    stops.delete(stop);
  };
}

/** The pids of this process's direct children that are still running (from /proc). */
export async function childPids(): Promise<number[]> {
  const pids: number[] = [];
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return pids;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      // The command may contain spaces and parentheses: the fields after the last ')' are fixed.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === process.pid && fields[0] !== 'Z') pids.push(Number(entry));
    } catch {
      // The process went away while we looked.
    }
  }
  return pids;
}

/** SIGTERMs the given children, then SIGKILLs those still there after `graceMs`. */
export async function terminateChildren(pids: number[], graceMs = 5000): Promise<void> {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // Already gone.
    }
  }
  const deadline = Date.now() + graceMs;
  let alive = pids;
  while (alive.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const current = new Set(await childPids());
    alive = alive.filter((pid) => current.has(pid));
  }
  for (const pid of alive) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

/** Runs every registered stop, newest first, each bounded to 15 s. */
export async function runStops(): Promise<void> {
  const pending = [...stops].reverse();
  stops.clear();
  for (const stop of pending) {
    await Promise.race([
      stop().catch(() => undefined),
      new Promise((resolve) => setTimeout(resolve, 15_000)),
    ]);
  }
}

/**
 * Runs every registered stop, then ends the children still running — only when the process is
 * about to exit: tsx's esbuild service is a child too, and later imports need it.
 */
export async function stopEverything(): Promise<void> {
  await runStops();
  await terminateChildren(await childPids());
}

/**
 * Installs the SIGINT/SIGTERM/SIGHUP handlers once. A second Ctrl-C while stopping exits at once
 * (children are still sent SIGKILL first, so nothing outlives the bench).
 */
export function installSignalHandlers(log: (line: string) => void = () => undefined): void {
  if (installed) return;
  installed = true;
  const codes: Record<string, number> = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 };
  for (const signal of Object.keys(codes) as NodeJS.Signals[]) {
    process.on(signal, () => {
      const code = 128 + codes[signal]!;
      if (stopping) {
        void childPids().then((pids) => {
          for (const pid of pids) {
            try {
              process.kill(pid, 'SIGKILL');
            } catch {
              // Already gone.
            }
          }
          process.exit(code);
        });
        return;
      }
      stopping = true;
      log(`bench: ${signal}, stopping everything it started`);
      void stopEverything().finally(() => process.exit(code));
    });
  }
}
