// Every check the project has, in the order a reviewer would want them: the static gates, then the
// test levels, then a production build and the end-to-end tests against it. Every step runs even
// after a failure (one run shows every problem); the exit code is non-zero when any step failed.
// The last line is the plain `N passed, N failed` summary CI reads.
import { spawn } from 'node:child_process';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';

const resultsDir = 'test-results';
await rm(resultsDir, { recursive: true, force: true });
await mkdir(resultsDir, { recursive: true });

/** Runs a command with inherited output; resolves to its exit code. */
function run(command, args, env = {}) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: 'inherit', env: { ...process.env, ...env } });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
    child.on('error', () => resolve(127));
  });
}

/** A Vitest project, with a JSON report so the totals can be summed across levels. */
async function vitest(project) {
  const report = join(resultsDir, `${project}.json`);
  const code = await run('npx', [
    'vitest',
    'run',
    '--project',
    project,
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${report}`,
  ]);
  let counts = { passed: 0, failed: 0, skipped: 0 };
  let failures = [];
  try {
    const json = JSON.parse(await readFile(report, 'utf8'));
    failures = failuresIn(json);
    counts = {
      passed: json.numPassedTests ?? 0,
      // A file that fails to load has no failed test of its own: count it once.
      failed: json.numFailedTests || json.numFailedTestSuites || 0,
      skipped: (json.numPendingTests ?? 0) + (json.numTodoTests ?? 0),
    };
  } catch {
    // No report means the runner itself failed; the exit code below says so.
  }
  // A level that ran nothing has not shown anything: treat it as a failure, not a pass.
  const ok = code === 0 && counts.passed > 0;
  return { ok, counts, failures };
}

/**
 * Each failed test (or file that failed to load) in a Vitest JSON report, as one line: its file,
 * its full name and the first line of its first message. CI shows only the tail of a run's output,
 * so these lines go into the summary at the end, where a failure can be read without the rest.
 */
function failuresIn(json) {
  const cwd = process.cwd() + '/';
  const firstLine = (messages) =>
    // Vitest's messages carry terminal colours; the summary is read as plain text.
    stripVTControlCharacters(String(messages?.[0] ?? ''))
      .split('\n')
      .find((line) => line.trim() !== '')
      ?.trim()
      .slice(0, 300) ?? '';
  const lines = [];
  for (const file of json.testResults ?? []) {
    const path = String(file.name ?? '').replace(cwd, '');
    const failed = (file.assertionResults ?? []).filter((test) => test.status === 'failed');
    for (const test of failed) {
      lines.push(`${path} > ${test.fullName}: ${firstLine(test.failureMessages)}`);
    }
    if (failed.length === 0 && file.status === 'failed') {
      lines.push(`${path}: ${firstLine([file.message])}`);
    }
  }
  return lines;
}

const steps = [
  ['typecheck', () => run('npx', ['tsc', '--noEmit'])],
  ['lint', () => run('npx', ['eslint', '--max-warnings', '0', '.'])],
  ['format', () => run('npx', ['prettier', '--check', '--log-level', 'warn', '.'])],
  ['unit', () => vitest('unit')],
  ['integration', () => vitest('integration')],
  [
    'build',
    async () => (await run('npx', ['next', 'build'])) || run('node', ['scripts/standalone.mjs']),
  ],
  ['e2e', () => vitest('e2e')],
  ['reliability', () => vitest('reliability')],
];

const summary = [];
const totals = { passed: 0, failed: 0, skipped: 0 };
let buildFailed = false;
for (const [name, step] of steps) {
  if ((name === 'e2e' || name === 'reliability') && buildFailed) {
    summary.push({ name, ok: false, seconds: 0, note: 'not run: the build failed' });
    totals.failed += 1;
    continue;
  }
  process.stdout.write(`\n=== ${name} ===\n`);
  const started = Date.now();
  const outcome = await step();
  const seconds = Math.round((Date.now() - started) / 100) / 10;
  const ok = typeof outcome === 'number' ? outcome === 0 : outcome.ok;
  if (name === 'build' && !ok) buildFailed = true;
  if (typeof outcome === 'object') {
    totals.passed += outcome.counts.passed;
    totals.failed += outcome.counts.failed;
    totals.skipped += outcome.counts.skipped;
    if (!ok && outcome.counts.failed === 0) totals.failed += 1;
  } else if (!ok) {
    // A failed gate (typecheck, lint, format, build) counts as one failure in the totals.
    totals.failed += 1;
  }
  const note =
    typeof outcome === 'object'
      ? `${outcome.counts.passed} passed, ${outcome.counts.failed} failed`
      : '';
  summary.push({ name, ok, seconds, note, failures: outcome.failures });
}

process.stdout.write('\n=== summary ===\n');
for (const { name, failures } of summary) {
  for (const failure of failures ?? []) process.stdout.write(`failed in ${name}: ${failure}\n`);
}
for (const { name, ok, seconds, note } of summary) {
  process.stdout.write(
    `${ok ? 'ok  ' : 'FAIL'}  ${name.padEnd(12)} ${String(seconds).padStart(6)} s  ${note}\n`,
  );
}
const failedSteps = summary.filter((step) => !step.ok).length;
process.stdout.write(
  `tests: ${totals.passed} passed, ${totals.failed} failed${totals.skipped ? `, ${totals.skipped} skipped` : ''}\n`,
);
process.exit(failedSteps === 0 ? 0 : 1);
