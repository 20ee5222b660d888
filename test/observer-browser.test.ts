// Required observer in Chromium (issue 14): the vendor's session screen says "Waiting for a
// plant observer" while nobody watches; the live list shows "needs observer"; from the watch
// screen the observer's arrival releases the vendor, and its Pause and Take the controls buttons
// hold the vendor's input again, each shown to the vendor at once.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import type { Page } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startTestPortal, type TestPortal } from './support/portal.ts';
import { Contexts, LARGE, launchBrowser, type TestBrowser } from './support/browser.ts';
import { loginAs, type Browserless } from './support/http.ts';
import { grantNow, seedDemoPlant } from './support/workflow.ts';

let portal: TestPortal;
let browser: TestBrowser;
let spool: string;
const contexts = new Contexts(() => browser.browser);
let vera: Browserless;
let mona: Browserless;

const page = (username: string): Promise<Page> => contexts.page(portal.publicUrl, username, { viewport: LARGE, timezoneId: 'Europe/Paris' });
const bannerState = (p: Page, state: string) => p.locator(`[data-testid="session-observer"][data-state="${state}"]`).waitFor({ timeout: 10_000 });

beforeAll(async () => {
  spool = mkdtempSync(path.join(tmpdir(), 'airlock-observer-browser-spool-'));
  portal = await startTestPortal({ AIRLOCK_RECORDING_SPOOL: spool, AIRLOCK_RECORDING_MIN_FREE_MB: '1' }, { freshDb: 11 });
  await seedDemoPlant(portal, { targets: true });
  browser = await launchBrowser();
  vera = await loginAs(portal.publicUrl, 'vera');
  mona = await loginAs(portal.publicUrl, 'mona');
});

afterAll(async () => {
  await contexts.closeAll();
  await browser?.close();
  await portal?.close();
  rmSync(spool, { recursive: true, force: true });
});

test('the vendor waits for a plant observer; the observer releases, pauses and takes the controls from the watch screen', async () => {
  // The demo's furnace controller requires an observer.
  const requestId = await grantNow(portal, vera, mona, 'furnace-ctl');
  const vendor = await page('vera');
  await vendor.getByTestId(`home-open-${requestId}`).click();
  await vendor.locator('[data-testid="session-status"][data-status="connected"]').waitFor({ timeout: 30_000 });
  await bannerState(vendor, 'waiting');
  expect(await vendor.getByTestId('session-observer').textContent()).toContain('Waiting for a plant observer');
  expect(await vendor.getByTestId('session-observer').getAttribute('role')).toBe('alert');
  const id = await vendor.evaluate(() => window.__airlockSession?.sessionId);

  const observer = await page('otto');
  await observer.getByTestId('nav-live').click();
  await observer.locator(`[data-testid="live-observer-${id ?? ''}"][data-state="waiting"]`).waitFor({ timeout: 10_000 });
  expect(await observer.getByTestId(`watch-${id ?? ''}`).textContent()).toContain('needs observer');
  await observer.getByTestId(`watch-${id ?? ''}`).click();
  await bannerState(vendor, 'observed');
  await observer.locator('[data-testid="observer-state"][data-state="observed"]').waitFor({ timeout: 10_000 });

  await observer.getByTestId('observer-pause').click();
  await bannerState(vendor, 'paused');
  expect(await vendor.getByTestId('session-observer').textContent()).toContain('paused your input');
  await observer.getByTestId('observer-resume').click();
  await bannerState(vendor, 'observed');

  await observer.getByTestId('observer-take').click();
  await bannerState(vendor, 'controlled');
  await observer.locator('[data-testid="watch-hint"]', { hasText: 'You have the controls' }).waitFor({ timeout: 10_000 });
  await observer.getByTestId('observer-return').click();
  await bannerState(vendor, 'observed');

  // The observer leaves: the vendor waits again.
  await observer.close();
  await bannerState(vendor, 'waiting');
});
