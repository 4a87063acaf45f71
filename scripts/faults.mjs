// `npm run test:faults`: the long fault-injection suite, the fuzzers at a million cases per
// target, then docs/reliability.md regenerated from what they recorded. Every step runs even
// after a failure, so one run shows every problem; the exit code is non-zero when a step failed,
// a scenario failed, or a scenario ended with a diff against the truth or lost data.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

const results = join('test', 'reliability', 'results');
const reports = 'test-results';

/** Runs a command with inherited output; resolves to its exit code. */
function run(command, args, env = {}) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: 'inherit', env: { ...process.env, ...env } });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
    child.on('error', () => resolve(127));
  });
}

const steps = [];
async function step(name, action) {
  process.stdout.write(`\n=== ${name} ===\n`);
  const started = Date.now();
  const code = await action();
  steps.push({ name, ok: code === 0, seconds: Math.round((Date.now() - started) / 100) / 10 });
  return code;
}

await mkdir(reports, { recursive: true });
// Only this run's records count: a scenario that no longer runs must not linger in the report.
await rm(join(results, 'long'), { recursive: true, force: true });
await rm(join(results, 'fuzz'), { recursive: true, force: true });

// The scenarios run the standalone production server, built here from the checkout so the
// report describes this source (BEAMSCOPE_SERVER_JS may point at a copy already built from it).
let built = true;
if (!process.env.BEAMSCOPE_SERVER_JS || !existsSync(process.env.BEAMSCOPE_SERVER_JS)) {
  const code = await step(
    'build',
    async () => (await run('npx', ['next', 'build'])) || run('node', ['scripts/standalone.mjs']),
  );
  built = code === 0;
}

if (built) {
  await step('reliability (long)', () =>
    run(
      'npx',
      [
        'vitest',
        'run',
        '--project',
        'reliability',
        '--reporter=default',
        '--reporter=json',
        `--outputFile.json=${join(reports, 'reliability-long.json')}`,
      ],
      { BEAMSCOPE_FAULTS: 'long' },
    ),
  );
} else {
  steps.push({
    name: 'reliability (long)',
    ok: false,
    seconds: 0,
    note: 'not run: the build failed',
  });
}

await step('fuzz (1,000,000 cases per target)', () =>
  run('npx', ['vitest', 'run', '--project', 'unit', 'test/unit/fuzz'], {
    BEAMSCOPE_FUZZ_RUNS: '1000000',
  }),
);

await step('report', () => run('node', ['scripts/reliability-report.mjs', '--check']));

process.stdout.write('\n=== summary ===\n');
for (const { name, ok, seconds, note } of steps) {
  process.stdout.write(
    `${ok ? 'ok  ' : 'FAIL'}  ${name.padEnd(36)} ${String(seconds).padStart(7)} s${note ? `  ${note}` : ''}\n`,
  );
}
process.exit(steps.every((entry) => entry.ok) ? 0 : 1);
