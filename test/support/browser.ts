// Headless Debian Chromium driven by playwright-core (LAB.md flags: no downloads, no sandbox as
// root), and signing in through the dev IdP as a user would.
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { TEST_IDP_PASSWORD } from './portal.ts';

export const CHROMIUM_PATH = '/usr/bin/chromium';

export interface TestBrowser {
  browser: Browser;
  /** A first context, ready to use. */
  context: BrowserContext;
  /** Another context: its own cookies, so another user. */
  newContext(): Promise<BrowserContext>;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<TestBrowser> {
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
  const context = await browser.newContext();
  return {
    browser,
    context,
    newContext: () => browser.newContext(),
    close: () => browser.close(),
  };
}

/** Signs in on a fresh page through the portal's sign-in button and the dev IdP form. */
export async function signIn(context: BrowserContext, base: string, username: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(base);
  await page.getByTestId('login-dev').click();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(TEST_IDP_PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('user-name').waitFor();
  return page;
}

/** The two window sizes every screen must work at (issue 13: usable at 1024×768). */
export const LARGE = { width: 1280, height: 800 } as const;
export const SMALL = { width: 1024, height: 768 } as const;

/**
 * With AIRLOCK_SHOTS_DIR set, saves the page at both sizes as `<name>-<w>x<h>.png` there (for
 * looking at the screens), and puts the page back at LARGE; without it, does nothing.
 */
export async function shots(p: Page, name: string, opts: { fullPage?: boolean } = {}): Promise<void> {
  const dir = process.env['AIRLOCK_SHOTS_DIR'];
  if (dir === undefined || dir === '') return;
  for (const viewport of [LARGE, SMALL]) {
    await p.setViewportSize(viewport);
    await p.screenshot({ path: `${dir}/${name}-${viewport.width}x${viewport.height}.png`, fullPage: opts.fullPage ?? false });
  }
  await p.setViewportSize(LARGE);
}

/** Contexts opened by a suite, each its own user; `closeAll` in afterAll. */
export class Contexts {
  private readonly open: BrowserContext[] = [];
  private readonly browser: () => Browser;

  constructor(browser: () => Browser) {
    this.browser = browser;
  }

  async context(opts: { viewport?: { width: number; height: number }; timezoneId?: string } = {}): Promise<BrowserContext> {
    const c = await this.browser().newContext({ viewport: opts.viewport ?? LARGE, ...(opts.timezoneId === undefined ? {} : { timezoneId: opts.timezoneId }) });
    this.open.push(c);
    return c;
  }

  /** A page signed in as `username`. */
  async page(base: string, username: string, opts: { viewport?: { width: number; height: number }; timezoneId?: string } = {}): Promise<Page> {
    return signIn(await this.context(opts), base, username);
  }

  async closeAll(): Promise<void> {
    for (const c of this.open.splice(0)) await c.close();
  }
}
