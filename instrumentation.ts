/**
 * Next.js calls `register()` once per server process: start watching every configured cluster
 * then, not on the first request. The work lives in a Node-only module, imported only under the
 * Node.js runtime so the edge compilation never sees it.
 */
export async function register(): Promise<void> {
  if (process.env.NEXT_RUNTIME === 'nodejs') {
    const { startServerRuntime } = await import('./server/startup');
    await startServerRuntime();
  }
}
