import 'server-only';

import type { Command } from './command';
import { doctorCommand } from './commands/doctor';
import { eventsCommand } from './commands/events';
import { lookupCommand } from './commands/lookup';
import { membersCommand } from './commands/members';
import { probeCommand } from './commands/probe';
import { sandboxCommand } from './commands/sandbox';
import { snapshotCommand } from './commands/snapshot';

/** Every `beamscope` command, in the order `beamscope --help` lists them. */
export const commands: Command[] = [
  sandboxCommand,
  membersCommand,
  probeCommand,
  snapshotCommand,
  eventsCommand,
  doctorCommand,
  lookupCommand,
];
