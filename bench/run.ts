/**
 * `npm run bench`: every part of the performance bench in turn, against the standalone
 * production server, on this machine. Writes `bench/results/latest.json` (machine, versions, date,
 * commit, each part's full result and every figure with its goal), prints the table and rewrites
 * the table of `docs/performance.md` between its markers.
 *
 * Usage: `npm run bench [-- --only push-latency,bundle-size]`. Parts: see PARTS below. With
 * `--only`, the parts not run keep their previous entry in latest.json (marked with its date).
 * `--result history=out.json` takes a part's result from the JSON its own script printed (a long
 * part run alone, e.g. `bench/history.ts 24 1 > out.json`) instead of running it again.
 * Everything a part starts is stopped when it ends, and on Ctrl-C (bench/support/lifecycle.ts).
 * `--table` measures nothing and re-renders the table from latest.json (after merging runs).
 * BEAMSCOPE_SERVER_JS selects a prebuilt server.js; otherwise the checkout is built when needed.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { ensureBuild } from './support/build';
import { collectFigures, type Figure } from './support/figures';
import { installSignalHandlers, runStops, stopEverything } from './support/lifecycle';
import { gitInfo, machineInfo, versions } from './support/machine';

const root = join(import.meta.dirname, '..');
const RESULTS = join(root, 'bench/results/latest.json');
const DOC = join(root, 'docs/performance.md');
const START = '<!-- bench:start -->';
const END = '<!-- bench:end -->';

interface Part {
  name: string;
  /** Relative to this file; imported when the part runs, so a part not written yet is reported. */
  module: string;
  exportName: string;
  what: string;
}

/** In the order they run: the cheap ones first, so a broken build shows within a minute. */
const PARTS: Part[] = [
  {
    name: 'bundle-size',
    module: './bundle-size.ts',
    exportName: 'runBundleSizeBench',
    what: 'first-load JS',
  },
  {
    name: 'push-latency',
    module: './push-latency.ts',
    exportName: 'runPushLatencyBench',
    what: 'change → SSE / DOM vs 5 s poll',
  },
  {
    name: 'failure-detection',
    module: './failure-detection.ts',
    exportName: 'runFailureDetectionBench',
    what: 'SIGKILL → node down',
  },
  {
    name: 'node-cost',
    module: './node-cost.ts',
    exportName: 'runNodeCostBench',
    what: 'cost to the observed node',
  },
  {
    name: 'divergence',
    module: './divergence.ts',
    exportName: 'runDivergenceBench',
    what: 'comparing 5 copies of 100,000 names',
  },
  {
    name: 'code-scan',
    module: './code-scan.ts',
    exportName: 'runCodeScanBench',
    what: 'module md5 scan of 1,000 nodes × 5,000 modules',
  },
  {
    name: 'probe-scale',
    module: './probe-scale.ts',
    exportName: 'runProbeScaleBench',
    what: 'probe cycle at 20 / 100 / 1,000 / 2,000 nodes',
  },
  {
    name: 'mesh-size',
    module: './mesh-size.ts',
    exportName: 'runMeshSizeBench',
    what: 'snapshot and timeline of a 1,000 / 2,000-node mesh',
  },
  {
    name: 'history',
    module: './history.ts',
    exportName: 'runHistoryBench',
    what: 'recording a simulated day (100 nodes) and hour (1,000)',
  },
  {
    name: 'browser-scale',
    module: './browser-scale.ts',
    exportName: 'runBrowserScaleBench',
    what: '1,000 members in Chromium',
  },
  {
    name: 'browser-scale-2000',
    module: './browser-scale.ts',
    exportName: 'runBrowserScaleBench2000',
    what: '2,000 members in Chromium',
  },
];

type PartOutcome =
  | { status: 'ok'; durationMs: number; result: unknown }
  | { status: 'failed'; durationMs: number; error: string }
  | { status: 'not available'; reason: string };

interface PartEntry {
  date: string;
  outcome: PartOutcome;
}

interface TableRow {
  part: string;
  label: string;
  value: number | null;
  unit: string;
  goal: string;
  met: boolean | null;
  samples: number | null;
}

const log = (line: string) => process.stderr.write(`${line}\n`);

async function runPart(part: Part): Promise<PartOutcome> {
  let exports: Record<string, unknown>;
  try {
    // A variable specifier: this file compiles and runs before the other helpers' parts exist.
    const specifier = part.module;
    exports = (await import(specifier)) as Record<string, unknown>;
  } catch (error) {
    return { status: 'not available', reason: `cannot load ${part.module}: ${messageOf(error)}` };
  }
  const run = exports[part.exportName];
  if (typeof run !== 'function') {
    return { status: 'not available', reason: `${part.module} does not export ${part.exportName}` };
  }
  const started = Date.now();
  try {
    const result: unknown = await (run as (options: { log: typeof log }) => Promise<unknown>)({
      log: (line) => log(`  ${line}`),
    });
    return { status: 'ok', durationMs: Date.now() - started, result };
  } catch (error) {
    return { status: 'failed', durationMs: Date.now() - started, error: messageOf(error) };
  } finally {
    // Whatever a failed part left registered (its finally blocks have run by now).
    await runStops();
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

function rowsOf(parts: Record<string, PartEntry>): TableRow[] {
  const rows: TableRow[] = [];
  for (const part of PARTS) {
    const entry = parts[part.name];
    if (!entry || entry.outcome.status !== 'ok') {
      rows.push({
        part: part.name,
        label: `${part.what}: ${entry ? entry.outcome.status : 'not run'}`,
        value: null,
        unit: '',
        goal: '',
        met: null,
        samples: null,
      });
      continue;
    }
    for (const { path, figure } of collectFigures(entry.outcome.result))
      rows.push(rowOf(part.name, path, figure));
  }
  return rows;
}

function rowOf(part: string, path: string, figure: Figure): TableRow {
  const goal =
    figure.goal === undefined
      ? ''
      : `${figure.goalKind === 'min' ? '≥' : '≤'} ${figure.goal} ${figure.unit}`;
  const met =
    figure.goal === undefined
      ? null
      : (figure.met ??
        (figure.value === null
          ? false
          : figure.goalKind === 'min'
            ? figure.value >= figure.goal
            : figure.value <= figure.goal));
  return {
    part,
    label: figure.label ?? path,
    value: figure.value,
    unit: figure.unit,
    goal,
    met,
    samples: figure.samples ?? null,
  };
}

function formatValue(row: TableRow): string {
  if (row.value === null) return '—';
  // Two significant digits below 1: a share of 0.054 % must not read as the 0.1 % of its goal.
  const magnitude = Math.abs(row.value);
  const value =
    magnitude >= 100
      ? Math.round(row.value)
      : magnitude >= 1
        ? Math.round(row.value * 10) / 10
        : Number(row.value.toPrecision(2));
  return row.unit === '×' ? `${value}×` : `${value.toLocaleString('en-US')} ${row.unit}`.trim();
}

const metText = (met: boolean | null) => (met === null ? '' : met ? 'yes' : 'NO');

function textTable(rows: TableRow[]): string {
  const cells = rows.map((row) => [
    row.part,
    row.label,
    formatValue(row),
    row.goal,
    metText(row.met),
    row.samples === null ? '' : String(row.samples),
  ]);
  const header = ['part', 'figure', 'value', 'goal', 'met', 'n'];
  const widths = header.map((title, column) =>
    Math.max(title.length, ...cells.map((cell) => cell[column]!.length)),
  );
  const line = (cell: string[]) =>
    cell.map((text, column) => text.padEnd(widths[column]!)).join('  ');
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...cells.map(line)].join(
    '\n',
  );
}

function markdownTable(rows: TableRow[]): string {
  const escape = (text: string) => text.replaceAll('|', '\\|');
  return [
    '| part | figure | value | goal | met | samples |',
    '| ---- | ------ | ----: | ---- | --- | ------: |',
    ...rows.map(
      (row) =>
        `| ${row.part} | ${escape(row.label)} | ${formatValue(row)} | ${row.goal} | ${metText(row.met)} | ${row.samples ?? ''} |`,
    ),
  ].join('\n');
}

async function previousParts(): Promise<Record<string, PartEntry>> {
  try {
    const previous = JSON.parse(await readFile(RESULTS, 'utf8')) as {
      parts?: Record<string, PartEntry>;
    };
    return previous.parts ?? {};
  } catch {
    return {};
  }
}

async function updateDoc(section: string): Promise<boolean> {
  let doc: string;
  try {
    doc = await readFile(DOC, 'utf8');
  } catch {
    return false;
  }
  const start = doc.indexOf(START);
  const end = doc.indexOf(END);
  if (start < 0 || end < start) return false;
  const text = `${doc.slice(0, start + START.length)}\n\n${section}\n\n${doc.slice(end)}`;
  // Formatted as `prettier --check .` (part of npm test) expects, table columns aligned.
  const prettier = await import('prettier');
  const options = (await prettier.resolveConfig(DOC)) ?? {};
  await writeFile(DOC, await prettier.format(text, { ...options, filepath: DOC }));
  return true;
}

/**
 * `--table`: measure nothing; render latest.json's parts into its figures and the doc's table.
 * Runs made on separate branches are merged part by part into one latest.json, and the table
 * must then say when each part was measured rather than claim one run.
 */
async function rewriteTable(): Promise<number> {
  const previous = JSON.parse(await readFile(RESULTS, 'utf8')) as Record<string, unknown>;
  const parts = await previousParts();
  const rows = rowsOf(parts);
  await writeFile(RESULTS, `${JSON.stringify({ ...previous, figures: rows, parts }, null, 2)}\n`);
  const when = Object.entries(parts)
    .map(([name, entry]) => `${name} (${entry.date.slice(0, 16).replace('T', ' ')} UTC)`)
    .join(', ');
  const section = [
    `Parts measured in separate runs on this machine, its 2 cores often shared; each part's date: ${when}.`,
    '',
    markdownTable(rows),
  ].join('\n');
  const documented = await updateDoc(section);
  log(`bench: wrote ${RESULTS}${documented ? ` and the table in ${DOC}` : ''}`);
  return documented ? 0 : 1;
}

async function main(): Promise<number> {
  installSignalHandlers(log);
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      result: { type: 'string', multiple: true },
      table: { type: 'boolean' },
    },
  });
  if (values.table) return rewriteTable();
  // Parts measured by their own script: `name=file` with the JSON it printed.
  const given = new Map<string, string>();
  for (const entry of values.result ?? []) {
    const [name, file] = entry.split('=', 2);
    if (!name || !file) {
      log(`bench: --result takes part=file.json, not '${entry}'`);
      return 2;
    }
    given.set(name, file);
  }
  const known = new Set(PARTS.map((part) => part.name));
  const only = values.only
    ?.split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  const unknown = [...(only ?? []), ...given.keys()].filter((name) => !known.has(name));
  if (only?.length === 0) unknown.push('(none given)');
  if (unknown.length > 0) {
    log(`bench: unknown part ${unknown.join(', ')} (parts: ${[...known].join(', ')})`);
    return 2;
  }
  const selected = PARTS.filter((part) => !only || only.includes(part.name));

  const date = new Date().toISOString();
  const machine = await machineInfo();
  log(
    `bench: ${machine.cpus} × ${machine.model}, ${machine.memoryGB} GB, load ${machine.loadAverage.join(' ')}`,
  );
  // Every part's dashboard is this build (test/e2e/support/app.ts reads the variable); none is
  // needed when every selected part's result is given.
  const serverJs = selected.every((part) => given.has(part.name)) ? null : await ensureBuild(log);
  if (serverJs) process.env.BEAMSCOPE_SERVER_JS = serverJs;
  const [versionInfo, git] = await Promise.all([versions(), gitInfo()]);

  const parts = only ? await previousParts() : {};
  const results = () => ({
    date,
    machine,
    versions: versionInfo,
    git,
    server: serverJs,
    only: only ?? null,
    figures: rowsOf(parts),
    parts,
  });
  await mkdir(join(root, 'bench/results'), { recursive: true });
  for (const part of selected) {
    log(`bench: ${part.name} (${part.what})`);
    const file = given.get(part.name);
    const outcome: PartOutcome = file
      ? { status: 'ok', durationMs: 0, result: JSON.parse(await readFile(file, 'utf8')) as unknown }
      : await runPart(part);
    parts[part.name] = { date: new Date().toISOString(), outcome };
    // After every part, so an interrupted run keeps what it measured.
    await writeFile(RESULTS, `${JSON.stringify(results(), null, 2)}\n`);
    log(
      `bench: ${part.name} ${outcome.status}${'durationMs' in outcome ? ` in ${Math.round(outcome.durationMs / 1000)} s` : ''}${
        outcome.status === 'ok'
          ? ''
          : `: ${(outcome.status === 'failed' ? outcome.error : outcome.reason).split('\n')[0]}`
      }`,
    );
  }

  const rows = rowsOf(parts);

  process.stdout.write(`${textTable(rows)}\n`);
  const older = Object.entries(parts)
    .filter(([name]) => !selected.some((part) => part.name === name))
    .map(([name, entry]) => `${name} (${entry.date.slice(0, 16).replace('T', ' ')} UTC)`);
  const section = [
    `Measured ${date.slice(0, 16).replace('T', ' ')} UTC on ${machine.cpus} × ${machine.model}, ` +
      `${machine.memoryGB} GB, ${machine.os} (load average ${machine.loadAverage[0]} at the start); ` +
      `Node ${versionInfo.node}, OTP ${versionInfo.otp ?? '?'}, Next.js ${versionInfo.next ?? '?'}, ` +
      `${versionInfo.chromium ?? 'Chromium ?'}; commit ${git.commit?.slice(0, 12) ?? '?'}${git.dirty ? ' with uncommitted changes' : ''}.` +
      (older.length > 0 ? ` Parts from an earlier run: ${older.join(', ')}.` : ''),
    '',
    markdownTable(rows),
  ].join('\n');
  const documented = await updateDoc(section);
  log(
    `bench: wrote ${RESULTS}${documented ? ` and the table in ${DOC}` : ` (no ${START} … ${END} in ${DOC})`}`,
  );
  const failed = selected.filter((part) => parts[part.name]?.outcome.status === 'failed');
  return failed.length > 0 ? 1 : 0;
}

main().then(
  async (code) => {
    await stopEverything();
    process.exit(code);
  },
  async (error: unknown) => {
    log(`bench failed: ${messageOf(error)}`);
    await stopEverything();
    process.exit(1);
  },
);
