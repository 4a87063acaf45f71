import { chromium, type Browser } from 'playwright-core';

/** Debian's Chromium; playwright-core never downloads a browser of its own. */
export const CHROMIUM_PATH = process.env.BEAMSCOPE_CHROMIUM ?? '/usr/bin/chromium';

/**
 * Launches headless Debian Chromium. The background-networking flags matter here: without them
 * Chromium keeps trying to reach Google's services, which this machine's closed network refuses.
 * Playwright gives every launch a fresh temporary profile of its own.
 */
export async function launchChromium(): Promise<{ browser: Browser; close: () => Promise<void> }> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    browser,
    close: () => browser.close().catch(() => undefined),
  };
}
