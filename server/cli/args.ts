import 'server-only';

import { parseArgs, type ParseArgsConfig } from 'node:util';

import { UsageError } from './command';

type Options = NonNullable<ParseArgsConfig['options']>;

/** `node:util` parseArgs with its errors turned into one-line usage errors. */
export function parseCommandArgs<T extends Options>(
  argv: string[],
  options: T,
  allowPositionals = false,
) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message.split('\n')[0]! : String(error));
  }
}

/** Parses a whole number option, naming the option when it is not one. */
export function integerOption(
  name: string,
  value: string | undefined,
  fallback: number,
  min = 0,
): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min) {
    throw new UsageError(`--${name} takes a whole number of at least ${min}, not '${value}'`);
  }
  return Number(value);
}
