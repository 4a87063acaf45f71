import 'server-only';

import { UsageError, type Command, type CommandIo } from './command';
import { commands } from './commands';
import { describeError, exitCodeFor } from './errors';

function help(): string {
  const width = Math.max(...commands.map((command) => command.name.length));
  return [
    'usage: beamscope <command> [options]',
    '',
    ...commands.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`),
    '',
    'beamscope <command> --help shows the options of one command.',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(help() + '\n');
    return name ? 0 : 64;
  }
  const command: Command | undefined = commands.find((candidate) => candidate.name === name);
  if (!command) {
    process.stderr.write(`beamscope: unknown command '${name}'\n${help()}\n`);
    return 64;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`usage: ${command.usage}\n`);
    return 0;
  }
  // Ctrl-C signals the whole process group and the launcher forwards it again: a listener that
  // stays installed swallows the repeat, which would otherwise kill the process mid-cleanup.
  const stopped = new Promise<NodeJS.Signals>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => resolve(signal));
  });
  const io: CommandIo = {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    stopped,
  };
  try {
    return await command.run(rest, io);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(
        `beamscope ${command.name}: ${error.message}\nusage: ${command.usage}\n`,
      );
      return 64;
    }
    process.stderr.write(`beamscope ${command.name}: ${describeError(error)}\n`);
    return exitCodeFor(error);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Open handles (watches, sockets) must not keep a finished one-shot command alive.
    setTimeout(() => process.exit(code), 50).unref();
  },
  (error: unknown) => {
    process.stderr.write(`beamscope: ${describeError(error)}\n`);
    process.exit(1);
  },
);
