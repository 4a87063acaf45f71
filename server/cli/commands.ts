import 'server-only';

import type { Command } from './command';
import { membersCommand } from './commands/members';
import { probeCommand } from './commands/probe';
import { sandboxCommand } from './commands/sandbox';

/** Every `beamscope` command, in the order `beamscope --help` lists them. */
export const commands: Command[] = [sandboxCommand, membersCommand, probeCommand];
