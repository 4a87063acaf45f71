'use client';

import { useState } from 'react';

import type { ApiError } from '@/lib/api';
import {
  SANDBOX_APP_VERSIONS,
  type SandboxActionRequest,
  type SandboxAppVersion,
  type SandboxStatusResponse,
} from '@/lib/api-sandbox';
import { compareNames } from '@/lib/names';

import { useApi } from './use-api';

const BUTTON =
  'rounded border border-slate-300 bg-white px-2 py-1 hover:bg-slate-50 disabled:opacity-50 dark:border-slate-700 dark:bg-slate-900 dark:hover:bg-slate-800';

/**
 * Drives the sandbox the server runs on — scale, kill, OOM kill, partition, heal, miscookie, a pod (or a
 * rolling upgrade) on another release of the demo app — so a
 * newcomer can make the cluster move and watch the dashboard follow. Hidden elsewhere.
 */
export function SandboxPanel() {
  const { data, mutate } = useApi<SandboxStatusResponse>('/api/sandbox', {
    // Off a sandbox, ask once: the answer will not change.
    refreshInterval: (latest) => (latest?.available ? 3000 : 0),
  });
  const [replicas, setReplicas] = useState('5');
  const [chosen, setChosen] = useState('');
  const [release, setRelease] = useState<SandboxAppVersion>('0.2.0');
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  if (!data?.available) return null;
  const pods = [...data.pods].sort((a, b) => compareNames(a.ip, b.ip));
  const pod = pods.find((candidate) => candidate.name === chosen) ?? pods[0];

  const run = async (request: SandboxActionRequest, done: string) => {
    setBusy(true);
    setMessage(null);
    try {
      const response = await fetch('/api/sandbox', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(request),
      });
      if (!response.ok) {
        const body = (await response.json().catch(() => null)) as ApiError | null;
        setMessage({
          ok: false,
          text: body?.error.message ?? `the server answered ${response.status}`,
        });
      } else setMessage({ ok: true, text: done });
      await mutate();
    } catch {
      setMessage({ ok: false, text: 'the server is unreachable' });
    } finally {
      setBusy(false);
    }
  };

  const half = Math.ceil(pods.length / 2);
  return (
    <section
      aria-label="Sandbox controls"
      data-testid="sandbox-panel"
      className="flex flex-wrap items-center gap-x-4 gap-y-2 rounded-lg border border-dashed border-sky-300 bg-sky-50/60 px-3 py-2 text-sm dark:border-sky-800 dark:bg-sky-950/30"
    >
      <span className="font-semibold">Sandbox</span>
      <form
        className="flex items-center gap-1"
        onSubmit={(event) => {
          event.preventDefault();
          void run({ action: 'scale', replicas: Number(replicas) }, `scaled to ${replicas}`);
        }}
      >
        <label htmlFor="sandbox-replicas">pods</label>
        <input
          id="sandbox-replicas"
          type="number"
          min={0}
          max={50}
          value={replicas}
          onChange={(event) => setReplicas(event.target.value)}
          className="w-16 rounded border border-slate-300 bg-white px-1 py-0.5 dark:border-slate-700 dark:bg-slate-950"
        />
        <button type="submit" disabled={busy} className={BUTTON}>
          Scale
        </button>
      </form>
      <span className="flex items-center gap-1">
        <select
          aria-label="Pod to act on"
          value={pod?.name ?? ''}
          onChange={(event) => setChosen(event.target.value)}
          className="rounded border border-slate-300 bg-white px-1 py-0.5 dark:border-slate-700 dark:bg-slate-950"
        >
          {pods.map((candidate) => (
            <option key={candidate.name} value={candidate.name}>
              {candidate.ip} · {candidate.name}
            </option>
          ))}
        </select>
        <button
          type="button"
          disabled={busy || !pod}
          className={BUTTON}
          onClick={() =>
            pod && void run({ action: 'kill', pod: pod.name }, `killed the node of ${pod.name}`)
          }
        >
          Kill
        </button>
        <button
          type="button"
          disabled={busy || !pod}
          className={BUTTON}
          title="The kernel's OOM killer ends the pod's container: it restarts with reason OOMKilled"
          onClick={() =>
            pod &&
            void run({ action: 'oom-kill', pod: pod.name }, `OOM-killed the node of ${pod.name}`)
          }
        >
          OOM kill
        </button>
        <button
          type="button"
          disabled={busy || !pod}
          className={BUTTON}
          onClick={() =>
            pod &&
            void run(
              { action: 'miscookie', pod: pod.name },
              `${pod.name} restarts with a wrong cookie`,
            )
          }
        >
          Wrong cookie
        </button>
        <button
          type="button"
          disabled={busy || !pod}
          className={BUTTON}
          onClick={() =>
            pod &&
            void run(
              { action: 'miscookie', pod: pod.name, restore: true },
              `${pod.name} has the right cookie again`,
            )
          }
        >
          Right cookie
        </button>
      </span>
      <span className="flex items-center gap-1">
        <button
          type="button"
          disabled={busy || pods.length < 2}
          className={BUTTON}
          onClick={() =>
            void run(
              {
                action: 'partition',
                sides: [
                  pods.slice(0, half).map((entry) => entry.name),
                  pods.slice(half).map((entry) => entry.name),
                ],
              },
              'split the mesh in two',
            )
          }
        >
          Partition in two
        </button>
        <button
          type="button"
          disabled={busy}
          className={BUTTON}
          onClick={() => void run({ action: 'heal' }, 'healed')}
        >
          Heal
        </button>
      </span>
      <span className="flex items-center gap-1">
        <select
          aria-label="Demo app release"
          value={release}
          onChange={(event) => setRelease(event.target.value as SandboxAppVersion)}
          className="rounded border border-slate-300 bg-white px-1 py-0.5 dark:border-slate-700 dark:bg-slate-950"
        >
          {SANDBOX_APP_VERSIONS.map((version) => (
            <option key={version} value={version}>
              myapp {version}
            </option>
          ))}
        </select>
        <button
          type="button"
          disabled={busy || !pod}
          className={BUTTON}
          onClick={() =>
            pod &&
            void run(
              { action: 'app-version', pod: pod.name, version: release },
              `${pod.name} restarts on myapp ${release}`,
            )
          }
        >
          Run on pod
        </button>
        <button
          type="button"
          disabled={busy}
          className={BUTTON}
          onClick={() =>
            void run(
              { action: 'upgrade', version: release },
              `rolled every pod out on myapp ${release}`,
            )
          }
        >
          Rolling upgrade
        </button>
      </span>
      {message ? (
        <span
          role="status"
          data-testid="sandbox-message"
          className={
            message.ok ? 'text-slate-600 dark:text-slate-300' : 'text-red-700 dark:text-red-400'
          }
        >
          {message.ok ? '✓ ' : '⚠ '}
          {message.text}
        </span>
      ) : null}
    </section>
  );
}
