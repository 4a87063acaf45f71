/**
 * First-load JavaScript of the dashboard page (issue 9, item 6), gzipped.
 *
 * Loads `/clusters/{id}` of the standalone production server (on the sandbox's configuration,
 * so the page renders a live cluster: graph, table, timeline) in headless Chromium with a cold
 * cache, waits until the dashboard is shown and the network has been idle, and sums every script
 * the page loaded. Each file's body is gzipped here with zlib at level 9 — the figure compared
 * with the goal, independent of how the server compresses; the bytes the server actually sent
 * (as Chromium counted them) are reported beside it.
 *
 * Run alone: `tsx --conditions=react-server bench/bundle-size.ts`.
 */
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

import { goalFigure, plainFigure, type Figure } from './support/figures';
import { installSignalHandlers } from './support/lifecycle';
import { sleep, startBenchStack } from './support/stack';

export interface BundleSizeOptions {
  log?: (line: string) => void;
}

export interface BundleFile {
  path: string;
  rawBytes: number;
  gzipBytes: number;
  /** The response body as sent (compressed when the server compressed it). */
  transferBytes: number | null;
}

export interface BundleSizeResults {
  page: string;
  method: 'zlib gzip level 9 of each script body';
  files: BundleFile[];
  totals: { files: number; rawKB: number; gzipKB: number; transferKB: number | null };
  figures: { firstLoadGzip: Figure; firstLoadRaw: Figure };
}

const GOAL_KB = 250;
const kb = (bytes: number) => Math.round((bytes / 1024) * 10) / 10;

export async function runBundleSizeBench(
  options: BundleSizeOptions = {},
): Promise<BundleSizeResults> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const stack = await startBenchStack({ pods: 2, browser: true, log });
  try {
    const { dashboard, clusterId } = stack;
    const context = await stack.browser!.newContext({ viewport: { width: 1440, height: 1000 } });
    const page = await context.newPage();
    const pending: Array<Promise<BundleFile | null>> = [];
    page.on('response', (response) => {
      if (response.request().resourceType() !== 'script') return;
      pending.push(
        (async () => {
          const body = await response.body().catch(() => null);
          if (!body) return null;
          const sizes = await response
            .request()
            .sizes()
            .catch(() => null);
          return {
            path: new URL(response.url()).pathname,
            rawBytes: body.length,
            gzipBytes: gzipSync(body, { level: 9 }).length,
            transferBytes: sizes ? sizes.responseBodySize : null,
          };
        })(),
      );
    });
    const path = `/clusters/${encodeURIComponent(clusterId)}`;
    await page.goto(`${dashboard.url}${path}`, { waitUntil: 'networkidle' });
    await page.getByTestId('dashboard').waitFor({ timeout: 30_000 });
    await page.locator('tr[data-testid="member-row"]').first().waitFor({ timeout: 30_000 });
    // Anything loaded lazily once data is in (the graph engine, say) is part of the first load.
    await page.waitForLoadState('networkidle');
    await sleep(1000);
    const files = (await Promise.all(pending))
      .filter((file): file is BundleFile => file !== null)
      .sort((a, b) => b.gzipBytes - a.gzipBytes);
    await context.close();
    const sum = (pick: (file: BundleFile) => number) =>
      files.reduce((total, file) => total + pick(file), 0);
    const transfer = files.every((file) => file.transferBytes !== null)
      ? kb(sum((file) => file.transferBytes ?? 0))
      : null;
    const gzipKB = kb(sum((file) => file.gzipBytes));
    const rawKB = kb(sum((file) => file.rawBytes));
    log(`bundle-size: ${files.length} scripts, ${gzipKB} KB gzipped (${rawKB} KB raw)`);
    return {
      page: path,
      method: 'zlib gzip level 9 of each script body',
      files,
      totals: { files: files.length, rawKB, gzipKB, transferKB: transfer },
      figures: {
        firstLoadGzip: goalFigure(
          'dashboard first-load JS, gzipped',
          gzipKB,
          GOAL_KB,
          'KB',
          files.length,
        ),
        firstLoadRaw: plainFigure(
          'dashboard first-load JS, uncompressed',
          rawKB,
          'KB',
          files.length,
        ),
      },
    };
  } finally {
    await stack.stop();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  installSignalHandlers((line) => process.stderr.write(`${line}\n`));
  const results = await runBundleSizeBench();
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  process.exit(0);
}
