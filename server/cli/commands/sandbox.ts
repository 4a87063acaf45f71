import 'server-only';

import type { Command } from '../command';

// Placeholder until this command lands in this session; replaced, not kept.
export const sandboxCommand: Command = {
  name: 'sandbox',
  summary: '(being built)',
  usage: 'beamscope sandbox',
  run: async () => 1,
};
