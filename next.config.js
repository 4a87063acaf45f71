// @ts-check

/**
 * Headers for every response, the build's static files included (proxy.ts adds the same, and the
 * per-request Content-Security-Policy, to everything else). Kept in step with
 * server/auth/headers.ts. No Access-Control-* header: the API is same-origin only.
 */
const securityHeaders = [
  { key: 'X-Content-Type-Options', value: 'nosniff' },
  { key: 'Referrer-Policy', value: 'no-referrer' },
  { key: 'X-Frame-Options', value: 'DENY' },
  { key: 'Cross-Origin-Opener-Policy', value: 'same-origin' },
];

/** @type {import('next').NextConfig} */
const nextConfig = {
  // Standalone output is what the container image carries (node server.js, no node_modules).
  output: 'standalone',
  // Keep the Kubernetes client (undici, ws) and the YAML parser unbundled: they are Node
  // libraries with dynamic requires that bundling breaks. zstd-wasm reads its .wasm file beside
  // its own module (__dirname), which only holds where the package stays in node_modules.
  serverExternalPackages: ['@kubernetes/client-node', '@bokuweb/zstd-wasm'],
  poweredByHeader: false,
  reactStrictMode: true,
  async headers() {
    return [{ source: '/:path*', headers: securityHeaders }];
  },
};

export default nextConfig;
