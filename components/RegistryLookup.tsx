'use client';

import { useState, type FormEvent } from 'react';

import type { ApiError, LookupEntry, LookupView, RegistryLookupResponse } from '@/lib/api';
import { namedFew } from '@/lib/names';

/** Props of {@link RegistryLookup}. */
export interface RegistryLookupProps {
  clusterId: string;
  /** A node of an answer was clicked: select its member. */
  onSelectNode(node: string): void;
}

/**
 * "Where is name X?": asks every connected node; shows one line per registry and key with each
 * distinct answer (process, its node, how many nodes hold it), and says when the copies disagree.
 */
export function RegistryLookup({ clusterId, onSelectNode }: RegistryLookupProps) {
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const [answer, setAnswer] = useState<RegistryLookupResponse | null>(null);
  const [failure, setFailure] = useState<string | null>(null);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const wanted = name.trim();
    if (!wanted) return;
    setBusy(true);
    setFailure(null);
    try {
      const response = await fetch(
        `/api/clusters/${encodeURIComponent(clusterId)}/registry?name=${encodeURIComponent(wanted)}`,
      );
      const body = (await response.json()) as RegistryLookupResponse | ApiError;
      if ('error' in body) {
        setAnswer(null);
        setFailure(body.error.message);
      } else setAnswer(body);
    } catch {
      setFailure('the server is unreachable');
    } finally {
      setBusy(false);
    }
  };

  return (
    <section
      aria-label="Registry lookup"
      className="shrink-0 rounded-lg border border-slate-200 bg-white dark:border-slate-800 dark:bg-slate-900"
      data-testid="registry-lookup"
    >
      <form
        onSubmit={submit}
        className="flex items-center gap-2 border-b border-slate-200 px-3 py-2 dark:border-slate-800"
      >
        <h2 className="font-semibold">Where is…</h2>
        <input
          value={name}
          onChange={(event) => setName(event.target.value)}
          placeholder='a name: device-42, "id", {:device, 42}, {device, 42}'
          aria-label="Registered name"
          data-testid="lookup-input"
          className="min-w-0 flex-1 rounded border border-slate-300 bg-white px-2 py-1 font-mono text-sm dark:border-slate-700 dark:bg-slate-950"
        />
        <button
          type="submit"
          disabled={busy || !name.trim()}
          className="rounded bg-sky-700 px-3 py-1 text-sm text-white disabled:opacity-50"
        >
          {busy ? 'Looking…' : 'Look up'}
        </button>
      </form>
      <div
        className={
          failure || answer ? 'relative max-h-48 overflow-auto px-3 py-2 text-sm' : 'sr-only'
        }
        data-testid="lookup-result"
        aria-live="polite"
      >
        {failure ? <p className="text-red-700 dark:text-red-400">⚠ {failure}</p> : null}
        {answer ? <LookupAnswer answer={answer} onSelectNode={onSelectNode} /> : null}
      </div>
    </section>
  );
}

/** An answer: one block per registry and key, each distinct view on its own line, then errors. */
export function LookupAnswer({
  answer,
  onSelectNode,
}: {
  answer: RegistryLookupResponse;
  onSelectNode(node: string): void;
}) {
  const errors = answer.nodes.flatMap((entry) =>
    entry.errors.map((error) => ({ node: entry.node, error })),
  );
  return (
    <>
      {answer.found ? (
        <ul className="space-y-1.5">
          {answer.entries.map((entry) => (
            <EntryBlock
              key={`${entry.registry}-${entry.registryName ?? ''}-${entry.key}`}
              entry={entry}
              onSelectNode={onSelectNode}
            />
          ))}
        </ul>
      ) : (
        <p className="text-slate-500" data-testid="lookup-none">
          “{answer.name}” is registered nowhere ({answer.nodes.length}{' '}
          {answer.nodes.length === 1 ? 'node' : 'nodes'} asked; tried{' '}
          <span className="font-mono">{answer.keys.map((key) => key.key).join(', ')}</span>).
        </p>
      )}
      {errors.length > 0 ? (
        <ul className="mt-1 text-xs text-amber-800 dark:text-amber-300">
          {errors.map(({ node, error }) => (
            <li key={`${node}-${error.registry}`}>
              ⚠ {node}: {error.registry} — {error.message}
            </li>
          ))}
        </ul>
      ) : null}
    </>
  );
}

function EntryBlock({
  entry,
  onSelectNode,
}: {
  entry: LookupEntry;
  onSelectNode(node: string): void;
}) {
  return (
    <li data-testid="lookup-entry" data-disagree={entry.disagree}>
      <p>
        <span className="font-semibold">{entry.label}</span>{' '}
        <span className="font-mono">{entry.key}</span>:{' '}
        <span className={entry.disagree ? 'font-medium text-amber-800 dark:text-amber-300' : ''}>
          {entry.disagree ? '⚠ ' : ''}
          {entry.summary}
        </span>
      </p>
      <ul className="ml-4">
        {entry.views.map((view) => (
          <ViewLine
            key={view.pid ? `${view.pid.node}-${view.pid.id}-${view.pid.serial}` : 'port'}
            view={view}
            replicated={entry.replicated}
            onSelectNode={onSelectNode}
          />
        ))}
        {entry.missingOn.length > 0 ? (
          <li className="text-slate-500" data-testid="lookup-missing">
            no such name in the {entry.missingOn.length === 1 ? 'copy' : 'copies'} of{' '}
            {namedFew(entry.missingOn)}
          </li>
        ) : null}
      </ul>
    </li>
  );
}

const HOST_NOTES = { connected: '', disconnected: 'not connected', not_a_member: 'not a member' };

function ViewLine({
  view,
  replicated,
  onSelectNode,
}: {
  view: LookupView;
  replicated: boolean;
  onSelectNode(node: string): void;
}) {
  const host = view.host?.node ?? view.nodes[0]!;
  const note = view.host ? HOST_NOTES[view.host.status] : '';
  return (
    <li data-testid="lookup-match" data-node={host}>
      →{' '}
      <button
        type="button"
        onClick={() => onSelectNode(host)}
        className="font-mono text-sky-700 hover:underline dark:text-sky-400"
      >
        {view.pid ? `<0.${view.pid.id}.${view.pid.serial}> on ${host}` : `a port on ${host}`}
      </button>
      {note ? <span className="text-red-700 dark:text-red-400"> ({note})</span> : null}
      <span className="text-slate-500">
        {' '}
        — {replicated ? 'held by' : 'registered on'} {view.nodes.length}{' '}
        {view.nodes.length === 1 ? 'node' : 'nodes'}: {namedFew(view.nodes)}
      </span>
    </li>
  );
}
