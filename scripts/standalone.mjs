// Completes Next's standalone output (`output: 'standalone'`): the server it traces does not
// include the static assets or public/, which a CDN would usually serve. The container image,
// the demo and the end-to-end tests all run this same `.next/standalone/server.js`.
import { cp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';

if (!existsSync('.next/standalone/server.js')) {
  console.error('standalone: .next/standalone/server.js is missing; run next build first');
  process.exit(1);
}
await rm('.next/standalone/.next/static', { recursive: true, force: true });
await cp('.next/static', '.next/standalone/.next/static', { recursive: true });
if (existsSync('public')) {
  await rm('.next/standalone/public', { recursive: true, force: true });
  await cp('public', '.next/standalone/public', { recursive: true });
}
