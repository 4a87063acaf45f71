'use client';

import { useState, type FormEvent } from 'react';

import type { ApiError, RegistryLookupResponse } from '@/lib/api';

/** Props of {@link RegistryLookup}. */
export interface RegistryLookupProps {
  clusterId: string;
  /** A node of an answer was clicked: select its member. */
  onSelectNode(node: string): void;
}

/** "Where is name X?": asks every connected node, shows node, pid and registry of each match. */
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

  const matches =
    answer?.nodes.flatMap((entry) => entry.matches.map((match) => ({ node: entry.node, match }))) ??
    [];
  const errors =
    answer?.nodes.flatMap((entry) => entry.errors.map((error) => ({ node: entry.node, error }))) ??
    [];

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
          placeholder="a registered name"
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
          failure || answer ? 'relative max-h-40 overflow-auto px-3 py-2 text-sm' : 'sr-only'
        }
        data-testid="lookup-result"
        aria-live="polite"
      >
        {failure ? <p className="text-red-700 dark:text-red-400">⚠ {failure}</p> : null}
        {answer && matches.length === 0 ? (
          <p className="text-slate-500" data-testid="lookup-none">
            “{answer.name}” is registered nowhere ({answer.nodes.length} nodes asked).
          </p>
        ) : null}
        {matches.length > 0 ? (
          <ul className="space-y-1">
            {matches.map(({ node, match }, index) => (
              <li
                key={`${node}-${match.registry}-${match.registryName ?? ''}-${match.keyType}-${index}`}
                data-testid="lookup-match"
                data-node={match.pid?.node ?? node}
              >
                <span className="font-mono">{answer!.name}</span> in{' '}
                <span className="font-semibold">
                  {match.registry}
                  {match.registryName ? ` ${match.registryName}` : ''}
                </span>{' '}
                ({match.keyType}) →{' '}
                <button
                  type="button"
                  onClick={() => onSelectNode(match.pid?.node ?? node)}
                  className="font-mono text-sky-700 hover:underline dark:text-sky-400"
                >
                  {match.pid ? `${match.pid.node} <${match.pid.id}.${match.pid.serial}>` : node}
                </button>
                {match.pid && match.pid.node !== node ? (
                  <span className="text-slate-500"> (as {node} sees it)</span>
                ) : null}
              </li>
            ))}
          </ul>
        ) : null}
        {errors.length > 0 ? (
          <ul className="mt-1 text-xs text-amber-800 dark:text-amber-300">
            {errors.map(({ node, error }) => (
              <li key={`${node}-${error.registry}`}>
                ⚠ {node}: {error.registry} — {error.message}
              </li>
            ))}
          </ul>
        ) : null}
      </div>
    </section>
  );
}
