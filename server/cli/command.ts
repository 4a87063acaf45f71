import 'server-only';

/** Where a command writes; a seam so tests can capture output without spawning a process. */
export interface CommandIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Resolves when the user asks the command to stop (SIGINT/SIGTERM); long-running commands await it. */
  stopped: Promise<NodeJS.Signals>;
}

/** A CLI command: parses its own arguments and returns the process exit code. */
export interface Command {
  name: string;
  summary: string;
  usage: string;
  run(argv: string[], io: CommandIo): Promise<number>;
}

/** A usage error: printed as one line with the command's usage, exit code 64 (EX_USAGE). */
export class UsageError extends Error {
  override name = 'UsageError';
}
