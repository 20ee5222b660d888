// A restart, as the vendor sees it in Chromium: when the portal instance starts draining, the
// session screen says "The portal is restarting; reconnect in a moment." while the session goes
// on; when the drain ends it, the screen reconnects by itself instead of showing an error.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { BrowserContext } from 'playwright-core';
import { startTestPortal, type TestPortal } from './support/portal.ts';
import { launchBrowser, signIn, type TestBrowser } from './support/browser.ts';
import { loginAs } from './support/http.ts';
import { grantNow, seedDemoPlant } from './support/workflow.ts';
import { RESTART_MESSAGE } from '../sessions/broker.ts';

/** The drain here: long enough to read the notice, short enough to wait out. */
const DRAIN_SECONDS = 3;

let portal: TestPortal;
let browser: TestBrowser;
let context: BrowserContext | undefined;

beforeAll(async () => {
  portal = await startTestPortal({ AIRLOCK_DRAIN_SECONDS: String(DRAIN_SECONDS) }, { freshDb: 14 });
  await seedDemoPlant(portal, { targets: true });
  browser = await launchBrowser();
}, 60_000);

afterAll(async () => {
  await context?.close();
  await browser?.close();
  await portal?.close();
});

describe('a draining portal, in the browser', () => {
  test('the session screen shows the restart notice while the session goes on, then reconnects by itself', async () => {
    const grant = await grantNow(portal, await loginAs(portal.publicUrl, 'vera'), await loginAs(portal.publicUrl, 'mona'), 'cnc-07');
    context = await browser.browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await signIn(context, portal.publicUrl, 'vera');
    await page.goto(`${portal.publicUrl}/#/session/${grant}`);
    await page.locator('[data-testid="session-status"][data-status="connected"]').waitFor({ timeout: 30_000 });

    const drained = portal.drain();
    await expect(page.getByTestId('session-notice').textContent({ timeout: 10_000 })).resolves.toBe(RESTART_MESSAGE);
    // Still connected: the notice is a warning, not an end.
    expect(await page.locator('[data-testid="session-status"]').getAttribute('data-status')).toBe('connected');
    // The drain ends the session; the screen retries on its own (here the only instance is
    // still draining, so the retry is refused: elsewhere it would land on another instance).
    await page.getByTestId('session-reconnecting').waitFor({ timeout: (DRAIN_SECONDS + 10) * 1000 });
    expect(await page.getByTestId('session-reconnecting').textContent()).toContain('Airlock is restarting');
    await expect(page.getByTestId('session-notice').count()).resolves.toBe(0);
    await drained;
  }, 90_000);
});
