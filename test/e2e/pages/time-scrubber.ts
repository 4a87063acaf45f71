import type { Locator, Page } from 'playwright-core';

/** The dashboard's time bar and "viewing …" banner, as an operator drives them. */
export class TimeScrubberPage {
  constructor(readonly page: Page) {}

  bar(): Locator {
    return this.page.getByTestId('time-travel');
  }

  track(): Locator {
    return this.page.getByTestId('scrub-track');
  }

  historyStatus(): Locator {
    return this.page.getByTestId('history-status');
  }

  banner(): Locator {
    return this.page.getByTestId('viewing-banner');
  }

  /** The moments of the track's ticks of `kind` (`partition`, `heal`, `gap`, `node_down`). */
  async tickMoments(kind: string): Promise<number[]> {
    return this.page
      .locator(`[data-testid="scrub-tick"][data-kind="${kind}"]`)
      .evaluateAll((ticks) => ticks.map((tick) => Number(tick.getAttribute('data-at'))));
  }

  /**
   * The moment the page shows (null when live), as the dashboard marks it, once it is loaded
   * (until then the page keeps the last moment on screen).
   */
  async shownMoment(): Promise<number | null> {
    const dashboard = this.page.getByTestId('dashboard');
    const deadline = Date.now() + 15_000;
    while ((await dashboard.getAttribute('data-loading')) === 'true') {
      if (Date.now() > deadline) throw new Error('the moment did not load in 15 s');
      await this.page.waitForTimeout(100);
    }
    const at = await dashboard.getAttribute('data-at');
    return at === null ? null : Number(at);
  }

  /**
   * Drags the thumb with the mouse from where it is to the place of `at` on the track, as an
   * operator would: press on the thumb, move in steps, release.
   */
  async dragTo(at: number): Promise<void> {
    const track = this.track();
    await track.scrollIntoViewIfNeeded();
    const box = await track.boundingBox();
    if (!box) throw new Error('the scrubber’s track is not on screen');
    const { from, to, value } = await track.evaluate((input: HTMLInputElement) => ({
      from: Number(input.min),
      to: Number(input.max),
      value: Number(input.value),
    }));
    // The thumb's centre runs from half a thumb (8 px) in from each end of the track.
    const xOf = (moment: number) => box.x + 8 + ((moment - from) / (to - from)) * (box.width - 16);
    const y = box.y + box.height / 2;
    await this.page.mouse.move(xOf(value), y);
    await this.page.mouse.down();
    await this.page.mouse.move(xOf(at), y, { steps: 20 });
    await this.page.mouse.up();
  }

  async backToLive(): Promise<void> {
    await this.page.getByTestId('back-to-live').click();
  }
}
