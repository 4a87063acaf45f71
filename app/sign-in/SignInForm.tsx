'use client';

import { useState, useSyncExternalStore, type FormEvent } from 'react';

import type { ApiError } from '@/lib/api';

/** `isSecureContext` never changes during a page's life: nothing to subscribe to. */
const noChanges = () => () => undefined;

/**
 * The access-token form. It works without JavaScript (a plain POST to /api/session, answered
 * with a redirect); with it, the answer's status and message are shown in place. The token stays
 * in the form field and the request body only.
 */
export function SignInForm({
  next,
  initialError,
  label = 'Access token',
}: {
  next: string;
  initialError?: string;
  /** What the token is: the shared access token, or the user's own Kubernetes token. */
  label?: string;
}) {
  const [error, setError] = useState(initialError);
  const [busy, setBusy] = useState(false);
  // The session cookie is Secure: browsers keep it only on HTTPS or on localhost. Say so
  // before a sign-in that could only loop back here.
  const insecure = useSyncExternalStore(
    noChanges,
    () => !window.isSecureContext,
    () => false,
  );

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const token = String(new FormData(event.currentTarget).get('token') ?? '');
    setBusy(true);
    try {
      const response = await fetch('/api/session', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token, next }),
      });
      if (response.ok) {
        window.location.assign(next);
        return;
      }
      const body = (await response.json().catch(() => null)) as ApiError | null;
      setError(body?.error.message ?? `sign-in failed (HTTP ${response.status})`);
    } catch {
      setError('the server did not answer; try again');
    } finally {
      setBusy(false);
    }
  }

  return (
    <form
      method="post"
      action="/api/session"
      onSubmit={(event) => void submit(event)}
      className="space-y-4"
      data-testid="sign-in-form"
    >
      <input type="hidden" name="next" value={next} />
      <label className="block space-y-1">
        <span className="text-sm font-medium">{label}</span>
        <input
          name="token"
          type="password"
          autoComplete="current-password"
          required
          autoFocus
          className="w-full rounded border border-slate-300 bg-white px-3 py-2 font-mono dark:border-slate-700 dark:bg-slate-900"
        />
      </label>
      <button
        type="submit"
        disabled={busy}
        className="rounded bg-slate-900 px-4 py-2 font-medium text-white disabled:opacity-50 dark:bg-slate-100 dark:text-slate-900"
      >
        Sign in
      </button>
      {error ? (
        <p role="alert" className="text-red-700 dark:text-red-400" data-testid="sign-in-error">
          {error}
        </p>
      ) : null}
      {insecure ? (
        <p className="text-amber-700 dark:text-amber-400" data-testid="sign-in-insecure">
          This page is not served over HTTPS, so the browser will not keep the session cookie. Reach
          beamscope through TLS, or through <code>kubectl port-forward</code> on localhost.
        </p>
      ) : null}
    </form>
  );
}
