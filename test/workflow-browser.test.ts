// The access workflow in the browser: a vendor asks, the site A manager approves in the inbox,
// the vendor's list turns to approved by itself; site B's manager never sees it; a vendor has
// no inbox; a two-approval machine waits for the second approver.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import type { Page } from 'playwright-core';
import { startTestPortal, type TestPortal } from './support/portal.ts';
import { BrowserSuite } from './support/browser.ts';
import { seedDemoPlant } from './support/workflow.ts';

let portal: TestPortal;
let browser: BrowserSuite;

/** Files a request through the form; returns its id. */
async function requestAccess(page: Page, machineId: string, reason: string): Promise<string> {
  await page.getByTestId('nav-request').click();
  await page.getByTestId(`machine-option-${machineId}`).check();
  await page.getByLabel('Reason').fill(reason);
  await page.getByTestId('submit-request').click();
  const created = page.getByTestId('request-created');
  await created.waitFor();
  const id = await created.getAttribute('data-request-id');
  if (id === null) throw new Error('no request id');
  return id;
}

beforeAll(async () => {
  portal = await startTestPortal({}, { freshDb: 2 });
  await seedDemoPlant(portal);
  browser = await BrowserSuite.launch(portal.publicUrl);
});

afterAll(async () => {
  await browser?.close();
  await portal?.close();
});

test('vendor requests, site A manager approves, vendor sees the grant live; site B manager sees nothing', async () => {
  const vera = await browser.page('vera');
  const id = await requestAccess(vera, 'cnc-07', 'Spindle encoder replacement, WO-1234');
  await vera.getByTestId('nav-my').click();
  await expect(vera.getByTestId(`state-${id}`).getAttribute('data-state')).resolves.toBe('pending');
  // A vendor has no inbox: the section is not offered, and opening it directly is refused.
  expect(await vera.getByTestId('nav-inbox').count()).toBe(0);

  const bruno = await browser.page('bruno');
  await bruno.getByTestId('nav-inbox').click();
  await bruno.getByTestId('inbox').waitFor();
  expect(await bruno.getByTestId(`request-row-${id}`).count()).toBe(0);

  const mona = await browser.page('mona');
  await mona.getByTestId('nav-inbox').click();
  const card = mona.getByTestId(`request-row-${id}`);
  await card.waitFor();
  expect(await card.textContent()).toContain('Spindle encoder replacement');
  await card.getByLabel('Comment').fill('Go ahead, line 2 is stopped');
  await mona.getByTestId(`approve-${id}`).click();
  await mona.getByTestId(`request-row-${id}`).waitFor({ state: 'detached' });

  // The vendor's page updates by itself (live events), no reload.
  await vera.locator(`[data-testid="state-${id}"][data-state="approved"]`).waitFor({ timeout: 10_000 });
  expect(await vera.getByTestId(`decision-${id}`).textContent()).toContain('Go ahead');
});

test('a two-approval machine stays pending after the first approval', async () => {
  const victor = await browser.page('victor');
  const id = await requestAccess(victor, 'scada-historian', 'Historian database maintenance');
  const mona = await browser.page('mona');
  await mona.getByTestId('nav-inbox').click();
  await mona.getByTestId(`approve-${id}`).click();
  await mona.getByTestId(`request-row-${id}`).waitFor({ state: 'detached' });
  await victor.getByTestId('nav-my').click();
  await victor.locator(`[data-testid="approvals-${id}"]`).filter({ hasText: '1 of 2' }).waitFor();
  await expect(victor.getByTestId(`state-${id}`).getAttribute('data-state')).resolves.toBe('pending');

  const olga = await browser.page('olga');
  await olga.getByTestId('nav-inbox').click();
  await olga.getByTestId(`approve-${id}`).click();
  await victor.locator(`[data-testid="state-${id}"][data-state="approved"]`).waitFor({ timeout: 10_000 });
});

test('the auditor sees the events and an intact chain', async () => {
  const aude = await browser.page('aude');
  await aude.getByTestId('nav-audit').click();
  await aude.locator('[data-testid="chain-status"][data-status="ok"]').waitFor();
  expect(await aude.getByTestId('chain-status').textContent()).toMatch(/chain intact/i);
  expect(await aude.getByTestId('audit-log').textContent()).toContain('request.approved');
});
