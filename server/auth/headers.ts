import 'server-only';

/**
 * The Content-Security-Policy of a page, with this response's nonce. Scripts run only with the
 * nonce ('strict-dynamic' lets Next's nonce'd loader pull in its chunks), so an injected inline
 * script or event handler cannot run; no 'unsafe-inline' for scripts.
 *
 * Styles: Tailwind compiles to a stylesheet under /_next/static ('self'), and Next puts the nonce
 * on the few inline <style> elements it emits; no component renders a `style` attribute, and d3
 * draws on a canvas, setting styles through the CSSOM, which CSP does not govern. So styles need
 * no 'unsafe-inline' either; the e2e test listens for violations to keep it that way.
 *
 * `next dev` needs 'unsafe-eval' (React rebuilds server error stacks with eval), as Next's CSP
 * guide says; production never gets it. No `upgrade-insecure-requests`: beamscope is often
 * reached over plain HTTP on loopback (kubectl port-forward), where it would break every fetch.
 */
export function pageContentSecurityPolicy(nonce: string, development = false): string {
  return [
    "default-src 'self'",
    `script-src 'self' 'nonce-${nonce}' 'strict-dynamic'${development ? " 'unsafe-eval'" : ''}`,
    `style-src 'self' 'nonce-${nonce}'`,
    "img-src 'self' data: blob:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** API answers are data, never documents to render or frame. */
export const API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'";

/**
 * Headers every response gets (next.config.js sets the same on the ones the proxy never sees,
 * such as /_next/static). No Access-Control-* header anywhere: the API is same-origin only.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
};
