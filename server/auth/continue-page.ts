import 'server-only';

function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char]!,
  );
}

/**
 * A page that moves the browser on to `location`. After the provider's redirect a plain 303
 * would carry the cross-site chain along, and Chromium then withholds the SameSite=Strict
 * session cookie from the next request; a navigation started by this page is same-site. After
 * sign-out it also avoids the page's CSP `form-action 'self'`, which would block a form's
 * redirect to the provider.
 */
export function continuePage(location: string, what: string, headers: Headers): Response {
  const target = escapeHtml(location);
  headers.set('content-type', 'text/html; charset=utf-8');
  headers.set('cache-control', 'no-store');
  return new Response(
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=${target}"><title>${what} · beamscope</title></head><body><p>${what}. <a href="${target}">Continue</a></p></body></html>\n`,
    { status: 200, headers },
  );
}

/**
 * This server's origin as the browser reached it: the Host header, since Next's `nextUrl` writes
 * 127.0.0.1 as localhost (another origin to the browser and the provider), and so may `request.url`. Behind a proxy that
 * ends TLS or rewrites the host, `access.oidc.redirectUrl` names the origin instead.
 */
export function originOf(request: Request): string {
  const url = new URL(request.url);
  const host = request.headers.get('host');
  return host ? `${url.protocol}//${host}` : url.origin;
}
