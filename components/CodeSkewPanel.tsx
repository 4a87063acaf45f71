'use client';

import {
  applicationSkewLine,
  codeSkewHeadline,
  moduleSkewLine,
  type CodeSkew,
  type SkewVersion,
} from '@/lib/code-skew';
import { formatCount } from '@/lib/format';

/** Props of {@link CodeSkewPanel}. */
export interface CodeSkewPanelProps {
  skew: CodeSkew | null;
  /** A node's name was picked: open it. */
  onSelectNode(node: string): void;
}

/** One version and the nodes that run it, each a button that opens the node. */
function VersionRow({
  version,
  label,
  onSelectNode,
}: {
  version: SkewVersion;
  label: string;
  onSelectNode(node: string): void;
}) {
  const unnamed = version.count - version.nodes.length;
  return (
    <li className="flex flex-wrap items-baseline gap-x-2">
      <span className="font-mono" title={version.id}>
        {label}
      </span>
      <span className="text-amber-800 dark:text-amber-200">
        on {formatCount(version.count)} node{version.count === 1 ? '' : 's'}:
      </span>
      {version.nodes.map((node) => (
        <button
          key={node}
          type="button"
          onClick={() => onSelectNode(node)}
          className="font-mono underline decoration-dotted hover:decoration-solid focus-visible:outline-2 focus-visible:outline-sky-500"
        >
          {node}
        </button>
      ))}
      {unnamed > 0 ? <span>and {formatCount(unnamed)} more</span> : null}
    </li>
  );
}

/**
 * What differs between the nodes' code: each skewed module with its md5s and the nodes running
 * each, then the applications whose version differs. Shown while a rolling deploy runs (or after
 * one stopped half way); absent when every scanned node runs the same code.
 */
export function CodeSkewPanel({ skew, onSelectNode }: CodeSkewPanelProps) {
  if (!skew) return null;
  const hiddenModules = skew.moduleCount - skew.modules.length;
  return (
    <section
      role="status"
      aria-labelledby="code-skew-heading"
      data-testid="code-skew"
      className="rounded-lg border border-amber-300 bg-amber-50 px-4 py-3 text-sm text-amber-950 dark:border-amber-900 dark:bg-amber-950/60 dark:text-amber-100"
    >
      <h2 id="code-skew-heading" className="font-semibold">
        <span aria-hidden>⚠ </span>Code skew: {codeSkewHeadline(skew)}
      </h2>
      <p className="mt-0.5 text-xs">
        {formatCount(skew.scannedNodes)} nodes compared by module md5 and application version. Nodes
        on different code can fail with <code>badfun</code> and protocol errors: a deploy in
        progress, or one that stopped half way.
      </p>
      {skew.modules.length > 0 ? (
        <ul className="mt-2 space-y-1.5" aria-label="Modules that differ">
          {skew.modules.map((entry) => (
            <li key={entry.module} data-testid="skewed-module" data-module={entry.module}>
              <p className="font-medium">{moduleSkewLine(entry)}</p>
              <ul className="ml-4 space-y-0.5 text-xs">
                {entry.versions.map((version) => (
                  <VersionRow
                    key={version.id}
                    version={version}
                    label={`md5 ${version.id.slice(0, 8)}`}
                    onSelectNode={onSelectNode}
                  />
                ))}
              </ul>
            </li>
          ))}
        </ul>
      ) : null}
      {hiddenModules > 0 ? (
        <p className="mt-1 text-xs">and {formatCount(hiddenModules)} more modules differ</p>
      ) : null}
      {skew.applications.length > 0 ? (
        <ul className="mt-2 space-y-1.5" aria-label="Applications that differ">
          {skew.applications.map((entry) => (
            <li
              key={entry.application}
              data-testid="skewed-application"
              data-application={entry.application}
            >
              <p className="font-medium">{applicationSkewLine(entry)}</p>
              <ul className="ml-4 space-y-0.5 text-xs">
                {entry.versions.map((version) => (
                  <VersionRow
                    key={version.id}
                    version={version}
                    label={version.id}
                    onSelectNode={onSelectNode}
                  />
                ))}
              </ul>
            </li>
          ))}
        </ul>
      ) : null}
    </section>
  );
}
