import 'server-only';

import type { Command } from '../command';

// Placeholder until this command lands in this session; replaced, not kept.
export const probeCommand: Command = {
  name: 'probe',
  summary: '(being built)',
  usage: 'beamscope probe',
  run: async () => 1,
};
