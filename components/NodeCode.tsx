'use client';

import type { BeamSide } from '@/lib/cluster-state';
import type { CodeSkew } from '@/lib/code-skew';
import { formatClock, formatCount } from '@/lib/format';

/** Props of {@link NodeCode}. */
export interface NodeCodeProps {
  beam: BeamSide;
  skew: CodeSkew | null;
}

/**
 * A node's code in the drawer: its running applications and versions (from the last code scan),
 * when that scan ran, and the skewed modules and applications where this node runs another
 * version than most nodes.
 */
export function NodeCode({ beam, skew }: NodeCodeProps) {
  const scan = beam.codeScan;
  const node = beam.node;
  const offMain = [
    ...(skew?.modules ?? []).map((entry) => ({ name: entry.module, versions: entry.versions })),
    ...(skew?.applications ?? []).map((entry) => ({
      name: entry.application,
      versions: entry.versions,
    })),
  ].filter((entry) => entry.versions.slice(1).some((version) => version.nodes.includes(node)));
  return (
    <section data-testid="node-code">
      <h3 className="mb-1 font-semibold">Applications</h3>
      <p className="mb-1 text-xs text-slate-500">
        {scan
          ? `code scanned ${formatClock(scan.at)}: ${formatCount(scan.modules)} modules${scan.skipped > 0 ? `, ${formatCount(scan.skipped)} not read` : ''}`
          : 'code not scanned yet'}
      </p>
      {scan?.error ? <p className="text-xs text-red-700 dark:text-red-400">{scan.error}</p> : null}
      {offMain.length > 0 ? (
        <p className="mb-1 text-xs text-amber-800 dark:text-amber-300" data-testid="node-skew">
          <span aria-hidden>⚠ </span>
          runs another version than most nodes of {offMain.map((entry) => entry.name).join(', ')}
        </p>
      ) : null}
      {beam.applications && beam.applications.length > 0 ? (
        <dl className="grid grid-cols-[8rem_1fr] gap-x-3 gap-y-0.5" data-testid="node-applications">
          {beam.applications.map((app) => (
            <div key={app.name} className="contents">
              <dt className="truncate text-slate-500" title={app.name}>
                {app.name}
              </dt>
              <dd className="font-mono text-xs">{app.version}</dd>
            </div>
          ))}
        </dl>
      ) : null}
    </section>
  );
}
