import type { Metadata } from 'next';
import { redirect } from 'next/navigation';

import { getAccessGate } from '@/server/auth';
import { safeNext } from '@/server/auth/sign-in';

import { OidcSignIn } from './OidcSignIn';
import { SignInForm } from './SignInForm';

export const dynamic = 'force-dynamic';

export const metadata: Metadata = { title: 'Sign in · beamscope' };

/** Why the last attempt failed, from the form's redirect (the no-JavaScript path). */
function errorText(error: unknown, retry: unknown, mode: string | undefined): string | undefined {
  if (error === 'invalid') {
    return mode === 'kubernetes'
      ? "No cluster's API server accepts that token."
      : 'That is not the access token.';
  }
  if (error === 'oidc_denied') return 'The identity provider did not sign you in.';
  if (error === 'oidc_unavailable') {
    return 'The identity provider cannot be reached; the server log says why. Try again later.';
  }
  if (error === 'oidc_failed') {
    return 'The sign-in at the identity provider could not be completed; the server log says why. Try again.';
  }
  if (error === 'rate_limited') {
    const seconds = typeof retry === 'string' && /^\d+$/.test(retry) ? ` in ${retry} s` : ' later';
    return `Too many failed sign-ins from this address: try again${seconds}.`;
  }
  return undefined;
}

/**
 * The sign-in page of `access.mode: token` and `kubernetes` (a token form) and `oidc` (a link
 * that starts the sign-in at the identity provider). In the other modes there is nothing to sign
 * in to: `none` goes straight to the dashboard, `proxy` says where sign-in happens.
 */
export default async function SignInPage({
  searchParams,
}: {
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const { next, error, retry, out } = await searchParams;
  const target = safeNext(next);
  const mode = getAccessGate()?.mode;
  if (mode === 'none') redirect(target);
  return (
    <main className="mx-auto flex min-h-screen max-w-sm flex-col justify-center gap-6 p-6">
      <header className="space-y-1">
        <h1 className="text-2xl font-bold tracking-tight">beamscope</h1>
        <p className="text-slate-500">Sign in to the dashboard.</p>
      </header>
      {out === '1' ? (
        <p data-testid="signed-out" className="text-slate-600 dark:text-slate-300">
          You are signed out.
        </p>
      ) : null}
      {mode === 'token' ? (
        <SignInForm next={target} initialError={errorText(error, retry, mode)} />
      ) : mode === 'kubernetes' ? (
        <>
          <SignInForm
            next={target}
            initialError={errorText(error, retry, mode)}
            label="Kubernetes token"
          />
          <p className="text-sm text-slate-500" data-testid="sign-in-kubernetes-hint">
            Your own bearer token for the cluster, e.g. from <code>kubectl create token NAME</code>.
            You see the clusters whose namespace you may read pods in.
          </p>
        </>
      ) : mode === 'oidc' ? (
        <OidcSignIn next={target} error={errorText(error, retry, mode)} />
      ) : (
        <p data-testid="sign-in-elsewhere">
          {mode === 'proxy'
            ? 'This dashboard is reached through an authenticating proxy: sign in there.'
            : 'The server is starting; reload in a moment.'}
        </p>
      )}
    </main>
  );
}
