// @ts-check

/** @type {import('next').NextConfig} */
const nextConfig = {
  // Standalone output is what the container image carries (node server.js, no node_modules).
  output: 'standalone',
  // Keep the Kubernetes client (undici, ws) and the YAML parser unbundled: they are Node
  // libraries with dynamic requires that bundling breaks.
  serverExternalPackages: ['@kubernetes/client-node'],
  poweredByHeader: false,
  reactStrictMode: true,
};

export default nextConfig;
