import { type Browser, chromium } from 'playwright-core';

/**
 * Debian's Chromium, driven by playwright-core. Browser tests are required: when Chromium is
 * missing they fail with a clear message (CI installs it; locally `apt-get install -y chromium`).
 */
export const CHROMIUM_PATH = process.env.MANDATE_TEST_CHROMIUM ?? '/usr/bin/chromium';

export async function launchChromium(): Promise<Browser> {
  try {
    return await chromium.launch({
      executablePath: CHROMIUM_PATH,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
      ],
    });
  } catch (error) {
    throw new Error(
      `Chromium is required for browser tests (${CHROMIUM_PATH}): install it with apt-get install -y chromium. ${(error as Error).message}`,
    );
  }
}
