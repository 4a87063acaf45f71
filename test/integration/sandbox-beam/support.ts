import { readdirSync, readFileSync } from 'node:fs';

export { freePort } from '../../support/ports';

/** Polls `probe` until `accept` holds (bounded); the error names what it waited for. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T> | T,
  accept: (value: T) => boolean,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      last = await probe();
      if (accept(last)) return last;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(
    `timed out waiting for ${what}; last: ${JSON.stringify(last)}${lastError ? ` (${String(lastError)})` : ''}`,
  );
}

/** Emulator processes whose command line carries this distribution port (epmd-less nodes). */
export function beamProcessesUsingPort(port: number): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        const at = argv.indexOf('-erl_epmd_port');
        return at >= 0 && argv[at + 1] === String(port);
      } catch {
        return false; // gone meanwhile
      }
    })
    .map(Number);
}
