#!/usr/bin/env node
// Launcher for the `beamscope` command. The CLI is TypeScript run through tsx, and it must run
// with the `react-server` condition so that `import 'server-only'` in server modules resolves to
// its empty variant, as it does inside Next's server bundle. Conditions can only be set when a
// process starts, hence one child process, with signals and the exit code passed through.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 19)) {
  console.error(
    `beamscope needs Node.js 22.19 or newer (this is ${process.version}); run it through npx or npm, which use the project's own Node.`,
  );
  process.exit(1);
}

const child = spawn(
  process.execPath,
  [
    '--conditions=react-server',
    '--import',
    'tsx',
    join(root, 'server/cli/main.ts'),
    ...process.argv.slice(2),
  ],
  {
    stdio: 'inherit',
    cwd: process.cwd(),
    env: { ...process.env, TSX_TSCONFIG_PATH: join(root, 'tsconfig.json') },
  },
);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => child.kill(signal));
}
child.on('exit', (code, signal) => {
  process.exit(code ?? (signal ? 128 + 1 : 1));
});
