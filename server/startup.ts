import 'server-only';

import { startAccess } from './auth';
import { loadConfig } from './config';
import { describeError } from './errors';
import { createLogger, logFormat, type LogFormat } from './log';
import { getRuntime } from './runtime';
import { stopOnSignals } from './shutdown';

/** sysexits' EX_CONFIG, as the CLI uses for a configuration error. */
const EX_CONFIG = 78;

/**
 * Starts the process's runtime when the server boots. A configuration that does not load stops
 * the server with one line naming the file, the field and what was expected: serving a dashboard
 * of nothing would hide the mistake. Dashboard access is settled first — an unprotected server on
 * a reachable address, or a token that cannot be read, stops it before it connects to any node.
 */
export async function startServerRuntime(): Promise<void> {
  try {
    await startAccess(await loadConfig());
    const runtime = await getRuntime();
    // A rollout's SIGTERM writes the recorder's last rows and closes the store before Next exits.
    stopOnSignals({ stop: () => runtime.stop(), log: createLogger(logFormat()) });
  } catch (error) {
    let format: LogFormat = 'text';
    try {
      format = logFormat();
    } catch {
      // the format itself is what failed: say so in text
    }
    createLogger(format)({ level: 'error', message: describeError(error) });
    process.exit(EX_CONFIG);
  }
}
