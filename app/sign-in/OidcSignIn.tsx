/**
 * Sign-in with the identity provider (access.mode oidc): a plain link, so it works without
 * JavaScript; the server sends the browser on to the provider and back.
 */
export function OidcSignIn({ next, error }: { next: string; error?: string }) {
  const start = `/api/session/oidc?${new URLSearchParams({ next }).toString()}`;
  return (
    <div className="space-y-4" data-testid="oidc-sign-in">
      <a
        href={start}
        className="inline-block rounded bg-slate-900 px-4 py-2 font-medium text-white dark:bg-slate-100 dark:text-slate-900"
      >
        Sign in with your identity provider
      </a>
      {error ? (
        <p role="alert" className="text-red-700 dark:text-red-400" data-testid="sign-in-error">
          {error}
        </p>
      ) : null}
    </div>
  );
}
