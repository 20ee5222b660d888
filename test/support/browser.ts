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
