import 'server-only';

import type { Command } from '../command';

// Placeholder until this command lands in this session; replaced, not kept.
export const membersCommand: Command = {
  name: 'members',
  summary: '(being built)',
  usage: 'beamscope members',
  run: async () => 1,
};
