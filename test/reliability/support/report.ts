import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Where scenario records go: `test/reliability/results/<mode>/<slug>.json` (gitignored). */
export const RESULTS_DIR = join(import.meta.dirname, '..', 'results');

/** What one fault scenario measured, as `docs/reliability.md` tabulates it. */
export interface ScenarioResult {
  scenario: string;
  injected: string;
  /** From the injection until the dashboard showed it (null: not applicable or never). */
  detectMs: number | null;
  /** From the end of the fault until the dashboard matched the truth again. */
  recoverMs: number | null;
  /** The final state diff against the truth (empty: converged). */
  diff: string[];
  /** Data lost: SSE gaps not covered by a fresh snapshot, timeline events missing. */
  lost: string[];
  mode: 'quick' | 'long';
  notes?: string;
}

/** `quick` (npm test) unless `BEAMSCOPE_FAULTS=long` (npm run test:faults). */
export function faultsMode(): 'quick' | 'long' {
  return process.env.BEAMSCOPE_FAULTS === 'long' ? 'long' : 'quick';
}

/** A file name for a scenario title: lower case, dashes. */
export function slug(scenario: string): string {
  return (
    scenario
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 80) || 'scenario'
  );
}

/** Writes the scenario's record, whatever its outcome (a failed scenario is reported too). */
export async function recordScenario(result: ScenarioResult): Promise<void> {
  const dir = join(RESULTS_DIR, result.mode);
  await mkdir(dir, { recursive: true });
  const record = { ...result, recordedAt: new Date().toISOString() };
  await writeFile(
    join(dir, `${slug(result.scenario)}.json`),
    JSON.stringify(record, null, 2) + '\n',
  );
}
